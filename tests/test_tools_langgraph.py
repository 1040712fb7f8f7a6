"""The phone tools inside LangGraph: checkpointers, the parent's message stream, Chat Completions.

Real parts only: the simulator through the real adb server, the scripted OpenAI-compatible
endpoint, langchain-openai's request conversion, ``create_agent`` and ``InMemorySaver``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver

from autoglm_agent.agent import AgentConfig
from autoglm_agent.device import AdbDevice
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.testing.scripted import ScriptedEndpoint
from autoglm_agent.tools import PHONE_MODEL_TAG, PhoneImageMiddleware, PhoneToolkit

SETTINGS = "com.android.settings"
FAST = AgentConfig(llm_backoff_s=0.0, settle_timeout_s=1.0)


class FakePlanner(GenericFakeChatModel):
    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self


def planner(*messages: AIMessage) -> FakePlanner:
    return FakePlanner(messages=iter(messages), disable_streaming=True)


class RelayPlanner(BaseChatModel):
    """Answers its first call from a script (a tool call), then relays to a real ``ChatOpenAI``:
    the scripted endpoint cannot emit tool calls, but it records what langchain-openai sends."""

    first: AIMessage
    llm: ChatOpenAI
    used: bool = False

    @property
    def _llm_type(self) -> str:
        return "relay"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any):
        if not self.used:
            self.used = True
            return ChatResult(generations=[ChatGeneration(message=self.first)])
        return self.llm._generate(messages, stop=stop, **kw)


def tool_call(name: str, args: dict[str, Any] | None = None, call_id: str = "call_1") -> dict[str, Any]:
    return {"name": name, "args": args or {}, "id": call_id, "type": "tool_call"}


def calling(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=list(calls))


def answer(call: str, thinking: str = "I look at the screen.") -> str:
    return f"<think>{thinking}</think><answer>{call}</answer>"


@pytest.fixture
def device(home_simulator) -> Iterator[AdbDevice]:
    with AdbDevice(home_simulator.serial, timeout=10) as dev:
        yield dev


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint() as ep:
        yield ep


def test_default_artifacts_survive_a_checkpointer_and_the_thread_resumes(home_simulator, device, endpoint):
    endpoint.add(answer('do(action="Launch", app="Settings")'), answer('finish(message="Settings is open")'))
    toolkit = PhoneToolkit(
        device, agent_llm=ChatAutoGLM(base_url=endpoint.base_url, max_retries=0), agent_config=FAST
    )
    model = planner(
        calling(
            tool_call("phone_screenshot", call_id="a"),
            tool_call("phone_ui_tree", call_id="b"),
        ),
        calling(tool_call("phone_run_task", {"task": "open Settings"}, call_id="c")),
        AIMessage(content="Settings is open."),
        AIMessage(content="Still open."),
    )
    saver = InMemorySaver()
    agent = create_agent(model, toolkit.get_tools(), checkpointer=saver)
    config = {"configurable": {"thread_id": "phone-1"}}
    agent.invoke({"messages": [HumanMessage("open settings")]}, config)
    # resume the thread: the whole history is read back from the checkpointer
    state = agent.invoke({"messages": [HumanMessage("is it still open?")]}, config)
    assert state["messages"][-1].content == "Still open."
    stored = agent.get_state(config).values["messages"]
    results = {m.tool_call_id: m for m in stored if isinstance(m, ToolMessage)}
    assert set(results) == {"a", "b", "c"}
    for message in results.values():
        assert message.status == "success", message.content
        json.dumps(message.artifact)  # plain JSON-able data
    shot = results["a"].artifact
    phone = home_simulator.phone
    assert (shot["width"], shot["height"]) == (phone.width, phone.height)
    assert shot["image_url"].startswith("data:image/jpeg;base64,")
    assert any(node["label"] == "Settings" for node in results["b"].artifact)
    run = results["c"].artifact
    assert run["status"] == "success" and run["steps"] == 2 and run["records"][0]["index"] == 1
    assert phone.current_focus()[0] == SETTINGS


def test_phone_model_tokens_stay_out_of_the_parent_message_stream(home_simulator, device, endpoint):
    endpoint.add(
        answer('do(action="Launch", app="Settings")', "The home screen is shown; I launch Settings."),
        answer('finish(message="Settings is open")', "Settings is on screen."),
    )
    llm = ChatAutoGLM(base_url=endpoint.base_url, max_retries=0)
    toolkit = PhoneToolkit(device, agent_llm=llm, agent_config=FAST)
    model = planner(
        calling(tool_call("phone_run_task", {"task": "open Settings"})), AIMessage(content="Done.")
    )
    agent = create_agent(model, toolkit.get_tools())
    chunks = list(agent.stream({"messages": [HumanMessage("open settings")]}, stream_mode="messages"))
    assert home_simulator.phone.current_focus()[0] == SETTINGS
    assert endpoint.remaining == 0, "the phone model did run"
    seen = [(meta["langgraph_node"], type(message).__name__) for message, meta in chunks]
    assert seen == [("model", "AIMessage"), ("tools", "ToolMessage"), ("model", "AIMessage")], seen
    assert not any(isinstance(message, AIMessageChunk) for message, _ in chunks)

    # the phone model's runs carry the documented tag, for callbacks that want to filter them
    run_tags: list[list[str]] = []

    class Tags(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, *, tags: Any = None, **kw: Any) -> None:
            run_tags.append(list(tags or []))

    endpoint.add(answer('finish(message="ok")'))
    model = planner(calling(tool_call("phone_run_task", {"task": "say ok"})), AIMessage(content="ok"))
    create_agent(model, toolkit.get_tools()).invoke(
        {"messages": [HumanMessage("go")]}, {"callbacks": [Tags()]}
    )
    phone_runs = [t for t in run_tags if PHONE_MODEL_TAG in t]
    assert len(phone_runs) == 1 and "nostream" in phone_runs[0]
    assert len(run_tags) == 3, "two planner calls and one phone-model call"


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def test_screenshot_default_works_with_chat_completions(home_simulator, device, endpoint):
    """By default no image part is sent inside a ``role: tool`` message; with the middleware the
    image follows the tool results as a user message (after all of them: parallel calls too)."""
    endpoint.add("The home screen.")
    toolkit = PhoneToolkit(device)
    llm = ChatOpenAI(base_url=endpoint.base_url, api_key="EMPTY", model="gpt-4o", max_retries=0)
    relay = RelayPlanner(
        first=calling(
            tool_call("phone_screenshot", call_id="a"), tool_call("phone_current_app", call_id="b")
        ),
        llm=llm,
    )
    agent = create_agent(relay, toolkit.get_tools(), middleware=toolkit.middleware())
    state = agent.invoke({"messages": [HumanMessage("What is on the phone?")]})
    assert state["messages"][-1].content == "The home screen."
    body = endpoint.last_request
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "user"], roles
    for message in _tool_messages(body):
        parts = message["content"] if isinstance(message["content"], list) else []
        assert all(p.get("type") == "text" for p in parts), message
    assert "Screen " in json.dumps(_tool_messages(body)[0]["content"])
    follow = body["messages"][-1]["content"]
    kinds = [p["type"] for p in follow]
    assert kinds == ["text", "image_url"] and follow[1]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,"
    )
    # the state keeps the tool message text-only (the image is in its artifact)
    shot = next(m for m in state["messages"] if isinstance(m, ToolMessage) and m.tool_call_id == "a")
    assert isinstance(shot.content, str) or all(p.get("type") == "text" for p in shot.content)
    assert isinstance(PhoneImageMiddleware(), type(toolkit.middleware()[0]))


def test_screenshot_without_middleware_is_text_only_and_tool_mode_keeps_the_image(
    home_simulator, device, endpoint
):
    endpoint.add("text only", "with image")
    llm = ChatOpenAI(base_url=endpoint.base_url, api_key="EMPTY", model="gpt-4o", max_retries=0)
    for mode in ("message", "tool"):
        tools = {t.name: t for t in PhoneToolkit(device, image_in=mode).get_tools()}
        shot = tools["phone_screenshot"].invoke(tool_call("phone_screenshot"))
        llm.invoke([HumanMessage("What is on the phone?"), calling(tool_call("phone_screenshot")), shot])
        sent = _tool_messages(endpoint.last_request)[0]["content"]
        kinds = [p["type"] for p in sent] if isinstance(sent, list) else ["text"]
        assert kinds == (["text"] if mode == "message" else ["text", "image_url"]), (mode, sent)
