"""Reliability: faults in the middle of a run, on the real stack.

simulator <- real adb server <- AdbDevice <- PhoneAgent -> ChatAutoGLM -> ScriptedEndpoint (or a
broken HTTP server). For each fault — the phone dies, the phone freezes, the endpoint goes down,
answers errors, hangs or sends something that is not a chat completion, the model answers garbage
for several steps — the run must

* end with a clear status (``failure`` / ``stopped``) and a one-line message, no exception out of
  ``run()``;
* leave a complete trajectory up to the fault (every finished step in ``steps.jsonl``,
  ``report.html`` rendered, ``result.json`` with the status);
* return in bounded time (the device timeout and the endpoint timeout bound every wait);
* leave the agent usable: the next run works once the fault is gone.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from autoglm_agent.agent import AgentCallbacks, AgentConfig, AgentResult, PhoneAgent, StepRecord
from autoglm_agent.device import AdbDevice
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.llm import ChatAutoGLM
from autoglm_agent.sim.phone import Phone
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.testing.scripted import ScriptedEndpoint, ScriptedError
from autoglm_agent.trajectory import TrajectoryError

#: Every ADB call of the device under test is bounded by this (the "frozen phone" test waits it out).
DEVICE_TIMEOUT_S = 3.0
#: A faulty run must return well within this.
RUN_BOUND_S = 60.0

LAUNCHER = "com.android.launcher3"


def answer(call: str, thinking: str = "I look at the screen.") -> str:
    return f"<think>{thinking}</think><answer>{call}</answer>"


HOME = answer('do(action="Home")')
FINISH = answer('finish(message="done")')


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint() as ep:
        yield ep


@pytest.fixture
def device(fresh_simulator: Simulator) -> Iterator[AdbDevice]:
    with AdbDevice(fresh_simulator.serial, timeout=DEVICE_TIMEOUT_S) as dev:
        yield dev


def make_llm(base_url: str, *, timeout: float = 10.0) -> ChatAutoGLM:
    return ChatAutoGLM(base_url=base_url, model="autoglm-phone-9b", max_retries=0, timeout=timeout)


def make_agent(
    device: AdbDevice,
    base_url: str,
    tmp_path: Path,
    *,
    llm_timeout: float = 10.0,
    callbacks: AgentCallbacks | None = None,
    **config: Any,
) -> PhoneAgent:
    cfg = AgentConfig(
        trajectory_dir=tmp_path / "runs",
        llm_backoff_s=0.0,
        settle_timeout_s=1.0,
        settle_min_change_s=0.1,
        **config,
    )
    return PhoneAgent(device, make_llm(base_url, timeout=llm_timeout), cfg, callbacks=callbacks)


def timed_run(agent: PhoneAgent, task: str) -> tuple[AgentResult, float]:
    t0 = time.monotonic()
    result = agent.run(task)
    return result, time.monotonic() - t0


def assert_status_line(result: AgentResult, status: str, *needles: str) -> None:
    assert result.status == status, f"{result.status}: {result.message}"
    message = result.message
    assert message.strip(), "a failed run must say why"
    assert "\n" not in message and "Traceback" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


class _ReportParser(HTMLParser):
    """Collects the step headings and the status badge of a report, and checks it parses."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.status_classes: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        cls = dict(attrs).get("class") or ""
        if tag == "span" and cls.startswith("st "):
            self.status_classes.append(cls.split()[1])

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2[-1] += data


def check_trajectory(result: AgentResult, *, steps: int) -> list[dict[str, Any]]:
    """The run folder is complete up to the end of the run; returns the steps as written."""
    assert result.steps == steps == len(result.records)
    run_dir = result.trajectory_dir
    assert run_dir is not None and run_dir.is_dir()
    raw = (run_dir / "steps.jsonl").read_text(encoding="utf-8")
    assert raw.endswith("\n"), "every step line is complete"
    written = [json.loads(line) for line in raw.split("\n") if line]
    assert [s["index"] for s in written] == list(range(1, steps + 1))
    for step, record in zip(written, result.records, strict=True):
        assert step == record.model_dump(mode="json")
        if step["screenshot"] is not None:
            assert (run_dir / step["screenshot"]).is_file()
    saved = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert saved["status"] == result.status and saved["message"] == result.message
    assert saved["steps"] == steps
    parser = _ReportParser()
    parser.feed((run_dir / "report.html").read_text(encoding="utf-8"))
    parser.close()
    assert [h.split()[:2] for h in parser.h2] == [["Step", str(i)] for i in range(1, steps + 1)]
    assert parser.status_classes == [result.status]
    return written


class EndAfter(AgentCallbacks):
    """Runs ``action`` when step ``index`` has ended (on the agent's thread)."""

    def __init__(self, index: int, action: Callable[[], None]) -> None:
        self.index = index
        self.action = action
        self.retries: list[str] = []

    def on_step_end(self, record: StepRecord) -> None:
        if record.index == self.index:
            self.action()

    def on_retry(self, index: int, attempt: int, error: str) -> None:
        self.retries.append(error)


class Freezer:
    """Holds the simulated phone's lock from another thread: the phone stops answering (every
    command that touches it blocks) until ``thaw()``, like a frozen real phone."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone
        self._frozen = threading.Event()
        self._thaw = threading.Event()
        self._thread: threading.Thread | None = None

    def freeze(self) -> None:
        def hold() -> None:
            with self.phone.lock:
                self._frozen.set()
                self._thaw.wait(RUN_BOUND_S)

        self._thread = threading.Thread(target=hold, name="phone-freezer", daemon=True)
        self._thread.start()
        assert self._frozen.wait(5.0)

    def thaw(self) -> None:
        self._thaw.set()
        if self._thread is not None:
            self._thread.join(5.0)


# =========================================================================== the phone fails


def test_simulator_dies_mid_task_and_comes_back_on_the_same_port(fresh_simulator, device, endpoint, tmp_path):
    sim = fresh_simulator
    port = sim.port

    def die_then_tap(_body: dict[str, Any]) -> str:
        sim.stop(disconnect=False)  # the phone goes away while the model is thinking
        return answer('do(action="Tap", element=[500,500])')

    endpoint.add(answer('do(action="Launch", app="Settings")'), die_then_tap)
    agent = make_agent(device, endpoint.base_url, tmp_path)
    result, elapsed = timed_run(agent, "open settings and tap the middle")

    assert elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", "device error", sim.serial)
    steps = check_trajectory(result, steps=2)
    assert steps[0]["outcome"] == "done" and steps[0]["error"] is None
    assert steps[1]["action_call"] == 'do(action="Tap", element=[500,500])'
    assert steps[1]["outcome"] == "failure" and sim.serial in steps[1]["error"]
    assert steps[1]["screenshot"] is not None, "the screen the model saw before the fault is kept"
    assert endpoint.failures == []

    # the phone comes back on the same port; the same agent, on the same AdbDevice, carries on
    sim.start()
    assert sim.port == port
    assert sim.phone.current_focus()[0] == "com.android.settings", "the phone kept its state"
    endpoint.add(HOME, FINISH)
    again, _ = timed_run(agent, "go home")
    assert_status_line(again, "success")
    assert sim.phone.current_focus()[0] == LAUNCHER
    check_trajectory(again, steps=2)
    assert again.trajectory_dir != result.trajectory_dir


def test_simulator_dies_during_an_action_then_a_new_agent_works(fresh_simulator, device, endpoint, tmp_path):
    sim = fresh_simulator
    timers: list[threading.Timer] = []

    class DieDuringTheAction(AgentCallbacks):
        def on_action(self, index: int, action: Any) -> None:
            timer = threading.Timer(0.2, lambda: sim.stop(disconnect=False))
            timers.append(timer)
            timer.start()  # dies while the agent waits, before it looks at the screen again

    endpoint.add(answer('do(action="Wait", duration="2 seconds")'))
    agent = make_agent(device, endpoint.base_url, tmp_path, max_wait_s=1.5, callbacks=DieDuringTheAction())
    result, elapsed = timed_run(agent, "wait for the page")
    for timer in timers:
        timer.join(5.0)
    assert elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", "device error")
    steps = check_trajectory(result, steps=1)
    assert steps[0]["action_call"] == 'do(action="Wait", duration="2 seconds")'

    # while it stays dead, a new run fails at once, before asking the model anything
    asked = len(endpoint.requests)
    dead, elapsed = timed_run(agent, "open settings")
    assert elapsed < 2 * DEVICE_TIMEOUT_S + 5
    assert_status_line(dead, "failure", "device error", "offline")
    steps = check_trajectory(dead, steps=1)
    assert steps[0]["screenshot"] is None
    assert "no screenshot" in (dead.trajectory_dir / "report.html").read_text(encoding="utf-8")
    assert len(endpoint.requests) == asked

    # back again: a new device connection and a new agent work
    sim.start()
    endpoint.add(answer('do(action="Launch", app="Settings")'), FINISH)
    with AdbDevice(sim.serial, timeout=DEVICE_TIMEOUT_S) as fresh_device:
        ok, _ = timed_run(make_agent(fresh_device, endpoint.base_url, tmp_path), "open settings")
    assert_status_line(ok, "success")
    assert sim.phone.current_focus()[0] == "com.android.settings"


def test_frozen_phone_is_bounded_by_the_device_timeout(fresh_simulator, device, endpoint, tmp_path):
    sim = fresh_simulator
    freezer = Freezer(sim.phone)

    def freeze_then_tap(_body: dict[str, Any]) -> str:
        freezer.freeze()
        return answer('do(action="Tap", element=[500,500])')

    endpoint.add(HOME, freeze_then_tap)
    agent = make_agent(device, endpoint.base_url, tmp_path)
    try:
        result, elapsed = timed_run(agent, "tap the middle")
    finally:
        freezer.thaw()
    assert DEVICE_TIMEOUT_S <= elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", "did not answer", f"{DEVICE_TIMEOUT_S:g}s")
    steps = check_trajectory(result, steps=2)
    assert steps[1]["outcome"] == "failure"

    # the phone answers again: the same agent works
    endpoint.add(answer('do(action="Launch", app="Settings")'), FINISH)
    again, _ = timed_run(agent, "open settings")
    assert_status_line(again, "success")
    assert sim.phone.current_focus()[0] == "com.android.settings"


def test_run_on_a_device_that_is_gone_fails_fast(fresh_simulator, device, endpoint, tmp_path):
    fresh_simulator.stop()  # disconnected: the adb server forgets the serial
    result, elapsed = timed_run(make_agent(device, endpoint.base_url, tmp_path), "open settings")
    assert elapsed < 2 * DEVICE_TIMEOUT_S + 5
    assert_status_line(result, "failure", "device error", fresh_simulator.serial)
    check_trajectory(result, steps=1)
    assert endpoint.requests == []


# =========================================================================== the endpoint fails


def test_endpoint_goes_down_mid_task_then_a_new_endpoint_works(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(answer('do(action="Launch", app="Settings")'), HOME, FINISH)
    events = EndAfter(2, endpoint.stop)
    agent = make_agent(device, endpoint.base_url, tmp_path, llm_retries=2, callbacks=events)
    result, elapsed = timed_run(agent, "open settings, then go home")

    assert elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", "not reachable", "--base-url")
    steps = check_trajectory(result, steps=3)
    assert [s["outcome"] for s in steps] == ["done", "done", "failure"]
    assert steps[2]["action_call"] is None and steps[2]["screenshot"] is not None
    assert len(events.retries) == 2, "connection failures are retried, then given up"
    assert fresh_simulator.phone.current_focus()[0] == LAUNCHER, "the finished steps really happened"

    with ScriptedEndpoint([answer('do(action="Launch", app="Settings")'), FINISH]) as second:
        agent = make_agent(device, second.base_url, tmp_path)
        ok, _ = timed_run(agent, "open settings")
    assert_status_line(ok, "success")
    assert fresh_simulator.phone.current_focus()[0] == "com.android.settings"


def test_endpoint_errors_mid_task_then_the_same_agent_works(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(HOME, *[ScriptedError(503, "the model is overloaded")] * 3)
    events = EndAfter(0, lambda: None)
    agent = make_agent(device, endpoint.base_url, tmp_path, llm_retries=2, callbacks=events)
    result, elapsed = timed_run(agent, "go home and more")
    assert elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", "HTTP 503", "the model is overloaded")
    check_trajectory(result, steps=2)
    assert len(events.retries) == 2
    assert endpoint.remaining == 0

    endpoint.add(FINISH)
    again, _ = timed_run(agent, "nothing to do")
    assert_status_line(again, "success")
    assert again.steps == 1


def test_endpoint_that_hangs_is_bounded_by_the_client_timeout(fresh_simulator, device, endpoint, tmp_path):
    release = threading.Event()

    def hang(_body: dict[str, Any]) -> str:
        release.wait(RUN_BOUND_S)  # never answers while the client waits
        return FINISH

    endpoint.add(HOME, hang, hang)
    agent = make_agent(device, endpoint.base_url, tmp_path, llm_retries=1, llm_timeout=1.0)
    try:
        result, elapsed = timed_run(agent, "go home and wait")
    finally:
        release.set()
    assert elapsed < 20
    assert_status_line(result, "failure", "timed out")
    check_trajectory(result, steps=2)

    endpoint.add(FINISH)
    again, _ = timed_run(agent, "nothing to do")
    assert_status_line(again, "success")


class _BrokenHandler(BaseHTTPRequestHandler):
    """An HTTP server at the base URL that is not (or no longer) a working chat endpoint."""

    protocol_version = "HTTP/1.1"
    mode = "html"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, content_type: str, body: bytes, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunk = {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "<answer>do(action="}, "finish_reason": None}],
        }
        match self.mode:
            case "html":  # a captive portal or a proxy's error page, with status 200
                self._send("text/html", b"<html><body><h1>502 Bad Gateway</h1>\n</body></html>")
            case "bad-json":
                self._send("text/event-stream", b"data: {not json\n\n")
            case "not-a-completion":
                self._send("application/json", b'{"hello": "world"}')
            case "error-event":
                body = b'data: {"error": {"message": "engine\\ncrashed", "type": "server_error"}}\n\n'
                self._send("text/event-stream", body)
            case "cut-off":  # the server dies in the middle of the answer
                data = f"data: {json.dumps(chunk)}\n\n".encode()
                self._send("text/event-stream", data, length=len(data) + 1000)
                self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def broken_server() -> Iterator[tuple[str, type[_BrokenHandler]]]:
    handler = type("Handler", (_BrokenHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("mode", "needles"),
    [
        ("html", ("not a chat completion", "--base-url")),
        ("bad-json", ("not a chat completion", "JSONDecodeError")),
        ("not-a-completion", ("not a chat completion",)),
        ("error-event", ("reported an error", "engine crashed")),
        ("cut-off", ("not reachable",)),
    ],
)
def test_endpoint_that_sends_no_chat_completion_is_a_clear_failure(
    home_simulator, broken_server, tmp_path, mode, needles
):
    base_url, handler = broken_server
    handler.mode = mode
    with AdbDevice(home_simulator.serial, timeout=DEVICE_TIMEOUT_S) as dev:
        agent = make_agent(dev, base_url, tmp_path, llm_retries=1, llm_timeout=5.0)
        result, elapsed = timed_run(agent, "open settings")
    assert elapsed < 20
    assert_status_line(result, "failure", *needles)
    check_trajectory(result, steps=1)


# =========================================================================== the model fails

GARBAGE = [
    "",
    "I think I should probably open something",
    "<answer></answer>",
    'do(action="Fly", to="moon")',
    'do(action="Tap", element=[1500, -20])',
    'do(action="Tap", element="the middle")',
    'finish(message="never closed',
    "\x00\x01\x02 \ufffd binary noise",
    '{"action": "Tap", "element": [1, 2]}',
    'do(action="Swipe", start=[100,200])',
    "blah " * 4000,
]


def test_garbage_for_several_steps_is_reasked_and_recovers(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(
        GARBAGE[1],
        answer('do(action="Launch", app="Settings")'),
        GARBAGE[3],
        GARBAGE[6],
        HOME,
        GARBAGE[9],
        FINISH,
    )
    agent = make_agent(device, endpoint.base_url, tmp_path, parse_retries=2, profile="generic")
    result, _ = timed_run(agent, "open settings and go back home")
    assert_status_line(result, "success")
    steps = check_trajectory(result, steps=3)
    assert [len(s["parse_errors"]) for s in steps] == [1, 2, 1]
    assert fresh_simulator.phone.current_focus()[0] == LAUNCHER
    # each re-ask showed the model its own answer and what was wrong with it
    retry = json.dumps(endpoint.requests[3]["messages"], ensure_ascii=False)
    assert "never closed" not in retry and "Fly" in retry and "not a known action" in retry


def test_garbage_every_time_fails_with_the_errors_recorded(fresh_simulator, device, endpoint, tmp_path):
    endpoint.add(*[answer(g, "thinking...") if i % 2 else g for i, g in enumerate(GARBAGE)])
    before = len(fresh_simulator.command_log)
    # the generic profile explains each parse error to the model (autoglm re-asks silently)
    agent = make_agent(device, endpoint.base_url, tmp_path, parse_retries=len(GARBAGE) - 1, profile="generic")
    result, elapsed = timed_run(agent, "open settings")
    assert elapsed < RUN_BOUND_S
    assert_status_line(result, "failure", f"no valid action after {len(GARBAGE)} tries")
    steps = check_trajectory(result, steps=1)
    assert len(steps[0]["parse_errors"]) == len(GARBAGE)
    assert steps[0]["action_call"] is None
    report = (result.trajectory_dir / "report.html").read_text(encoding="utf-8")
    assert report.count("parse error:") == len(GARBAGE)
    actions = [r for r in fresh_simulator.command_log[before:] if r.argv and r.argv[0][0] in ("input", "am")]
    assert actions == [], "nothing is done on the phone for an answer that does not parse"

    endpoint.add(answer('do(action="Launch", app="Settings")'), FINISH)
    again, _ = timed_run(agent, "open settings")
    assert_status_line(again, "success")


def test_a_long_wait_is_bounded(home_simulator, endpoint, tmp_path):
    endpoint.add(answer('do(action="Wait", duration="86400 seconds")'), FINISH)
    with AdbDevice(home_simulator.serial, timeout=DEVICE_TIMEOUT_S) as dev:
        agent = make_agent(dev, endpoint.base_url, tmp_path, max_wait_s=0.3)
        result, elapsed = timed_run(agent, "wait a day")
    assert_status_line(result, "success")
    assert elapsed < 10
    assert result.records[0].action == {"action": "Wait", "seconds": 60.0}


def test_an_unwritable_trajectory_folder_is_a_clear_error_before_anything_runs(
    home_simulator, endpoint, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs should go", encoding="utf-8")
    endpoint.add(HOME)
    with AdbDevice(home_simulator.serial, timeout=DEVICE_TIMEOUT_S) as dev:
        agent = PhoneAgent(dev, make_llm(endpoint.base_url), AgentConfig(trajectory_dir=blocker / "runs"))
        with pytest.raises(TrajectoryError) as info:
            agent.run("go home")
    assert isinstance(info.value, AutoGLMError)
    assert str(blocker) in str(info.value) and "\n" not in str(info.value)
    assert endpoint.requests == [] and home_simulator.command_log == []
