"""Write the Jupyter walkthroughs in ``examples/`` from the cell texts below (outputs cleared).

    python tools/make_notebooks.py            # (re)write examples/0*.ipynb
    python tools/make_notebooks.py --check    # exit 1 if a committed notebook differs from this file

The notebooks are the source users open; this file keeps them reviewable as plain Python and
reproducible (fixed cell ids, no outputs, no execution counts). ``tests/test_notebooks.py``
executes every notebook and checks that the committed files match what this script writes.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

Cell = tuple[str, str]


def md(text: str) -> Cell:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> Cell:
    return ("code", textwrap.dedent(text).strip("\n"))


# ----------------------------------------------------------------------------------- shared cells
SETTINGS_MD = md(
    """
    ## Settings

    The notebook reads a few environment variables, so that the same cells run against the demo
    checkpoint here, or against your own model:

    | variable | meaning | default |
    |---|---|---|
    | `AUTOGLM_MODEL_PATH` | checkpoint folder served by the embedded server | `../model` (the demo checkpoint) |
    | `AUTOGLM_BASE_URL` | any OpenAI-compatible endpoint instead (vLLM, SGLang, a hosted API) | none: the embedded server |
    | `AUTOGLM_MODEL` / `AUTOGLM_API_KEY` | model name and key at that endpoint | `autoglm-phone-9b` / none |
    | `AUTOGLM_MAX_TOKENS` | cap on the tokens of one answer (thinking + action) | 256 |
    | `AUTOGLM_TRAJECTORY_DIR` | where run folders are written | `../runs` |
    """
)

SETTINGS_CODE = code(
    """
    import os
    from pathlib import Path

    MODEL_PATH = Path(os.environ.get("AUTOGLM_MODEL_PATH", "../model")).resolve()
    BASE_URL = os.environ.get("AUTOGLM_BASE_URL") or None
    MODEL_NAME = os.environ.get("AUTOGLM_MODEL", "autoglm-phone-9b")
    API_KEY = os.environ.get("AUTOGLM_API_KEY") or None
    MAX_TOKENS = int(os.environ.get("AUTOGLM_MAX_TOKENS", "256"))
    TRAJECTORY_DIR = Path(os.environ.get("AUTOGLM_TRAJECTORY_DIR", "../runs")).resolve()

    print("model:", BASE_URL or f"embedded server over {MODEL_PATH}")
    """
)

SERVER_CODE = code(
    """
    from autoglm_agent.endpoint import checkpoint_agent_settings
    from autoglm_agent.errors import ConfigError
    from autoglm_agent.server import EmbeddedServer, ServerConfig

    server = None
    agent_settings: dict = {}
    if BASE_URL is None:
        if not (MODEL_PATH / "config.json").is_file():
            raise ConfigError(
                f"no checkpoint in {MODEL_PATH}",
                hint="set AUTOGLM_MODEL_PATH to a checkpoint folder, or AUTOGLM_BASE_URL to an endpoint",
            )
        # port=0: any free port; the server binds 127.0.0.1 and runs in a thread of this kernel
        server = EmbeddedServer(ServerConfig(model=MODEL_PATH, port=0, served_model_name=MODEL_NAME)).start()
        BASE_URL = server.base_url
        # the prompt, image budget and language the checkpoint was trained with (its agent.json)
        agent_settings = checkpoint_agent_settings(MODEL_PATH)

    print("endpoint:", BASE_URL)
    if "profile" in agent_settings:  # how requests are built for this checkpoint
        profile = agent_settings["profile"]
        print("  profile:", profile.describe())
        for key in ("system_prompt", "image_max_pixels", "max_steps"):
            print(f"  {key}: {getattr(profile, key)!r}")
    """
)


# ------------------------------------------------------------------------------------ quickstart
QUICKSTART: list[Cell] = [
    md(
        """
        # Quick start: a model opens Settings on a simulated phone

        This notebook runs the whole loop on this machine, with no phone and no GPU:

        1. a **simulated Android phone** that speaks the real adbd protocol (the real `adb` drives it);
        2. the **embedded OpenAI-compatible server** over the demo checkpoint in `../model`
           (a tiny GLM-4.1V model trained on the simulator);
        3. `ChatAutoGLM` (a LangChain chat model), `AdbDevice` and `PhoneAgent`, running the task
           *"open settings"* while we watch the model think, see every screen, and check the result
           on the phone itself;
        4. the **trajectory** the run leaves behind: JSONL, annotated screenshots and an HTML report.

        Run the cells in order (the working directory is `examples/`). The same thing from a shell:
        `autoglm-agent "open settings"`, or `python quickstart.py`.
        """
    ),
    SETTINGS_MD,
    SETTINGS_CODE,
    md(
        """
        ## 1. Start the simulated phone

        `Simulator` listens on a free local port and runs `adb connect` to it: from now on `adb devices`
        lists it like a phone on Wi-Fi, and its serial is all the agent needs.
        """
    ),
    code(
        """
        from autoglm_agent.sim.runner import Simulator

        sim = Simulator(seed=0).start()
        print("simulated phone:", sim.serial)
        print("foreground app:", sim.phone.current_focus()[0])
        """
    ),
    md(
        """
        ## 2. Start the model server

        `EmbeddedServer` loads the checkpoint with transformers and serves `/v1/chat/completions`
        (streaming, thinking mode, images) from a background thread. The checkpoint also ships an
        `agent.json`: the system prompt and screenshot budget it was trained with, which the agent
        must use too. With `AUTOGLM_BASE_URL` set, this cell does nothing and the endpoint is used as is.
        """
    ),
    SERVER_CODE,
    md(
        """
        ## 3. Watch the agent work

        `PhoneAgent` reports everything through callbacks: the screenshot at the start of each step,
        the model's reasoning as it streams, the parsed action, the end of the step. These print the
        thinking live and show each screen inline (a quarter-size thumbnail of what the model sees).
        """
    ),
    code(
        """
        from IPython.display import display

        from autoglm_agent.actions import Action
        from autoglm_agent.agent import AgentCallbacks, StepRecord
        from autoglm_agent.device import Screenshot


        class ShowSteps(AgentCallbacks):
            \"\"\"Streams the thinking, prints each action and shows each screen.\"\"\"

            def __init__(self) -> None:
                self.thinking = False

            def end_thinking(self) -> None:
                if self.thinking:
                    print()
                    self.thinking = False

            def on_step_start(self, index: int, screenshot: Screenshot, app: str | None) -> None:
                print(f"--- step {index} · {app}")
                display(screenshot.image.reduce(4))

            def on_thinking(self, text: str) -> None:
                if not self.thinking:
                    print("thinking: ", end="")
                    self.thinking = True
                print(text, end="", flush=True)

            def on_parse_error(self, index: int, error: str, answer: str) -> None:
                self.end_thinking()
                print(f"unparseable answer, asking again: {answer[:60]!r}")

            def on_action(self, index: int, action: Action) -> None:
                self.end_thinking()
                print("action:", action.to_call())

            def on_step_end(self, record: StepRecord) -> None:
                self.end_thinking()
                t = record.timings
                print(f"outcome: {record.outcome} (model {t.model_s:.1f} s, device {t.device_s:.1f} s)")
                if record.error:
                    print("error:", record.error[:200])
        """
    ),
    code(
        """
        from autoglm_agent.agent import AgentConfig, PhoneAgent
        from autoglm_agent.device import AdbDevice
        from autoglm_agent.llm import ChatAutoGLM

        TASK = "open settings"

        device = AdbDevice(sim.serial, timeout=10)
        llm = ChatAutoGLM(
            base_url=BASE_URL,
            model=MODEL_NAME,
            api_key=API_KEY,
            max_tokens=MAX_TOKENS,
            enable_thinking=True,  # the model reasons in <think>...</think> before it answers
            max_retries=0,  # the agent retries endpoint failures itself, with backoff
        )
        config = AgentConfig(**{**agent_settings, "trajectory_dir": TRAJECTORY_DIR})
        agent = PhoneAgent(device, llm, config, callbacks=ShowSteps())
        result = agent.run(TASK)
        print(f"\\nresult: {result.status}: {result.message} ({result.steps} steps, {result.total_s:.1f} s)")
        """
    ),
    md(
        """
        ## 4. Check the phone, not the model's word

        A model can claim success; the simulator's state says what really happened.
        """
    ),
    code(
        """
        SETTINGS = "com.android.settings"
        foreground = sim.phone.current_focus()[0]
        print(f"check: the foreground app is {foreground}; Settings open: {foreground == SETTINGS}")
        """
    ),
    md(
        """
        ## 5. The trajectory

        Every run leaves a folder: `meta.json`, `steps.jsonl` (one JSON object per step: reasoning,
        answer, action, outcome, timings), one screenshot per step with the action drawn on it,
        `result.json`, and a self-contained `report.html` to open in a browser.
        """
    ),
    code(
        """
        import json

        from PIL import Image

        run_dir = result.trajectory_dir
        print("trajectory:", run_dir)
        for path in sorted(run_dir.iterdir()):
            print(f"  {path.name:18} {path.stat().st_size:>9,} bytes")

        steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
        for step in steps:
            reasoning = (step["reasoning"] or "")[:80]
            print(f"step {step['index']}: {step['action_call']} -> {step['outcome']}; reasoning: {reasoning!r}")
            if step["screenshot"]:
                display(Image.open(run_dir / step["screenshot"]).reduce(4))
        """
    ),
    code(
        """
        import html

        from IPython.display import HTML

        report = (run_dir / "report.html").read_text(encoding="utf-8")
        print(f"report: {run_dir / 'report.html'} ({len(report):,} characters, {report.count('<h2>Step')} steps)")
        display(HTML(f'<div><iframe srcdoc="{html.escape(report)}" width="100%" height="420"></iframe></div>'))
        """
    ),
    md(
        """
        ## Clean up

        Closing the device releases its ADB connection (the phone already has its own keyboard back:
        the agent switches to ADB Keyboard only while it types); then the server and the simulator stop.
        """
    ),
    code(
        """
        device.close()
        if server is not None:
            server.stop()
        sim.stop()
        print("stopped")
        """
    ),
]


# -------------------------------------------------------------------------- real phone and vLLM
REAL_PHONE: list[Cell] = [
    md(
        """
        # A real phone and a real model (vLLM / SGLang)

        Everything the quick start did on the simulator works the same on a phone over ADB, with
        AutoGLM-Phone-9B served by vLLM or SGLang on a GPU machine. This notebook explains the set-up.

        **What runs here:** the cells that need a phone use the **simulated phone as a stand-in**
        (marked *STAND-IN* below): it is reached through the real `adb` server, exactly as a phone on
        Wi-Fi would be. The vLLM and SGLang commands are **printed, not run**. The model endpoint used
        by the executed cells is a **scripted stand-in** that answers like vLLM with a reasoning parser.
        """
    ),
    md(
        """
        ## 1. Prepare the phone

        1. *Settings → About phone*: tap **Build number** seven times (Developer options appear).
        2. *Settings → System → Developer options*: turn **USB debugging** on. Xiaomi/Redmi phones
           also need **USB debugging (Security settings)**, without which taps and typing are refused.
        3. Plug the phone in and accept the **"Allow USB debugging?"** prompt (tick *Always allow*).
        4. Check from the computer: `adb devices` lists the phone as `device` (not `unauthorized`).

        **Over Wi-Fi** (same network): with the cable in, `adb tcpip 5555`; unplug; then
        `autoglm-agent connect PHONE_IP:5555`. Android 11+ also offers *Wireless debugging* with a
        pairing code (`adb pair IP:PORT`, platform-tools 30 or newer), then `autoglm-agent connect`.
        """
    ),
    md(
        """
        ## 2. See and connect devices

        `autoglm-agent devices` lists what the adb server sees; `autoglm-agent connect HOST:PORT`
        connects a Wi-Fi phone. The same from Python: `list_devices()` and `connect()`.

        *STAND-IN:* we start the simulator, which listens on a local TCP port like a Wi-Fi phone.
        """
    ),
    code(
        """
        import subprocess
        import sys

        from autoglm_agent.device import connect, list_devices
        from autoglm_agent.sim.runner import Simulator

        sim = Simulator(seed=0).start()  # STAND-IN for your phone
        PHONE = sim.serial
        print("the 'phone' (simulator) listens at", PHONE)

        # `autoglm-agent devices`, run as a command
        cli = [sys.executable, "-m", "autoglm_agent.cli"]
        print(subprocess.run([*cli, "devices"], capture_output=True, text=True, check=True).stdout)
        """
    ),
    code(
        """
        # `autoglm-agent connect HOST:PORT` from Python: idempotent, returns the serial to use
        serial = connect(PHONE)
        for info in list_devices():
            print(f"{info.serial:22} {info.state:8} model={info.model}")
        """
    ),
    md(
        """
        ## 3. ADB Keyboard, for any text

        Android's `input text` types printable ASCII only. For Chinese, emoji or accents, install
        [ADB Keyboard](https://github.com/senzhk/ADBKeyBoard) on the phone (`adb install ADBKeyboard.apk`);
        you do not need to enable or select it. `AdbDevice` switches to it for each Type and switches
        your own keyboard back right after, as the official AutoGLM client does. `text_input_strategy`
        says which way it will type.
        """
    ),
    code(
        """
        from autoglm_agent.device import AdbDevice

        device = AdbDevice(serial, timeout=10)  # AdbDevice() alone picks the only connected device
        print("screen:", device.screen_size(), "· foreground:", device.current_app())
        print("text input:", device.text_input_strategy)  # 'adbkeyboard' or 'input' (ASCII only)
        """
    ),
    md(
        """
        ## 4. Serve AutoGLM-Phone-9B with vLLM or SGLang

        On a GPU machine (the bf16 weights take about 20 GB: one 40-80 GB GPU is comfortable, and
        `--tp 2` splits the model over two smaller ones), `build_vllm_command`
        gives the command with the flags the agent relies on: the served name, a context long enough
        for screenshots, one image per prompt and no video, the image pixel budget, and the GLM
        reasoning parser (so the thinking comes back as `reasoning_content`). `autoglm-agent serve
        --engine vllm --model PATH` runs the same command; `--dry-run` only prints it.
        """
    ),
    code(
        """
        import shlex

        from autoglm_agent.server import build_vllm_command

        WEIGHTS = "/models/AutoGLM-Phone-9B"  # a folder on the GPU machine
        print("# vLLM, one GPU")
        print(shlex.join(build_vllm_command(WEIGHTS, host="0.0.0.0", port=8000)))
        print("\\n# vLLM, two GPUs, with an API key")
        print(shlex.join(build_vllm_command(WEIGHTS, tensor_parallel_size=2, host="0.0.0.0", api_key="KEY")))
        print("\\n# SGLang")
        print(shlex.join(build_vllm_command(WEIGHTS, engine="sglang", host="0.0.0.0")))
        """
    ),
    code(
        """
        # the CLI prints the same command and, with --dry-run, stops there
        out = subprocess.run(
            [*cli, "serve", "--engine", "vllm", "--model", WEIGHTS, "--dry-run"],
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout)
        """
    ),
    md(
        """
        ## 5. Point the agent at the remote endpoint

        `ChatAutoGLM` is a LangChain `ChatOpenAI`: give it the server's `/v1` URL, the served model
        name and the key. Creating it sends nothing. The command-line equivalent:

        ```bash
        autoglm-agent --device SERIAL --base-url http://GPU_HOST:8000/v1 --model autoglm-phone-9b "打开设置"
        ```
        """
    ),
    code(
        """
        from autoglm_agent.llm import ChatAutoGLM

        remote = ChatAutoGLM(base_url="http://GPU_HOST:8000/v1", model="autoglm-phone-9b", api_key="KEY")
        print(remote.openai_api_base, remote.model_name, "thinking:", remote.enable_thinking)
        """
    ),
    md(
        """
        *STAND-IN:* no GPU here, so a `ScriptedEndpoint` plays the vLLM server: a real HTTP server
        that answers from a script, returning the thinking in `reasoning_content` like vLLM's
        `--reasoning-parser glm45`. The agent cannot tell the difference; it runs "打开设置"
        (open settings) on the stand-in phone with the Chinese system prompt.
        """
    ),
    code(
        """
        from autoglm_agent.agent import AgentConfig, PhoneAgent
        from autoglm_agent.callbacks import PrintCallbacks
        from autoglm_agent.testing.scripted import ScriptedEndpoint

        script = [
            '<think>这是主屏幕，直接启动设置应用。</think><answer>do(action="Launch", app="设置")</answer>',
            '<think>设置已经打开，任务完成。</think><answer>finish(message="已打开设置")</answer>',
        ]
        with ScriptedEndpoint(script, reasoning_mode="field") as vllm_stand_in:
            llm = ChatAutoGLM(base_url=vllm_stand_in.base_url, model="autoglm-phone-9b", api_key="KEY")
            agent = PhoneAgent(device, llm, AgentConfig(max_steps=5), callbacks=PrintCallbacks())
            result = agent.run("打开设置")

        print("foreground app on the 'phone':", sim.phone.current_focus()[0])
        """
    ),
    code(
        """
        device.close()
        sim.stop()
        print("stopped")
        """
    ),
]


# ------------------------------------------------------------------------------ LangChain tools
LANGCHAIN_TOOLS: list[Cell] = [
    md(
        """
        # LangChain tools: a phone for any agent

        `PhoneToolkit` turns a `Device` into LangChain tools (`phone_screenshot`, `phone_ui_tree`,
        `phone_tap`, `phone_type_text`, `phone_launch_app`...), plus `phone_run_task`, which hands a
        whole task to the AutoGLM phone agent. This notebook:

        1. calls the tools by hand on the simulated phone (screenshot inline, condensed UI tree, tap, type);
        2. builds a LangGraph agent with `langchain.agents.create_agent` whose planner delegates to the
           phone agent, and streams it with `astream_events`, where the phone agent's steps appear.

        **Deterministic models:** to teach the mechanics, both models here are scripted. The planner is
        LangChain's `GenericFakeChatModel` replaying a tool call and an answer; the phone model is a
        `ScriptedEndpoint` (a real OpenAI-compatible HTTP server answering from a script). Swap in
        `ChatOpenAI(...)` and `ChatAutoGLM(base_url=...)` for real ones: nothing else changes.
        """
    ),
    md("## 1. The toolkit"),
    code(
        """
        from autoglm_agent.device import AdbDevice
        from autoglm_agent.sim.runner import Simulator
        from autoglm_agent.tools import PhoneToolkit

        sim = Simulator(seed=0).start()
        device = AdbDevice(sim.serial, timeout=10)
        toolkit = PhoneToolkit(device)  # coordinates="grid" for the 0-999 grid AutoGLM uses
        tools = {tool.name: tool for tool in toolkit.get_tools()}
        for tool in tools.values():
            print(f"{tool.name:18} {tool.description[:90]}")
        """
    ),
    md(
        """
        ## 2. Call the tools by hand

        Tools are called the way an agent calls them, with a tool call; they answer a `ToolMessage`.
        The screenshot's `content` is text: OpenAI's Chat Completions accepts no image in a tool
        message. The image is in its `artifact` (JSON, so LangGraph checkpointers can store it), and
        `create_agent(..., middleware=[toolkit.middleware()])` shows it to the model as a user message
        (`PhoneToolkit(device, image_in="tool")` puts it in the tool message instead, for vLLM, SGLang
        and APIs that accept that).
        """
    ),
    code(
        """
        import base64
        import io

        from IPython.display import display
        from langchain_core.messages import ToolMessage
        from PIL import Image


        def call(name: str, **args: object) -> ToolMessage:
            return tools[name].invoke({"type": "tool_call", "name": name, "args": args, "id": f"call_{name}"})


        def picture(data_url: str) -> Image.Image:
            return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


        shot = call("phone_screenshot")
        print(shot.content)
        print("artifact:", sorted(shot.artifact))
        display(picture(shot.artifact["image_url"]).reduce(2))
        """
    ),
    code(
        """
        print(call("phone_launch_app", app="Notes").content)
        tree = call("phone_ui_tree")
        print(tree.content)  # one line per element a text-only model can act on, with its center
        """
    ),
    md(
        """
        The condensed tree gives each element's center in screen pixels: enough for a text-only
        model to tap. Here we pick the nodes from the tool's artifact (the parsed nodes, as dicts).
        """
    ),
    code(
        """
        nodes = tree.artifact
        new_note = next(n for n in nodes if n["resource_id"] == "new_note")
        print(call("phone_tap", x=new_note["center"][0], y=new_note["center"][1]).content)
        print(call("phone_type_text", text="buy milk 买牛奶").content)

        save = next(n for n in call("phone_ui_tree").artifact if n["label"] in ("Save", "保存"))
        print(call("phone_tap", x=save["center"][0], y=save["center"][1]).content)
        display(picture(call("phone_screenshot").artifact["image_url"]).reduce(2))
        """
    ),
    code(
        """
        bodies = [note.body for note in sim.phone.state.notes]
        print("notes on the phone:", bodies)
        print("check: note saved:", "buy milk 买牛奶" in bodies)
        """
    ),
    md(
        """
        ## 3. A planner that delegates to the phone agent

        `PhoneToolkit(device, agent_llm=...)` adds `phone_run_task`: it runs a `PhoneAgent` with that
        model to the end and returns the outcome. Inside a LangGraph run, every phone step is reported
        as a child run and as `autoglm_*` custom events, so `astream_events` shows the phone agent's
        thinking and actions while the tool runs.

        Both models are scripted (see the top of the notebook): the planner calls `phone_run_task`
        once, then answers; the phone model launches Settings, then finishes.
        """
    ),
    code(
        """
        from collections.abc import Sequence
        from typing import Any

        from langchain.agents import create_agent
        from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage, HumanMessage

        from autoglm_agent.llm import ChatAutoGLM
        from autoglm_agent.testing.scripted import ScriptedEndpoint


        class ScriptedPlanner(GenericFakeChatModel):
            \"\"\"Replays its messages whatever the tools (a real planner gets their schemas).\"\"\"

            def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "ScriptedPlanner":
                return self


        run_task = {
            "name": "phone_run_task",
            "args": {"task": "Open the Settings app", "max_steps": 5},
            "id": "call_1",
            "type": "tool_call",
        }
        planner = ScriptedPlanner(
            messages=iter(
                [
                    AIMessage(content="", tool_calls=[run_task]),
                    AIMessage(content="Done: the Settings app is open on your phone."),
                ]
            ),
            disable_streaming=True,  # GenericFakeChatModel's streaming would drop the tool call
        )

        # the phone model: a real HTTP endpoint answering in AutoGLM's format, one reply a step
        phone_model = ScriptedEndpoint(
            [
                "<think>No need to look for the icon: I launch Settings directly.</think>"
                '<answer>do(action="Launch", app="Settings")</answer>',
                "<think>Settings is in the foreground, so the task is done.</think>"
                '<answer>finish(message="Settings is open")</answer>',
            ]
        ).start()

        toolkit = PhoneToolkit(device, agent_llm=ChatAutoGLM(base_url=phone_model.base_url, max_retries=0))
        agent = create_agent(
            planner,
            toolkit.get_tools(),
            system_prompt="You help the user with their phone. Use phone_run_task for anything done on it.",
        )
        """
    ),
    md(
        """
        ## 4. Stream the planner and watch the phone steps

        `astream_events(version="v2")` yields the planner's events (model calls, tool start/end) and,
        while `phone_run_task` runs, the phone agent's `autoglm_*` custom events: `autoglm_step_start`,
        `autoglm_thinking` (streamed reasoning), `autoglm_action`, `autoglm_step_end`, `autoglm_run_end`.
        """
    ),
    code(
        """
        request = {"messages": [HumanMessage("Please open the Settings app on my phone.")]}
        final = None
        thinking = False  # inside a streamed line of reasoning


        def line(text: str) -> None:
            global thinking
            if thinking:
                print()
                thinking = False
            print(text)


        async for event in agent.astream_events(request, version="v2"):
            kind, name, data = event["event"], event.get("name", ""), event.get("data", {})
            if kind == "on_tool_start":
                line(f"> tool {name}({data.get('input')})")
            elif kind == "on_tool_end":
                output = getattr(data.get("output"), "content", data.get("output"))
                line(f"< tool {name}: " + str(output).replace("\\n", " | "))
            elif kind == "on_custom_event" and name == "autoglm_step_start":
                line(f"  [phone step {data['step']}] {data['app']}")
            elif kind == "on_custom_event" and name == "autoglm_thinking":
                print(data["text"] if thinking else f"    thinking: {data['text']}", end="", flush=True)
                thinking = True
            elif kind == "on_custom_event" and name == "autoglm_action":
                line(f"    action: {data['call']}")
            elif kind == "on_custom_event" and name == "autoglm_run_end":
                line(f"  [phone] {data['status']}: {data['message']} ({data['steps']} steps)")
            elif kind == "on_chain_end" and event.get("parent_ids") == []:
                final = data["output"]

        print("planner:", final["messages"][-1].content)
        """
    ),
    code(
        """
        foreground = sim.phone.current_focus()[0]
        print(f"check: the foreground app is {foreground}; Settings open: {foreground == 'com.android.settings'}")
        """
    ),
    code(
        """
        phone_model.stop()
        device.close()
        sim.stop()
        print("stopped")
        """
    ),
]


# ------------------------------------------------------------------------------- voice commands
VOICE: list[Cell] = [
    md(
        """
        # Voice commands

        Speak a command, and the phone does it:

        1. make a recording (here synthesized with `espeak-ng`; any wav or mp3 works);
        2. turn it into text with `autoglm_agent.voice.transcribe`, which runs a local
           speech-recognition checkpoint through transformers: by default `../model/asr`, a tiny
           Wav2Vec2 model trained on espeak-ng speech of the demo's command language (any Whisper or
           Wav2Vec2 folder works the same way);
        3. run the text as a task with the demo model on the simulated phone;
        4. or let the **server** do the listening: send the recording itself as an OpenAI
           `input_audio` part to the embedded server started with an ASR model (`--asr-model`).

        From a shell: `autoglm-agent --voice command.wav`, or `python voice_command.py --say "open settings"`.
        """
    ),
    md(
        """
        ## Settings

        Besides the variables of the quick start (`AUTOGLM_MODEL_PATH`, `AUTOGLM_MAX_TOKENS`,
        `AUTOGLM_TRAJECTORY_DIR`), `AUTOGLM_ASR_MODEL` names the speech-recognition checkpoint
        (default `../model/asr`).
        """
    ),
    code(
        """
        import os
        from pathlib import Path

        MODEL_PATH = Path(os.environ.get("AUTOGLM_MODEL_PATH", "../model")).resolve()
        ASR_MODEL = Path(os.environ.get("AUTOGLM_ASR_MODEL", "../model/asr")).resolve()
        MAX_TOKENS = int(os.environ.get("AUTOGLM_MAX_TOKENS", "256"))
        TRAJECTORY_DIR = Path(os.environ.get("AUTOGLM_TRAJECTORY_DIR", "../runs")).resolve()
        SPOKEN = "open settings"

        print("speech model:", ASR_MODEL)
        print("phone model: ", MODEL_PATH)
        """
    ),
    md(
        """
        ## 1. A spoken command

        `espeak-ng -w FILE TEXT` writes a wav. To use your own voice, record a wav (or mp3) and set
        `WAV` to its path instead.
        """
    ),
    code(
        """
        import subprocess
        import tempfile

        from IPython.display import Audio, display

        WAV = Path(tempfile.mkdtemp(prefix="autoglm-voice-")) / "command.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(WAV), SPOKEN], check=True, timeout=60)
        display(Audio(filename=str(WAV)))
        """
    ),
    md(
        """
        ## 2. Speech to text

        `transcribe` reads wav (any sample rate and width, mono or stereo) or mp3 (with ffmpeg),
        resamples to the model's rate and runs the transformers ASR pipeline. The demo checkpoint ships
        the list of commands it was trained on (`commands.txt`): its transcript is *snapped* to the
        closest of them when it is close enough, which fixes a misheard letter. `snap=False` shows the
        raw transcript.
        """
    ),
    code(
        """
        from autoglm_agent.errors import ConfigError
        from autoglm_agent.voice import read_audio, transcribe

        samples, rate = read_audio(WAV)
        print(f"{samples.size / rate:.2f} s of audio at {rate} Hz")
        print("raw transcript:", repr(transcribe(WAV, model=ASR_MODEL, snap=False)))
        command = transcribe(WAV, model=ASR_MODEL)
        if not command:
            raise ConfigError(f"no speech recognised in {WAV}", hint="record the command again")
        print("command:", repr(command))
        """
    ),
    md(
        """
        ## 3. Run it on the phone

        One embedded server serves the phone model and, because it is given `asr_model`, also accepts
        audio (used in the next section). The transcript becomes the agent's task.
        """
    ),
    code(
        """
        from autoglm_agent.agent import AgentConfig, PhoneAgent
        from autoglm_agent.callbacks import PrintCallbacks
        from autoglm_agent.device import AdbDevice
        from autoglm_agent.endpoint import checkpoint_agent_settings
        from autoglm_agent.llm import ChatAutoGLM
        from autoglm_agent.server import EmbeddedServer, ServerConfig
        from autoglm_agent.sim.runner import Simulator

        server = EmbeddedServer(ServerConfig(model=MODEL_PATH, asr_model=ASR_MODEL, port=0)).start()
        sim = Simulator(seed=0).start()
        device = AdbDevice(sim.serial, timeout=10)
        llm = ChatAutoGLM(base_url=server.base_url, max_tokens=MAX_TOKENS, max_retries=0)
        config = AgentConfig(**{**checkpoint_agent_settings(MODEL_PATH), "trajectory_dir": TRAJECTORY_DIR})
        result = PhoneAgent(device, llm, config, callbacks=PrintCallbacks()).run(command)

        foreground = sim.phone.current_focus()[0]
        print(f"check: heard {command!r}; foreground app {foreground}")
        print(f"check: Settings open: {foreground == 'com.android.settings'}")
        """
    ),
    md(
        """
        ## 4. Send the audio to the server

        OpenAI's chat format carries audio as an `input_audio` content part (base64 wav or mp3);
        `autoglm_agent.multimodal.audio_part` builds one from a file or bytes. A server started with an
        ASR model (`autoglm-agent serve --model ../model --asr-model ../model/asr`) transcribes the
        audio and puts the text where the audio was, before the language model sees the prompt; a
        server without one answers HTTP 400 with `audio_unsupported`.
        """
    ),
    code(
        """
        from langchain_core.messages import HumanMessage

        from autoglm_agent.multimodal import audio_part

        part = audio_part(WAV)
        print(part["type"], part["input_audio"]["format"], f"{len(part['input_audio']['data']):,} base64 characters")

        reply = llm.invoke([HumanMessage(content=[part, {"type": "text", "text": " (spoken by the user)"}])])
        print("reasoning:", repr((reply.additional_kwargs.get("reasoning_content") or "")[:120]))
        print("answer:   ", repr(str(reply.content)[:120]))
        print("tokens:   ", reply.usage_metadata)
        """
    ),
    code(
        """
        device.close()
        sim.stop()
        server.stop()
        print("stopped")
        """
    ),
]


# ---------------------------------------------------------------------------- evaluate a model
EVALUATE: list[Cell] = [
    md(
        """
        # Evaluate a model on the simulator

        `autoglm_agent.eval` scores any OpenAI-compatible model on a suite of phone tasks. Each run
        gets a fresh simulated phone (optionally with a shuffled home screen); success is read from
        the phone's state afterwards (is Wi-Fi on? is the note saved?), never from what the model
        claims. Every task has an English and a Chinese wording.

        Here: a few tasks in both languages against the demo checkpoint (or the endpoint in
        `AUTOGLM_BASE_URL`), the summary table, and the command that scores a real model on vLLM.
        """
    ),
    SETTINGS_MD,
    SETTINGS_CODE,
    md("## 1. The suite"),
    code(
        """
        from autoglm_agent.eval.tasks import default_suite, select

        suite = default_suite()
        print(len(suite), "tasks:")
        for task in suite:
            print(f"  {task.id:16} {task.category:11} {task.en}  /  {task.zh}")

        # ids, id prefixes ("open-") or categories ("settings"), comma-separated: like the CLI's --tasks
        subset = select(suite, "open-settings,go-home,wifi-on")
        print("\\nthis run:", [task.id for task in subset], "in en and zh")
        """
    ),
    md("## 2. The model"),
    SERVER_CODE,
    md(
        """
        ## 3. Run the evaluation

        `run_eval` runs every (task, language, seed) on a new simulator and returns an `EvalReport`;
        `on_result` is called after each run. The agent uses the checkpoint's own settings
        (`agent_settings`) and each task's step limit.
        """
    ),
    code(
        """
        import time

        from autoglm_agent.eval.runner import TaskResult, run_eval, write_report
        from autoglm_agent.llm import ChatAutoGLM

        llm = ChatAutoGLM(base_url=BASE_URL, model=MODEL_NAME, api_key=API_KEY, max_tokens=MAX_TOKENS, max_retries=0)
        OUT = TRAJECTORY_DIR / time.strftime("eval-%Y%m%d-%H%M%S")


        def show(r: TaskResult) -> None:
            mark = "pass" if r.success else "FAIL"
            print(f"{mark} {r.task_id:14} [{r.lang}] {r.steps} steps, {r.total_s:5.1f} s: {r.message[:70]}")


        report = run_eval(
            llm,
            subset,
            langs=["en", "zh"],
            seeds=[0],
            agent_settings=agent_settings,
            trajectory_dir=OUT / "runs",
            on_result=show,
        )
        """
    ),
    md(
        """
        ## 4. The summary

        `report.summary` covers every run; `by_category` and `by_lang` split it. `write_report` saves
        `report.json` (everything, each run's trajectory folder included) and `report.md`.
        """
    ),
    code(
        """
        from IPython.display import Markdown, display

        s = report.summary
        print(f"summary: {s.successes}/{s.runs} runs succeeded ({s.success_rate:.0%}), mean {s.mean_steps:.1f} steps")
        print(f"{'group':14} {'runs':>4} {'success':>8} {'steps':>6} {'s/step':>7}")
        for name, g in [("all", s), *report.by_category.items(), *report.by_lang.items()]:
            print(f"{name:14} {g.runs:>4} {g.success_rate:>8.0%} {g.mean_steps:>6.1f} {g.mean_step_s:>7.2f}")

        write_report(report, OUT)
        display(Markdown((OUT / "report.md").read_text(encoding="utf-8")))
        """
    ),
    md(
        """
        ## 5. A real model, from the command line

        Serve AutoGLM-Phone-9B with vLLM on a GPU machine (see `02_real_phone_and_vllm.ipynb`), then
        score it on the whole suite, both languages, three home-screen layouts:

        ```bash
        autoglm-agent eval --base-url http://GPU_HOST:8000/v1 --model autoglm-phone-9b \\
            --lang both --seeds 0,1,2 --shuffle --out runs/eval-9b
        ```

        It prints a line per run and the summary table, and writes `runs/eval-9b/report.md` and
        `report.json`. `--tasks settings,open-` picks a subset, `--list` shows the task ids,
        `--model-path DIR` scores a local checkpoint through the embedded server instead, and
        `python evaluate.py --base-url URL` is the same in a plain script.
        """
    ),
    code(
        """
        import subprocess
        import sys

        listing = subprocess.run(
            [sys.executable, "-m", "autoglm_agent.cli", "eval", "--list", "--tasks", "settings"],
            capture_output=True,
            text=True,
            check=True,
        )
        print(listing.stdout)
        """
    ),
    code(
        """
        if server is not None:
            server.stop()
        print("stopped")
        """
    ),
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_real_phone_and_vllm.ipynb": REAL_PHONE,
    "03_langchain_tools.ipynb": LANGCHAIN_TOOLS,
    "04_voice_commands.ipynb": VOICE,
    "05_evaluate_a_model.ipynb": EVALUATE,
}


def build(cells: list[Cell], stem: str) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells, 1):
        cell = (
            nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        )
        cell.id = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    stem = name.split("_", 1)[0]
    return nbformat.writes(build(NOTEBOOKS[name], f"c{stem}")) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--check", action="store_true", help="only check that the committed notebooks are current"
    )
    args = ap.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = EXAMPLES / name
        text = render(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python tools/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
