"""The whole loop end to end: simulator <- real adb <- AdbDevice <- PhoneAgent -> ChatAutoGLM -> scripted endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from autoglm_agent.actions import to_grid
from autoglm_agent.agent import AgentCallbacks, AgentConfig, PhoneAgent
from autoglm_agent.device import AdbDevice
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.testing.scripted import ScriptedEndpoint, ScriptedError


def answer(call: str, thinking: str = "I look at the screen.") -> str:
    return f"<think>{thinking}</think><answer>{call}</answer>"


def find_center(phone, pred: Callable[[dict[str, str]], bool]) -> tuple[int, int]:
    """Grid coordinates (0-999) of the first UI node matching ``pred``."""
    root = ET.fromstring(phone.ui_hierarchy_xml())
    for node in root.iter("node"):
        if pred(node.attrib):
            b = node.attrib["bounds"].replace("][", ",").strip("[]").split(",")
            x1, y1, x2, y2 = (int(v) for v in b)
            return to_grid((x1 + x2) // 2, (y1 + y2) // 2, phone.width, phone.height)
    raise AssertionError("no such node on screen")


def tap_on(sim, pred: Callable[[dict[str, str]], bool]) -> Callable[[dict], str]:
    def reply(_body: dict) -> str:
        x, y = find_center(sim.phone, pred)
        return answer(f'do(action="Tap", element=[{x},{y}])')

    return reply


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint() as ep:
        yield ep


@pytest.fixture
def device(fresh_simulator) -> Iterator[AdbDevice]:
    with AdbDevice(fresh_simulator.serial, timeout=10) as dev:
        yield dev


def make_agent(device, endpoint, tmp_path: Path, **overrides) -> PhoneAgent:
    kwargs = {k: overrides.pop(k) for k in ("confirm", "takeover") if k in overrides}
    llm = ChatAutoGLM(base_url=endpoint.base_url, model="autoglm-phone-9b", max_retries=0)
    cfg = AgentConfig(trajectory_dir=tmp_path / "runs", llm_backoff_s=0.0, **overrides)
    return PhoneAgent(device, llm, cfg, **kwargs)


class Recorder(AgentCallbacks):
    def __init__(self) -> None:
        self.thinking: list[str] = []
        self.actions: list[str] = []
        self.ended = None

    def on_thinking(self, text: str) -> None:
        self.thinking.append(text)

    def on_action(self, index, action) -> None:
        self.actions.append(action.to_call())

    def on_run_end(self, result) -> None:
        self.ended = result


def test_open_settings_with_trajectory(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(
        answer('do(action="Launch", app="Settings")', "The home screen is shown; I launch Settings."),
        answer('finish(message="Settings is open")', "Settings is on screen."),
    )
    events = Recorder()
    agent = make_agent(device, endpoint, tmp_path)
    agent.callbacks = events
    result = agent.run("open settings")

    assert result.status == "success", result.message
    assert result.steps == 2
    assert fresh_simulator.phone.current_focus()[0] == "com.android.settings"
    assert "".join(events.thinking).startswith("The home screen is shown")
    assert events.actions == ['do(action="Launch", app="Settings")', 'finish(message="Settings is open")']
    assert events.ended is result

    # what the model was sent: system prompt, the task, one image, thinking switched on
    first = endpoint.requests[0]
    assert first["messages"][0]["role"] == "system"
    user = first["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in user)
    assert "open settings" in json.dumps(first["messages"])
    # the model name chose the autoglm profile: the reference client's sampling, no extra fields
    assert agent.profile.name == "autoglm"
    assert (first["temperature"], first["top_p"], first["max_tokens"]) == (0.0, 0.85, 3000)
    assert "enable_thinking" not in first and "chat_template_kwargs" not in first
    second = endpoint.requests[1]
    assert (
        sum(
            1
            for m in second["messages"]
            for p in (m["content"] if isinstance(m["content"], list) else [])
            if isinstance(p, dict) and p.get("type") == "image_url"
        )
        == 1
    ), "only the current screenshot is sent"

    run_dir = result.trajectory_dir
    assert run_dir is not None
    lines = (run_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    steps = [json.loads(line) for line in lines]
    assert steps[0]["action_call"] == 'do(action="Launch", app="Settings")'
    assert steps[0]["reasoning"].startswith("The home screen")
    assert (run_dir / steps[0]["screenshot"]).is_file()
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Step 1" in report and "Step 2" in report and "data:image/jpeg;base64," in report
    assert json.loads((run_dir / "result.json").read_text())["status"] == "success"


def test_type_chinese_into_notes(fresh_simulator, device, endpoint, tmp_path):
    text = "买牛奶 and eggs 🥚"
    sim = fresh_simulator
    endpoint.add(
        answer('do(action="Launch", app="Notes")'),
        tap_on(sim, lambda a: a.get("content-desc") in ("New note", "新建笔记") or a.get("text") == "+"),
        answer(f'do(action="Type", text="{text}")'),
        tap_on(sim, lambda a: a.get("text") in ("Save", "保存")),
        answer('finish(message="note saved")'),
    )
    result = make_agent(device, endpoint, tmp_path).run("write a note: " + text)
    assert result.status == "success", result.message
    bodies = json.dumps(sim.phone.state.model_dump(mode="json")["notes"], ensure_ascii=False)
    assert text in bodies


def test_malformed_answer_is_reasked(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(
        "I think I should probably open something",
        answer('do(action="Home")'),
        answer('finish(message="done")'),
    )
    result = make_agent(device, endpoint, tmp_path, profile="generic").run("go home")
    assert result.status == "success"
    assert result.records[0].parse_errors, "the first answer had no action"
    # the model was shown its parse error on the retry
    retry = endpoint.requests[1]["messages"]
    assert "could not be parsed" in json.dumps(retry)


def test_autoglm_profile_reasks_without_adding_text(fresh_simulator, device, endpoint, tmp_path):
    """AutoGLM-Phone-9B never saw an error turn: the same request goes again, a little less greedy."""
    endpoint.add(
        "I think I should probably open something",
        answer('do(action="Home")'),
        answer('finish(message="done")'),
    )
    result = make_agent(device, endpoint, tmp_path, profile="autoglm").run("go home")
    assert result.status == "success"
    assert result.records[0].parse_errors
    first, retry = endpoint.requests[0], endpoint.requests[1]
    assert retry["messages"] == first["messages"]  # nothing the model was not trained on
    assert first["temperature"] == 0.0 and retry["temperature"] > 0.0
    assert endpoint.requests[2]["temperature"] == 0.0  # the next step is greedy again


def test_garbage_every_time_is_a_failure_not_a_finish(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(*["no action here </answer>"] * 3)
    result = make_agent(device, endpoint, tmp_path, parse_retries=2).run("open settings")
    assert result.status == "failure"
    assert "no valid action" in result.message


def test_loop_detection_stops(fresh_simulator, device, endpoint, tmp_path):
    # tapping the middle of an empty status bar changes nothing; the status bar clock is frozen,
    # since a minute turning over during the run is a real change of the screen
    frozen = datetime(2026, 12, 6, 9, 41)
    fresh_simulator.phone.clock = lambda: frozen
    endpoint.add(*[answer('do(action="Tap", element=[500,5])')] * 6)
    result = make_agent(device, endpoint, tmp_path, loop_limit=3).run("do something")
    assert result.status == "stopped"
    assert "loop detected" in result.message
    assert result.steps == 3


def test_sensitive_tap_fails_closed(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(answer('do(action="Tap", element=[500,500], message="pay 100 yuan")'))
    before = len(fresh_simulator.command_log)
    result = make_agent(device, endpoint, tmp_path).run("buy it")
    assert result.status == "stopped"
    assert "confirm" in result.message
    taps = [r for r in fresh_simulator.command_log[before:] if "input tap" in r.command]
    assert taps == [], "nothing may be tapped without confirmation"


def test_sensitive_tap_confirmed(fresh_simulator, device, endpoint, tmp_path):
    asked: list[str] = []
    endpoint.add(
        answer('do(action="Tap", element=[500,500], message="send it")'), answer('finish(message="ok")')
    )
    llm = ChatAutoGLM(base_url=endpoint.base_url, max_retries=0)
    agent = PhoneAgent(device, llm, AgentConfig(), confirm=lambda m, a: asked.append(m) or True)
    result = agent.run("send")
    assert result.status == "success"
    assert asked == ["send it"]


def test_endpoint_down_is_a_clear_failure(fresh_simulator, device, tmp_path):
    llm = ChatAutoGLM(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    agent = PhoneAgent(device, llm, AgentConfig(llm_retries=1, llm_backoff_s=0.0, trajectory_dir=tmp_path))
    result = agent.run("open settings")
    assert result.status == "failure"
    assert "not reachable" in result.message


def test_endpoint_error_is_retried(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(ScriptedError(503, "busy"), answer('finish(message="ok")'))
    result = make_agent(device, endpoint, tmp_path, llm_retries=2).run("nothing to do")
    assert result.status == "success"


def test_cli_runs_a_task_with_json_output(fresh_simulator, endpoint, tmp_path):
    endpoint.add(answer('do(action="Launch", app="Settings")'), answer('finish(message="Settings is open")'))
    env = {**os.environ, "AUTOGLM_TRAJECTORY_DIR": str(tmp_path / "runs")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autoglm_agent.cli",
            "--device",
            fresh_simulator.serial,
            "--base-url",
            endpoint.base_url,
            "--json",
            "open settings",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "success" and out["steps"] == 2
    assert fresh_simulator.phone.current_focus()[0] == "com.android.settings"
    report = Path(out["trajectory_dir"]) / "report.html"
    assert report.is_file()


def test_cli_errors_are_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autoglm_agent.cli",
            "--device",
            "nosuch:1234",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "open settings",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_apps_lists_what_launch_can_open(simulator):
    proc = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "apps", "--device", simulator.serial, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    apps = {a["package"]: a for a in json.loads(proc.stdout)}
    assert apps["com.android.settings"]["name"] == "Settings"
    assert "设置" in apps["com.android.settings"]["names"]
    assert apps["com.android.settings"]["component"].startswith("com.android.settings/")
    assert "com.android.launcher3" not in apps  # the home screen is not an app to launch
    table = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "apps", "--device", simulator.serial],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert table.returncode == 0 and "com.android.deskclock" in table.stdout and "Clock" in table.stdout
