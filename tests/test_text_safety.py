"""Text from the model, the phone and the command line cannot crash the CLI or drive the terminal;
bad option values are one error line; Ctrl-C leaves a finished run folder.

The end-to-end tests run the real CLI (a subprocess, its stdout a real UTF-8 pipe) against the
simulator and a scripted OpenAI-compatible endpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from autoglm_agent import actions as A
from autoglm_agent import cli
from autoglm_agent.agent import AgentCallbacks, AgentConfig, PhoneAgent, StepRecord
from autoglm_agent.device import AdbDevice
from autoglm_agent.device import text as T
from autoglm_agent.device.base import TextInputError
from autoglm_agent.errors import ConfigError
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.profiles import profile_from_dict
from autoglm_agent.safetext import for_terminal, well_formed
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.testing.scripted import ScriptedEndpoint
from autoglm_agent.trajectory import TrajectoryRecorder

ROOT = Path(__file__).resolve().parents[1]
NOTES = "com.android.notes"

#: What a terminal acts on (newline and tab aside): nothing of it may reach the user's terminal.
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

HOSTILE_THINKING = (
    "clear \x1b[2J\x1b[H title \x1b]0;pwned\x07 link \x1b]8;;http://evil\x1b\\x\x1b]8;;\x1b\\ "
    "hidden \x1b[8msecret\x1b[0m csi \x9b31m backspace ab\x08\x08XY overwrite line\rFAKE "
    "bidi \u202eevil\u202c 你好 👍🏽 👨‍👩‍👧"
)


def answer(call: str, thinking: str = "I look at the screen.") -> str:
    return f"<think>{thinking}</think><answer>{call}</answer>"


def cli_command(*args: str | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "autoglm_agent.cli", *args]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGLM_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "200"
    env["PYTHONIOENCODING"] = "utf-8"  # strict: an unencodable character would be a traceback
    return env


def open_new_note(sim: Simulator) -> None:
    """A fresh phone with a new note open, its multi-line body focused."""
    sim.reset()
    phone = sim.phone
    phone.launch_package(NOTES)
    for node in ET.fromstring(phone.ui_hierarchy_xml()).iter("node"):
        if node.attrib.get("resource-id", "").endswith(":id/new_note"):
            x1, y1, x2, y2 = (int(v) for v in re.findall(r"\d+", node.attrib["bounds"]))
            phone.tap((x1 + x2) // 2, (y1 + y2) // 2)
            break
    assert phone.state.focused_field == "body"


def only_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint() as ep:
        yield ep


# ================================================================================ safetext

any_text = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)


@given(any_text)
@settings(max_examples=500, deadline=None)
def test_for_terminal_leaves_nothing_a_terminal_acts_on(s: str) -> None:
    shown = for_terminal(s)
    assert not TERMINAL_CONTROL.search(shown), ascii(shown)
    shown.encode("utf-8")  # always printable to a UTF-8 terminal


_printable_char = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
)
printable = st.lists(
    _printable_char
    | st.sampled_from(["\n", "\t", "你好", "👍🏽", "👨‍👩‍👧", "🇨🇳", "é", "\u200d", "\ufe0f", "e\u0301"]),
    max_size=40,
).map("".join)


@given(printable)
@settings(max_examples=300, deadline=None)
def test_for_terminal_keeps_printable_text_cjk_and_emoji(s: str) -> None:
    assert for_terminal(s) == s


def test_for_terminal_examples() -> None:
    assert for_terminal("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert for_terminal("x\r\ny\rz\x08\x9b\u202e") == "x\ny\\x0dz\\x08\\x9b\\u202e"
    assert for_terminal("lone \ud800 and a split pair \ud83d\ude00") == "lone \ufffd and a split pair 😀"
    assert well_formed("ok 你好") == "ok 你好"


# ================================================================================ CLI printing


def _strict_console() -> tuple[Console, io.BytesIO]:
    """A console on a strict UTF-8 stream, like a real terminal's stdout."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    return Console(file=stream, width=200, highlight=False, color_system=None, force_terminal=False), raw


@given(model=any_text, phone=any_text)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_everything_the_run_prints_is_neutralised(
    monkeypatch: pytest.MonkeyPatch, model: str, phone: str
) -> None:
    """Whatever the model or the phone sends: the live output encodes, and no control character
    reaches the terminal (the only escapes are the ones rich would add for colour, none here)."""
    con, raw = _strict_console()
    monkeypatch.setattr(cli, "console", con)
    monkeypatch.setattr(cli, "err_console", con)
    cb = cli._RichCallbacks()
    cb.on_run_start(model)
    cb.on_step_start(1, None, phone)
    cb.on_thinking(model)
    cb.on_parse_error(1, model, model)
    cb.on_retry(1, 2, model)
    cb.on_action(1, A.Type(text=model))
    cb.on_step_end(StepRecord(index=1, error=model))
    result = type(
        "R",
        (),
        {
            "status": "stopped",
            "message": model,
            "steps": 1,
            "total_s": 0.0,
            "model_s": 0.0,
            "device_s": 0.0,
            "trajectory_dir": Path("runs") / phone,
        },
    )()
    cli._print_result(result, json_out=False)
    text = raw.getvalue().decode("utf-8")
    assert not TERMINAL_CONTROL.search(text.replace("\n", "")), ascii(text)


def test_hostile_model_output_reaches_the_terminal_neutralised(
    home_simulator: Simulator, endpoint, tmp_path
) -> None:
    """Thinking full of escape sequences, a Type text and a finish message with a lone surrogate:
    the run succeeds, prints no control character, types U+FFFD for the surrogate and writes a
    readable trajectory."""
    sim = home_simulator
    open_new_note(sim)
    endpoint.add(
        answer(A.Type(text="a\ud800b\tc").to_call(), thinking=HOSTILE_THINKING),
        answer('finish(message="done \x1b[2J\x1b]0;t\x07 \ud800 你好 👍🏽")', thinking=HOSTILE_THINKING),
    )
    runs = tmp_path / "runs"
    proc = subprocess.run(
        cli_command(
            "--device",
            sim.serial,
            "--base-url",
            endpoint.base_url,
            "--trajectory-dir",
            str(runs),
            "--max-steps",
            "3",
            "type into the note",
        ),
        capture_output=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err
    for stream in (out, err):
        assert not TERMINAL_CONTROL.search(stream.replace("\n", "")), ascii(stream)
    assert "\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out and "\\u202e" in out
    assert "你好 👍🏽 👨‍👩‍👧" in out
    assert "success: done \\x1b[2J\\x1b]0;t\\x07 \ufffd 你好 👍🏽" in out
    assert sim.phone.state.focused_text == "a\ufffdb\tc"
    (run,) = runs.iterdir()
    result = json.loads((run / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "success" and "\ufffd" in result["message"]
    steps = [json.loads(line) for line in (run / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    assert steps[0]["reasoning"] == HOSTILE_THINKING
    assert "FAKE" in (run / "report.html").read_text(encoding="utf-8")


def test_json_output_with_model_text(home_simulator: Simulator, endpoint, tmp_path) -> None:
    endpoint.add(answer('finish(message="x \ud800 \x1b[2J")'))
    proc = subprocess.run(
        cli_command(
            "--device",
            home_simulator.serial,
            "--base-url",
            endpoint.base_url,
            "--json",
            "--trajectory-dir",
            str(tmp_path),
            "open settings",
        ),
        capture_output=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout.decode("utf-8"))
    assert data["message"] == "x \ufffd \x1b[2J"  # JSON escapes the ESC itself
    assert b"\x1b" not in proc.stdout


def test_invalid_utf8_task_from_the_shell_is_one_error_line() -> None:
    for task in (b"\xff\xfe", b"open \xe4\xbd settings", "\ud800".encode("utf-8", "surrogatepass")):
        proc = subprocess.run(cli_command(task), capture_output=True, env=cli_env(), timeout=60, check=False)
        line = only_error_line(proc.stderr.decode("utf-8"))
        assert proc.returncode == 2
        assert "not valid UTF-8" in line and "encoding" in line, line


@pytest.mark.parametrize("option", ["--device", "--base-url", "--model", "--profile"])
def test_invalid_utf8_string_options_are_one_error_line(capsys, option: str) -> None:
    # what sys.argv holds for the bytes b"\xff" (surrogateescape)
    code, err = _run_main([option, "x\udcff", "open settings"], capsys)
    line = only_error_line(err)
    assert code == 2 and option in line and "not valid UTF-8" in line, line


def test_ctrl_c_at_a_prompt_is_an_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    """click turns Ctrl-C at a prompt into Abort; the agent must see KeyboardInterrupt to record it."""

    def abort(*_a: Any, **_k: Any) -> Any:
        raise cli.typer.Abort

    monkeypatch.setattr(cli.typer, "confirm", abort)
    monkeypatch.setattr(cli.typer, "prompt", abort)
    with pytest.raises(KeyboardInterrupt):
        cli._confirm("pay \x1b[2J", None)
    with pytest.raises(KeyboardInterrupt):
        cli._interact("which one?")


def test_agent_takes_a_task_with_surrogates(home_simulator: Simulator, endpoint, tmp_path) -> None:
    """The library: a task with undecodable-byte surrogates is recorded, not a crash."""
    endpoint.add(answer('finish(message="ok")'))
    with AdbDevice(home_simulator.serial, timeout=10) as dev:
        llm = ChatAutoGLM(base_url=endpoint.base_url, model="autoglm-phone-9b", max_retries=0)
        agent = PhoneAgent(dev, llm, AgentConfig(trajectory_dir=tmp_path, llm_backoff_s=0))
        result = agent.run("open \udcff settings \ud800")
    assert result.status == "success"
    meta = json.loads((result.trajectory_dir / "meta.json").read_text(encoding="utf-8"))
    assert meta["task"] == "open \ufffd settings \ufffd"


def test_trajectory_files_take_lone_surrogates(tmp_path: Path) -> None:
    rec = TrajectoryRecorder.create(tmp_path, "t\udcff")
    rec.write_meta({"task": "t\udcff"})
    rec.append_step({"index": 1, "reasoning": "r\ud800", "answer": "a\x1b"})
    rec.finish({"status": "success", "message": "m\udc80"})
    assert json.loads((rec.path / "meta.json").read_text(encoding="utf-8")) == {"task": "t\udcff"}
    assert json.loads((rec.path / "steps.jsonl").read_text(encoding="utf-8"))["reasoning"] == "r\ud800"
    assert json.loads((rec.path / "result.json").read_text(encoding="utf-8"))["message"] == "m\udc80"
    (rec.path / "report.html").read_text(encoding="utf-8")


# ================================================================================ typing tabs


def test_input_text_keeps_a_tab_in_the_argument() -> None:
    (line,) = T.input_text_commands("a\tb")
    assert line == "input text 'a\tb'"
    assert T.adbkeyboard_type_commands("x\ud800") == T.adbkeyboard_type_commands("x\ufffd")


def test_tab_is_typed_as_a_tab_on_the_simulator(home_simulator: Simulator) -> None:
    sim = home_simulator
    for mode in ("input", "adbkeyboard"):
        with AdbDevice(sim.serial, text_input=mode, ime_settle_s=0) as d:
            open_new_note(sim)
            d.type_text("name:\tvalue\nnext\tline")
            assert sim.phone.state.focused_text == "name:\tvalue\nnext\tline", mode
            if mode == "adbkeyboard":  # a lone surrogate: U+FFFD with ADB Keyboard
                d.type_text("x\ud800")
                assert sim.phone.state.focused_text.endswith("x\ufffd")
            else:  # refused by `input text` (no UTF-8, and not ASCII anyway): an error, not a crash
                with pytest.raises(TextInputError):
                    d.type_text("x\ud800")


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t\n"), max_size=60
    )
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_input_text_round_trip_on_the_simulator(home_simulator: Simulator, s: str) -> None:
    """Printable ASCII with tabs and newlines, typed with `input text` into a multi-line note."""
    sim = home_simulator
    with AdbDevice(sim.serial, text_input="input") as d:
        if sim.phone.state.focused_field != "body":
            open_new_note(sim)
        d.clear_text()
        d.type_text(s)
        assert sim.phone.state.focused_text == s


# ================================================================================ option values

#: Each numeric option of `run`, the values it accepts, and values to try.
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, -1.0, 1e-300, 86400.0, 86400.5, 1e300, 0.5, 2.0, 2.0000001, 1.0, -2.0, -2.5]
)
_INTS = st.integers() | st.sampled_from([0, 1, -1, 500, 501, 2**63, -(2**63)])
NUMERIC_OPTIONS: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "--max-steps": (_INTS, lambda v: 1 <= v <= 500),
    "--max-tokens": (_INTS, lambda v: v >= 1),
    "--seed": (_INTS, lambda v: True),
    "--timeout": (_FLOATS, lambda v: math.isfinite(v) and 0 < v <= 86400),
    "--temperature": (_FLOATS, lambda v: 0 <= v <= 2),
    "--top-p": (_FLOATS, lambda v: 0 < v <= 1),
    "--frequency-penalty": (_FLOATS, lambda v: -2 <= v <= 2),
}

REACHED = "PREFLIGHT REACHED"


@st.composite
def option_value(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(NUMERIC_OPTIONS)))
    return name, draw(NUMERIC_OPTIONS[name][0])


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    return int(exc.value.code or 0), capsys.readouterr().err


@given(option_value())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_numeric_run_options_are_checked_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], opt: tuple[str, Any]
) -> None:
    """Every value of every numeric option: accepted (the run goes on to its preflight), or one
    `error:` line that names the option, before any device or endpoint is touched."""
    name, value = opt

    def preflight(*_a: Any, **_k: Any) -> None:
        raise ConfigError(REACHED)

    monkeypatch.setattr(cli, "_preflight", preflight)
    code, err = _run_main(
        [name, repr(value) if isinstance(value, float) else str(value), "open settings"], capsys
    )
    line = only_error_line(err)
    assert code == 2, err
    if NUMERIC_OPTIONS[name][1](value):
        assert REACHED in line, (name, value, line)
    else:
        assert name in line and REACHED not in line, (name, value, line)


@pytest.mark.parametrize(
    "args",
    [
        ["--max-steps", "501"],
        ["--timeout", "0"],
        ["--timeout", "-1"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
    ],
)
def test_brief_option_values_are_one_line_for_real(capsys, endpoint, tmp_path, args: list[str]) -> None:
    """No stand-in: a working endpoint and the simulator, so a value let through would run."""
    endpoint.add(answer('finish(message="ran")'))
    argv = [
        *args,
        "--sim",
        "--base-url",
        endpoint.base_url,
        "--trajectory-dir",
        str(tmp_path),
        "open settings",
    ]
    code, err = _run_main(argv, capsys)
    line = only_error_line(err)
    assert code == 2 and args[0] in line, line
    assert endpoint.requests == []


@pytest.fixture
def silent_port() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket nobody answers: any request would show up as a pending connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1", server
    finally:
        server.close()


def _no_connection(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.mark.parametrize("how", ["option", "AUTOGLM_API_KEY", "OPENAI_API_KEY"])
def test_non_ascii_api_key_is_refused_before_any_request(monkeypatch, capsys, silent_port, how: str) -> None:
    url, server = silent_port
    for var in ("AUTOGLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    args = ["--sim", "--base-url", url]
    if how == "option":
        args += ["--api-key", "sk-ключ"]
    else:
        monkeypatch.setenv(how, "sk-\u00e9\r\nX-Evil: 1")
    code, err = _run_main([*args, "open settings"], capsys)
    line = only_error_line(err)
    assert code == 2 and "HTTP header" in line
    assert ("--api-key" if how in ("option", "AUTOGLM_API_KEY") else "$OPENAI_API_KEY") in line
    assert "ключ" not in line and "\u00e9" not in line  # the key itself is not shown
    assert _no_connection(server)


def test_profile_files_that_are_not_objects(tmp_path: Path, capsys, silent_port) -> None:
    url, server = silent_port
    for content in ("[1, 2]", '"autoglm"', "null", '{"extends": ["autoglm"]}', '{"extends": {"a": 1}}'):
        f = tmp_path / "p.json"
        f.write_text(content)
        code, err = _run_main(["--profile", str(f), "--sim", "--base-url", url, "x"], capsys)
        line = only_error_line(err)
        assert code == 2 and str(f) in line, line
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text("{}")
    (ck / "agent.json").write_text("[1]")
    code, err = _run_main(["--model-path", str(ck), "--sim", "x"], capsys)
    assert code == 2 and "agent.json is not a JSON object" in only_error_line(err)
    assert _no_connection(server)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
profile_keys = st.sampled_from(
    ["extends", "name", "sampling", "timings", "lang", "max_steps", "layout", "other"]
)


@given(json_values | st.dictionaries(profile_keys, json_values, max_size=4))
@settings(max_examples=400, deadline=None)
def test_any_json_profile_is_a_profile_or_a_config_error(data: Any) -> None:
    with contextlib.suppress(ConfigError):
        profile_from_dict(data, default_name="p", where="p.json")


# ================================================================================ Ctrl-C


class _InterruptAt(AgentCallbacks):
    def __init__(self, step: int) -> None:
        self.step = step
        self.ended = None

    def on_action(self, index: int, action: Any) -> None:
        if index == self.step:
            raise KeyboardInterrupt

    def on_run_end(self, result: Any) -> None:
        self.ended = result


def test_agent_interrupted_writes_its_result_then_reraises(
    home_simulator: Simulator, endpoint, tmp_path
) -> None:
    endpoint.add(answer('do(action="Home")'), answer('do(action="Home")'), answer('finish(message="x")'))
    cb = _InterruptAt(2)
    with AdbDevice(home_simulator.serial, timeout=10) as dev:
        llm = ChatAutoGLM(base_url=endpoint.base_url, model="autoglm-phone-9b", max_retries=0)
        agent = PhoneAgent(dev, llm, AgentConfig(trajectory_dir=tmp_path, llm_backoff_s=0), callbacks=cb)
        with pytest.raises(KeyboardInterrupt):
            agent.run("go home twice")
    result = agent.result
    assert result is not None and result.status == "stopped" and "interrupted" in result.message
    assert result.steps == 1 and cb.ended is result
    saved = json.loads((result.trajectory_dir / "result.json").read_text(encoding="utf-8"))
    assert saved["status"] == "stopped" and "interrupted" in saved["message"]
    report = (result.trajectory_dir / "report.html").read_text(encoding="utf-8")
    assert "st running" not in report and "interrupted" in report


def test_ctrl_c_mid_run_leaves_a_finished_run_folder(endpoint, tmp_path) -> None:
    """The real thing: the CLI on its own simulator, the model slow to answer, SIGINT mid-run."""
    asked = threading.Event()
    release = threading.Event()

    def slow(_body: dict[str, Any]) -> str:
        asked.set()
        release.wait(30)
        return answer('do(action="Home")')

    endpoint.add(answer('do(action="Home")'), slow)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        cli_command("--sim", "--base-url", endpoint.base_url, "--trajectory-dir", str(runs), "wait for it"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        assert asked.wait(90), "the run never reached its second model call"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err_text = err.decode("utf-8")
    assert proc.returncode == 130, (out, err_text)
    assert "Traceback" not in err_text
    (run,) = runs.iterdir()
    result = json.loads((run / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "stopped" and "interrupted" in result["message"], result
    assert result["steps"] == 1
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "st running" not in report and "interrupted" in report
    said = [line for line in err_text.splitlines() if "interrupted" in line]
    assert said == [f"interrupted: the run is saved in {run / 'report.html'}"], err_text
