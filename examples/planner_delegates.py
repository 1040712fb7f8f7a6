"""A planner agent delegates a phone task to the AutoGLM phone agent, and we watch its steps.

Everything runs locally and offline:

* a simulated Android phone (``Simulator``), reached through the real ``adb`` server;
* a scripted OpenAI-compatible endpoint playing the phone model (``ScriptedEndpoint``): it
  answers "launch Settings", then "finish";
* a planner: a tool-calling chat model inside ``langchain.agents.create_agent`` with the phone
  tools. By default it is LangChain's ``GenericFakeChatModel`` replaying two messages (a call of
  ``phone_run_task``, then a final answer); pass ``--planner-base-url`` and ``--planner-model``
  to use a real OpenAI-compatible tool-calling model instead.

The outer agent is streamed with ``astream_events(version="v2")``: the phone agent's steps show
up as ``on_custom_event`` events (``autoglm_step_start``, ``autoglm_thinking``, ``autoglm_action``,
``autoglm_step_end``...) while the ``phone_run_task`` tool runs. Exit status 0 when Settings is
open on the simulated phone at the end.

    python examples/planner_delegates.py
    python examples/planner_delegates.py --planner-base-url http://127.0.0.1:8001/v1 --planner-model qwen3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable

from autoglm_agent.device import AdbDevice
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.testing.scripted import ScriptedEndpoint
from autoglm_agent.tools import PhoneToolkit

SETTINGS = "com.android.settings"
SYSTEM_PROMPT = (
    "You help the user with their Android phone. For anything to be done on the phone, call "
    "phone_run_task once with a complete instruction, then tell the user the outcome in one sentence."
)


class ScriptedPlanner(GenericFakeChatModel):
    """``GenericFakeChatModel`` that accepts ``bind_tools`` (it replays its messages whatever the tools)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self


def phone_model_script() -> list[str]:
    """What the scripted phone model answers, one reply a step, in AutoGLM's output format."""
    return [
        "<think>The home screen is shown. The fastest way to Settings is to launch it directly.</think>"
        '<answer>do(action="Launch", app="Settings")</answer>',
        "<think>The Settings app is in the foreground now, so the task is done.</think>"
        '<answer>finish(message="Settings is open")</answer>',
    ]


def make_planner(args: argparse.Namespace) -> BaseChatModel:
    if args.planner_base_url:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=args.planner_base_url,
            model=args.planner_model,
            api_key=args.planner_api_key,
            temperature=0,
        )
    call = {
        "name": "phone_run_task",
        "args": {"task": "Open the Settings app", "max_steps": 5},
        "id": "call_phone_1",
        "type": "tool_call",
    }
    return ScriptedPlanner(
        messages=iter(
            [
                AIMessage(content="", tool_calls=[call]),
                AIMessage(content="Done: the Settings app is open on your phone."),
            ]
        ),
        # GenericFakeChatModel's streaming drops tool calls; astream_events would stream it.
        disable_streaming=True,
    )


class EventPrinter:
    """Prints the events worth seeing: the tool call, the phone agent's steps (its reasoning
    streamed inline as it arrives), the tool's result."""

    def __init__(self) -> None:
        self.thinking = False
        self.steps_seen = 0

    def _line(self, text: str) -> None:
        if self.thinking:  # close the streamed reasoning line first
            print(flush=True)
            self.thinking = False
        print(text, flush=True)

    def __call__(self, event: dict[str, Any]) -> None:
        kind, name, data = event["event"], event.get("name", ""), event.get("data", {})
        if kind == "on_tool_start":
            self._line(f"> tool {name}({data.get('input')})")
        elif kind == "on_tool_end":
            text = getattr(data.get("output"), "content", data.get("output"))
            self._line(f"< tool {name}:\n  " + str(text).replace("\n", "\n  "))
        elif kind != "on_custom_event" or not name.startswith("autoglm_"):
            return
        elif name == "autoglm_thinking":
            if not self.thinking:
                print("    thinking: ", end="", flush=True)
                self.thinking = True
            print(data["text"], end="", flush=True)
        elif name == "autoglm_step_start":
            self._line(f"  [phone step {data['step']}] app {data['app']}, screen {data['screen_size']}")
        elif name == "autoglm_action":
            self._line(f"    action: {data['call']}")
        elif name == "autoglm_step_end":
            self.steps_seen += 1
            self._line(f"    outcome: {data['outcome']}")
        elif name == "autoglm_run_end":
            self._line(f"  [phone] {data['status']}: {data['message']} ({data['steps']} steps)")
        elif name == "autoglm_run_start":
            self._line(f"  [phone] task: {data['task']}")
        else:
            self._line(f"  [phone] {name}: {data}")


async def run(args: argparse.Namespace) -> int:
    with (
        Simulator(seed=0) as sim,
        ScriptedEndpoint(phone_model_script()) as endpoint,
        AdbDevice(sim.serial, timeout=10) as device,
    ):
        phone_llm = ChatAutoGLM(base_url=endpoint.base_url, max_retries=0)
        toolkit = PhoneToolkit(device, agent_llm=phone_llm)
        agent = create_agent(make_planner(args), toolkit.get_tools(), system_prompt=SYSTEM_PROMPT)
        printer = EventPrinter()
        final: dict[str, Any] | None = None
        async for event in agent.astream_events({"messages": [HumanMessage(args.request)]}, version="v2"):
            printer(event)
            if event["event"] == "on_chain_end" and event.get("parent_ids") == []:
                final = event["data"].get("output")
        answer = final["messages"][-1].content if final else ""
        print(f"planner: {answer}")
        app = sim.phone.current_focus()[0]
        print(f"foreground app on the phone: {app}; phone steps streamed: {printer.steps_seen}")
        if app != SETTINGS or printer.steps_seen == 0:
            print("error: the phone task did not end with Settings open", file=sys.stderr)
            return 1
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--request", default="Please open the Settings app on my phone.")
    parser.add_argument("--planner-base-url", help="OpenAI-compatible endpoint of a tool-calling planner")
    parser.add_argument("--planner-model", default="gpt-4o-mini", help="the planner's model name")
    parser.add_argument("--planner-api-key", default="EMPTY", help="the planner endpoint's API key")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
