"""The LangChain phone tools and the callback bridge, against the simulator through the real adb server."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from autoglm_agent.actions import to_grid
from autoglm_agent.agent import AgentCallbacks, AgentConfig, PhoneAgent, StepRecord
from autoglm_agent.callbacks import (
    EVENT_ACTION,
    EVENT_RUN_END,
    EVENT_RUN_START,
    EVENT_STEP_END,
    EVENT_STEP_START,
    EVENT_THINKING,
    STEP_RUN_NAME,
    LangChainEventsCallbacks,
    LoggingCallbacks,
    MultiCallbacks,
    PrintCallbacks,
)
from autoglm_agent.device import AdbDevice, Screenshot
from autoglm_agent.errors import AutoGLMError, ConfigError
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.multimodal import DEFAULT_IMAGE_MAX_PIXELS, fit_to_budget
from autoglm_agent.testing.scripted import ScriptedEndpoint
from autoglm_agent.tools import PhoneToolkit, UiNode, condense_ui_tree, format_ui_nodes

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = "com.android.settings"
LAUNCHER = "com.android.launcher3"
NOTES = "com.android.notes"


# ----------------------------------------------------------------------------------------- helpers
class FakePlanner(GenericFakeChatModel):
    """A tool-calling planner that replays its messages (``create_agent`` needs ``bind_tools``)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self


def planner(*messages: AIMessage) -> FakePlanner:
    # GenericFakeChatModel's streaming path drops tool calls, and astream_events streams it
    return FakePlanner(messages=iter(messages), disable_streaming=True)


def tool_call(name: str, args: dict[str, Any] | None = None, call_id: str = "call_1") -> dict[str, Any]:
    return {"name": name, "args": args or {}, "id": call_id, "type": "tool_call"}


def calling(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=list(calls))


def answer(call: str, thinking: str = "I look at the screen.") -> str:
    return f"<think>{thinking}</think><answer>{call}</answer>"


def invoke(tools: dict[str, BaseTool], name: str, args: dict[str, Any] | None = None) -> ToolMessage:
    message = tools[name].invoke(tool_call(name, args))
    assert isinstance(message, ToolMessage)
    return message


def center_of(listing: str, label: str) -> tuple[int, int]:
    """The center the condensed UI tree gives for the first element labelled ``label`` (or, for a
    row labelled by its texts, ``label | ...``)."""
    for line in listing.splitlines():
        match = re.search(r'"([^"]*)".*center=\((\d+),(\d+)\)', line)
        if match and match.group(1).split(" | ")[0] == label:
            return int(match.group(2)), int(match.group(3))
    raise AssertionError(f"{label!r} not in the UI listing:\n{listing}")


@pytest.fixture
def device(home_simulator) -> Iterator[AdbDevice]:
    with AdbDevice(home_simulator.serial, timeout=10) as dev:
        yield dev


@pytest.fixture
def tools(device) -> dict[str, BaseTool]:
    return {t.name: t for t in PhoneToolkit(device, artifacts="objects", image_in="tool").get_tools()}


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint() as ep:
        yield ep


def phone_llm(endpoint: ScriptedEndpoint) -> ChatAutoGLM:
    return ChatAutoGLM(base_url=endpoint.base_url, max_retries=0)


FAST = AgentConfig(llm_backoff_s=0.0, settle_timeout_s=1.0)


# ----------------------------------------------------------------------------------------- schemas
def test_schemas_are_pydantic_with_descriptions(device, endpoint):
    plain = PhoneToolkit(device).get_tools()
    assert "phone_run_task" not in {t.name for t in plain}, "no agent_llm, no run-task tool"
    full = PhoneToolkit(device, agent_llm=phone_llm(endpoint), coordinates="grid").get_tools()
    names = [t.name for t in full]
    assert names == [
        "phone_screenshot",
        "phone_ui_tree",
        "phone_tap",
        "phone_double_tap",
        "phone_long_press",
        "phone_swipe",
        "phone_type_text",
        "phone_back",
        "phone_home",
        "phone_launch_app",
        "phone_current_app",
        "phone_run_task",
    ]
    for tool in [*plain, *full]:
        assert len(tool.description) > 20, tool.name
        schema = tool.args_schema
        assert isinstance(schema, type) and issubclass(schema, BaseModel), tool.name
        assert schema.__doc__, tool.name
        for field_name, field in schema.model_fields.items():
            assert field.description, f"{tool.name}.{field_name} has no description"
        # what a tool-calling model is sent
        assert tool.tool_call_schema.model_json_schema()["type"] == "object"
    by_name = {t.name: t for t in plain}
    pixel_x = by_name["phone_tap"].args_schema.model_json_schema()["properties"]["x"]
    assert "pixels" in pixel_x["description"] and "maximum" not in pixel_x
    grid_x = {t.name: t for t in full}["phone_tap"].args_schema.model_json_schema()["properties"]["x"]
    assert grid_x["maximum"] == 999 and "0-999" in grid_x["description"]
    run_task = {t.name: t for t in full}["phone_run_task"].args_schema.model_json_schema()
    assert run_task["required"] == ["task"]


def test_toolkit_options_are_checked(device):
    with pytest.raises(ConfigError, match="needs a Device"):
        PhoneToolkit(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="coordinates must be 'pixels' or 'grid'"):
        PhoneToolkit(device, coordinates="percent")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bad PhoneToolkit option image_max_pixels"):
        PhoneToolkit(device, image_max_pixels=10)
    with pytest.raises(ConfigError, match="agent_llm must be a LangChain chat model"):
        PhoneToolkit(device, agent_llm="gpt-4o")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- actions
def test_launch_current_app_back_home(home_simulator, tools):
    sim = home_simulator
    out = invoke(tools, "phone_launch_app", {"app": "设置"})
    assert out.status == "success" and SETTINGS in out.content
    assert sim.phone.current_focus()[0] == SETTINGS
    assert SETTINGS in invoke(tools, "phone_current_app").content

    x, y = center_of(invoke(tools, "phone_ui_tree").content, "Wi-Fi")
    invoke(tools, "phone_tap", {"x": x, "y": y})
    assert sim.phone.state.screen == "wifi"
    out = invoke(tools, "phone_back")
    assert out.status == "success" and sim.phone.state.screen == "main"
    out = invoke(tools, "phone_home")
    assert LAUNCHER in out.content and sim.phone.current_focus()[0] == LAUNCHER


def test_tap_icon_found_through_condensed_ui_tree(home_simulator, tools):
    listing = invoke(tools, "phone_ui_tree")
    assert listing.status == "success"
    assert "Coordinates: screen pixels" in listing.content
    nodes = listing.artifact
    assert nodes and all(isinstance(n, UiNode) for n in nodes)
    x, y = center_of(listing.content, "Settings")
    out = invoke(tools, "phone_tap", {"x": x, "y": y})
    assert out.status == "success", out.content
    assert home_simulator.phone.current_focus()[0] == SETTINGS
    # the settings list: rows are labelled by their texts, switches by the row they sit in
    rows = invoke(tools, "phone_ui_tree").content
    assert re.search(r'LinearLayout "Wi-Fi \| [^"]+" center=.* clickable', rows), rows
    assert re.search(r'Switch id=switch_widget in="Wi-Fi" .* clickable (checked|unchecked)', rows), rows


def test_grid_coordinates(home_simulator, device):
    tools = {t.name: t for t in PhoneToolkit(device, coordinates="grid").get_tools()}
    listing = invoke(tools, "phone_ui_tree").content
    assert "Coordinates: 0-999 grid" in listing
    x, y = center_of(listing, "Notes")
    phone = home_simulator.phone
    node = next(n for n in condense_ui_tree(phone.ui_hierarchy_xml()) if n.label == "Notes")
    assert (x, y) == tuple(to_grid(*node.center, phone.width, phone.height))
    out = invoke(tools, "phone_tap", {"x": x, "y": y})
    assert "on the grid" in out.content
    assert phone.current_focus()[0] == NOTES
    shot = invoke(tools, "phone_screenshot")
    assert "0-999 grid" in shot.text
    bad = invoke(tools, "phone_tap", {"x": 1000, "y": 5})
    assert bad.status == "error" and "less than or equal to 999" in bad.content


def test_type_chinese_text_into_notes(home_simulator, tools):
    phone = home_simulator.phone
    invoke(tools, "phone_launch_app", {"app": "Notes"})
    x, y = center_of(invoke(tools, "phone_ui_tree").content, "New note")
    invoke(tools, "phone_tap", {"x": x, "y": y})
    assert phone.state.focused_field == "body"
    text = "买牛奶和鸡蛋 🥚"
    out = invoke(tools, "phone_type_text", {"text": text})
    assert out.status == "success", out.content
    assert phone.state.focused_text == text
    out = invoke(tools, "phone_type_text", {"text": "面包", "clear_first": True})
    assert out.status == "success" and "after clearing" in out.content
    assert phone.state.focused_text == "面包"


def test_swipe_scrolls_and_long_press(home_simulator, tools):
    phone = home_simulator.phone
    invoke(tools, "phone_launch_app", {"app": "Settings"})
    first = invoke(tools, "phone_ui_tree").content
    out = invoke(tools, "phone_swipe", {"x1": 360, "y1": 1200, "x2": 360, "y2": 500})
    assert out.status == "success"
    assert max(phone.state.top().scroll.values()) > 0, "the settings list scrolled"
    assert invoke(tools, "phone_ui_tree").content != first
    invoke(tools, "phone_home")
    # long press and double tap reach the phone as the right input commands
    home_simulator.clear_command_log()
    assert invoke(tools, "phone_long_press", {"x": 102, "y": 868, "duration_ms": 900}).status == "success"
    invoke(tools, "phone_back")
    assert invoke(tools, "phone_double_tap", {"x": 360, "y": 300}).status == "success"
    commands = [r.command for r in home_simulator.command_log]
    assert any("input swipe 102 868 102 868 900" in c for c in commands), commands
    assert any(c.count("input tap 360 300") == 2 for c in commands), commands


# ----------------------------------------------------------------------------------------- screenshot
def test_screenshot_is_an_image_the_openai_client_sends(home_simulator, tools, endpoint):
    shot = invoke(tools, "phone_screenshot")
    assert shot.status == "success"
    text, image = shot.content
    w, h = home_simulator.phone.width, home_simulator.phone.height
    sw, sh = fit_to_budget(w, h, DEFAULT_IMAGE_MAX_PIXELS)
    assert (sw, sh) != (w, h), "the simulator's screen is above the default image budget"
    assert text["type"] == "text" and f"Screen {w}x{h} px" in text["text"] and LAUNCHER in text["text"]
    assert f"scaled to {sw}x{sh}" in text["text"]
    assert f"multiply x in the image by {w / sw:.3f} and y by {h / sh:.3f}" in text["text"]
    assert image["type"] == "image" and image["mime_type"] == "image/jpeg" and len(image["base64"]) > 1000
    assert isinstance(shot.artifact, Screenshot) and shot.artifact.size == (w, h)

    # through langchain-openai's conversion and the real openai client to an endpoint
    endpoint.add("The home screen.")
    llm = ChatOpenAI(base_url=endpoint.base_url, api_key="EMPTY", model="any-vlm", max_retries=0)
    reply = llm.invoke([HumanMessage("What is on the phone?"), calling(tool_call("phone_screenshot")), shot])
    assert reply.content == "The home screen."
    sent = endpoint.last_request["messages"][-1]
    assert sent["role"] == "tool" and sent["tool_call_id"] == "call_1"
    kinds = [part["type"] for part in sent["content"]]
    assert kinds == ["text", "image_url"]
    assert sent["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


# ----------------------------------------------------------------------------------------- errors
def test_errors_become_tool_messages(fresh_simulator):
    with AdbDevice(fresh_simulator.serial, timeout=5) as device:
        tools = {t.name: t for t in PhoneToolkit(device).get_tools()}
        w, h = fresh_simulator.phone.width, fresh_simulator.phone.height
        out = invoke(tools, "phone_tap", {"x": w, "y": 10})
        assert out.status == "error" and f"({w},10) is outside the {w}x{h} px screen" in out.content
        out = invoke(tools, "phone_tap", {"x": -1, "y": 10})
        assert out.status == "error" and out.content.startswith("Error: invalid arguments (x:")
        out = invoke(tools, "phone_type_text", {})
        assert out.status == "error" and "text: Field required" in out.content
        out = invoke(tools, "phone_launch_app", {"app": "no such app at all"})
        assert out.status == "error" and "no such app at all" in out.content
        fresh_simulator.stop()  # the phone goes away
        for name, args in [
            ("phone_tap", {"x": 10, "y": 10}),
            ("phone_screenshot", {}),
            ("phone_ui_tree", {}),
        ]:
            out = invoke(tools, name, args)
            assert out.status == "error", name
            assert out.content.startswith("Error: ") and "\n" not in out.content, out.content


# ----------------------------------------------------------------------------------------- agents
def test_create_agent_with_fake_planner_uses_the_tools(home_simulator, device):
    phone = home_simulator.phone
    x, y = next(n for n in condense_ui_tree(phone.ui_hierarchy_xml()) if n.label == "Settings").center
    model = planner(
        calling(tool_call("phone_screenshot", call_id="a"), tool_call("phone_ui_tree", call_id="b")),
        calling(tool_call("phone_tap", {"x": x, "y": y}, call_id="c")),
        calling(
            tool_call("phone_launch_app", {"app": "nope-app"}, call_id="d"),
            tool_call("phone_tap", {"x": -5, "y": 1}, call_id="e"),
        ),
        AIMessage(content="Settings is open."),
    )
    agent = create_agent(
        model, PhoneToolkit(device, artifacts="json").get_tools(), checkpointer=InMemorySaver()
    )
    state = agent.invoke({"messages": [HumanMessage("open settings")]}, {"configurable": {"thread_id": "t1"}})
    results = {m.tool_call_id: m for m in state["messages"] if isinstance(m, ToolMessage)}
    assert set(results) == {"a", "b", "c", "d", "e"}
    assert results["a"].artifact["width"] == phone.width, "json artifacts survive the checkpointer"
    assert results["c"].status == "success"
    assert results["d"].status == "error", "a failing tool call is reported, the agent goes on"
    assert results["e"].status == "error" and "invalid arguments" in results["e"].content
    assert state["messages"][-1].content == "Settings is open."
    assert phone.current_focus()[0] == SETTINGS


class EventLog(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], UUID]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data, run_id))


def _runs(run: Any) -> Iterator[Any]:
    yield run
    for child in run.child_runs:
        yield from _runs(child)


def test_run_task_tool_in_create_agent_streams_phone_steps(home_simulator, device, endpoint):
    endpoint.add(
        answer('do(action="Launch", app="Settings")', "The home screen is shown; I launch Settings."),
        answer('finish(message="Settings is open")', "Settings is on screen."),
    )
    toolkit = PhoneToolkit(device, agent_llm=phone_llm(endpoint), agent_config=FAST)
    model = planner(
        calling(tool_call("phone_run_task", {"task": "open Settings", "max_steps": 4})),
        AIMessage(content="Done."),
    )
    agent = create_agent(model, toolkit.get_tools())

    async def collect() -> list[dict[str, Any]]:
        return [
            e async for e in agent.astream_events({"messages": [HumanMessage("open settings")]}, version="v2")
        ]

    events = asyncio.run(collect())
    assert home_simulator.phone.current_focus()[0] == SETTINGS
    custom = [e for e in events if e["event"] == "on_custom_event"]
    names = [e["name"] for e in custom]
    assert names[0] == EVENT_RUN_START and names[-1] == EVENT_RUN_END
    assert names.count(EVENT_STEP_START) == 2 and names.count(EVENT_STEP_END) == 2
    assert names.count(EVENT_ACTION) == 2
    thinking = "".join(
        e["data"]["text"] for e in custom if e["name"] == EVENT_THINKING and e["data"]["step"] == 1
    )
    assert thinking == "The home screen is shown; I launch Settings."
    actions = [e["data"]["call"] for e in custom if e["name"] == EVENT_ACTION]
    assert actions == ['do(action="Launch", app="Settings")', 'finish(message="Settings is open")']
    first_end = next(e for e in custom if e["name"] == EVENT_STEP_END)
    assert (
        first_end["data"]["reasoning"].startswith("The home screen")
        and first_end["data"]["outcome"] == "done"
    )
    assert next(e for e in custom if e["name"] == EVENT_RUN_END)["data"]["status"] == "success"
    for e in custom:
        json.dumps(e["data"])  # JSON-able

    # every phone event belongs to the tool's run; each step is a child run holding the model call
    tool_start = next(e for e in events if e["event"] == "on_tool_start" and e["name"] == "phone_run_task")
    tool_run = tool_start["run_id"]
    assert all(tool_run == e["run_id"] or tool_run in e["parent_ids"] for e in custom)
    steps = [e for e in events if e["event"] == "on_chain_start" and e["name"] == STEP_RUN_NAME]
    assert len(steps) == 2 and all(s["parent_ids"][-1] == tool_run for s in steps)
    model_runs = [e for e in events if e["event"] == "on_chat_model_start" and e["name"] == "ChatAutoGLM"]
    assert [m["parent_ids"][-1] for m in model_runs] == [s["run_id"] for s in steps]

    tool_end = next(e for e in events if e["event"] == "on_tool_end" and e["name"] == "phone_run_task")
    message = tool_end["data"]["output"]
    assert message.content.startswith("status: success\nmessage: Settings is open\nsteps: 2")
    assert message.artifact["status"] == "success" and message.artifact["steps"] == 2
    assert endpoint.remaining == 0


def test_run_task_sync_reaches_handlers_and_tracers(home_simulator, device, endpoint):
    """agent.invoke: custom events reach plain callback handlers; a tracer (what LangSmith uses)
    records each step as a child run of the tool, with the phone model's run inside it."""
    endpoint.add(answer('do(action="Home")'), answer('finish(message="at home")', "Home is shown."))
    log, tracer = EventLog(), RunCollectorCallbackHandler()
    toolkit = PhoneToolkit(device, agent_llm=phone_llm(endpoint), agent_config=FAST, thinking_events="step")
    model = planner(calling(tool_call("phone_run_task", {"task": "go home"})), AIMessage(content="ok"))
    create_agent(model, toolkit.get_tools()).invoke(
        {"messages": [HumanMessage("go home")]}, {"callbacks": [log, tracer]}
    )
    names = [name for name, _, _ in log.events]
    assert names == [
        EVENT_RUN_START,
        EVENT_STEP_START,
        EVENT_THINKING,
        EVENT_ACTION,
        EVENT_STEP_END,
        EVENT_STEP_START,
        EVENT_THINKING,
        EVENT_ACTION,
        EVENT_STEP_END,
        EVENT_RUN_END,
    ]
    assert [d["text"] for n, d, _ in log.events if n == EVENT_THINKING] == [
        "I look at the screen.",
        "Home is shown.",
    ]

    runs = [r for root in tracer.traced_runs for r in _runs(root)]
    tool = next(r for r in runs if r.name == "phone_run_task")
    steps = [r for r in tool.child_runs if r.name == STEP_RUN_NAME]
    assert len(steps) == 2 and [s.inputs["step"] for s in steps] == [1, 2]
    assert steps[1].outputs["action_call"] == 'finish(message="at home")'
    assert all([c.name for c in s.child_runs] == ["ChatAutoGLM"] for s in steps)
    assert {run_id for _, _, run_id in log.events} <= {tool.id, *(s.id for s in steps)}


def test_cancelling_the_caller_stops_the_phone_agent(home_simulator, device, endpoint):
    release = threading.Event()

    def slow_home(_body: dict[str, Any]) -> str:
        release.wait(10)
        return answer('do(action="Home")')

    endpoint.add(answer('do(action="Launch", app="Settings")'), slow_home, *[answer('do(action="Back")')] * 5)
    ended: list[int] = []

    class Steps(AgentCallbacks):
        def on_step_end(self, record: StepRecord) -> None:
            ended.append(record.index)

    toolkit = PhoneToolkit(device, agent_llm=phone_llm(endpoint), agent_config=FAST, agent_callbacks=Steps())
    tool = {t.name: t for t in toolkit.get_tools()}["phone_run_task"]

    async def start_then_cancel() -> None:
        task = asyncio.create_task(tool.ainvoke(tool_call("phone_run_task", {"task": "wander around"})))
        for _ in range(500):  # until the model is thinking about step 2
            if len(endpoint.requests) >= 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # asyncio.run then waits for the worker thread to finish

    asyncio.run(start_then_cancel())
    assert ended == [1, 2], "the step under way is finished, no step after it"
    assert len(endpoint.requests) == 2 and endpoint.remaining == 5
    assert home_simulator.phone.current_focus()[0] == LAUNCHER


def test_bridge_outside_langchain_and_print_callbacks(home_simulator, device, endpoint, caplog):
    endpoint.add(answer('do(action="Launch", app="Notes")', "Open Notes."), answer('finish(message="ok")'))
    bridge = LangChainEventsCallbacks(record_events=True)
    out = io.StringIO()
    callbacks = MultiCallbacks(bridge, PrintCallbacks(out), LoggingCallbacks())
    with caplog.at_level("INFO", logger="autoglm_agent.run"):
        result = PhoneAgent(device, phone_llm(endpoint), FAST, callbacks=callbacks).run("open notes")
    assert result.status == "success"
    assert bridge.parent_run_id is None, "no LangChain run around: nothing is dispatched, nothing fails"
    assert [n for n, _ in bridge.sent if n != EVENT_THINKING][:2] == [EVENT_RUN_START, EVENT_STEP_START]
    text = out.getvalue()
    assert text.startswith("task: open notes\n[1] com.android.launcher3")
    assert "    thinking: Open Notes.\n" in text
    assert 'action: do(action="Launch", app="Notes") -> done' in text
    assert text.rstrip().splitlines()[-1].startswith("success: ok (2 steps")
    assert any("step 1" in r.getMessage() and "Launch" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------------------- condenser
TREE = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<hierarchy rotation="0">
  <node class="android.widget.FrameLayout" text="" content-desc="" clickable="false" bounds="[0,0][1080,2400]">
    <node class="android.widget.LinearLayout" text="" content-desc="" clickable="true" bounds="[0,100][1080,300]">
      <node class="android.widget.TextView" text="Wi-Fi" content-desc="" clickable="false" bounds="[40,120][600,180]"/>
      <node class="android.widget.TextView" text="Connected" content-desc="" clickable="false" bounds="[40,190][600,250]"/>
      <node class="android.widget.Switch" text="" content-desc="" clickable="true" checkable="true" checked="true" bounds="[900,150][1000,250]"/>
    </node>
    <node class="android.widget.EditText" resource-id="com.x:id/search" text="" content-desc="Search" clickable="true" focused="true" bounds="[0,300][1080,400]"/>
    <node class="android.widget.TextView" text="Hidden" visible-to-user="false" bounds="[0,400][1080,500]"/>
    <node class="android.widget.TextView" text="Empty" bounds="[0,500][0,600]"/>
    <node class="android.widget.TextView" text="Below the screen" bounds="[0,2500][1080,2600]"/>
    <node class="android.widget.Button" text="OK" enabled="false" clickable="true" bounds="[0,600][200,700]"/>
    <node class="android.widget.TextView" text="Plain &quot;quoted&quot; text" bounds="[0,700][1080,800]"/>
  </node>
</hierarchy>"""


def test_condense_ui_tree():
    nodes = condense_ui_tree(TREE)
    assert [n.label for n in nodes] == ["Wi-Fi | Connected", "", "Search", "OK", 'Plain "quoted" text']
    row, switch, search, ok, _plain = nodes
    assert row.clickable and row.center == (540, 200) and row.bounds == (0, 100, 1080, 300)
    assert switch.checkable and switch.checked and switch.context == "Wi-Fi"
    assert search.editable and search.focused and search.resource_id == "search"
    assert not ok.enabled
    assert [n.index for n in nodes] == [1, 2, 3, 4, 5]
    listing = format_ui_nodes(nodes).splitlines()
    assert listing[0] == '1. LinearLayout "Wi-Fi | Connected" center=(540,200) box=[0,100,1080,300] clickable'
    assert listing[1] == '2. Switch in="Wi-Fi" center=(950,200) box=[900,150,1000,250] clickable checked'
    assert (
        listing[2]
        == '3. EditText "Search" id=search center=(540,350) box=[0,300,1080,400] editable clickable focused'
    )
    assert listing[3].endswith("clickable disabled")
    assert listing[4].startswith("5. TextView \"Plain 'quoted' text\"")
    grid = format_ui_nodes(nodes[:1], coordinates="grid", screen_size=(1080, 2400))
    assert "center=(500,83) box=[0,42,999,125]" in grid
    assert len(condense_ui_tree(TREE, max_nodes=2)) == 2
    with pytest.raises(AutoGLMError, match="not valid XML"):
        condense_ui_tree("<hierarchy><node")


# ----------------------------------------------------------------------------------------- example
def test_planner_delegates_example_runs():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "planner_delegates.py")],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "> tool phone_run_task" in out
    assert "[phone step 1]" in out and "[phone step 2]" in out
    assert 'action: do(action="Launch", app="Settings")' in out
    assert "thinking: The home screen is shown." in out
    assert "foreground app on the phone: com.android.settings" in out
