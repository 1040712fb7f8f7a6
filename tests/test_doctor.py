"""``autoglm-agent doctor`` and the preflight, against real parts: the simulator behind the real adb
server, and ``ScriptedEndpoint`` (a real HTTP server) as the model endpoint.

The shared adb server may see other simulators (other tests, other sessions), so tests that need
"no device" or "several devices" use a private adb server on a free port.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from autoglm_agent import cli
from autoglm_agent.device import AdbDevice
from autoglm_agent.device.text import ADB_KEYBOARD_IME, ADB_KEYBOARD_PACKAGE
from autoglm_agent.doctor import Check, PreflightError, mask_url, preflight, raise_on_errors, run_checks
from autoglm_agent.sim.runner import Simulator
from autoglm_agent.testing.scripted import ScriptedEndpoint

KEY = "sk-doctor-secret-4711"
MODEL = "autoglm-phone-9b"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "AUTOGLM_DEVICE",
        "AUTOGLM_BASE_URL",
        "AUTOGLM_MODEL",
        "AUTOGLM_API_KEY",
        "OPENAI_API_KEY",
        "ANDROID_SERIAL",
        "ADBUTILS_ADB_PATH",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def sim(home_simulator: Simulator) -> Iterator[Simulator]:
    """The shared simulator with a fresh phone, given back fresh (these tests change its IMEs)."""
    yield home_simulator
    home_simulator.reset()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ScriptedEndpoint]:
    with ScriptedEndpoint(model=MODEL, api_key=KEY) as ep:
        yield ep


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shell(sim: Simulator, *args: str) -> str:
    with AdbDevice(sim.serial) as dev:
        return dev.shell(*args).text


def _enable_adb_keyboard(sim: Simulator) -> None:
    assert "enabled" in _shell(sim, "ime", "enable", ADB_KEYBOARD_IME)


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _all_text(checks: list[Check]) -> str:
    return json.dumps([c.model_dump() for c in checks])


# ------------------------------------------------------------------------------- all good


def test_everything_ready(sim: Simulator, endpoint: ScriptedEndpoint) -> None:
    _enable_adb_keyboard(sim)
    checks = run_checks(
        serial=sim.serial,
        base_url=endpoint.base_url,
        model=MODEL,
        api_key=KEY,
        profile_line="autoglm (prompt from phone-agent 0.1.1)",
    )
    assert [c.name for c in checks] == ["adb", "device", "ADB Keyboard", "endpoint", "profile"]
    assert all(c.ok for c in checks), checks
    by = _by_name(checks)
    assert sim.serial in by["device"].detail
    assert "server 1.0." in by["adb"].detail
    assert f"serves {MODEL}" in by["endpoint"].detail
    assert by["profile"].detail == "autoglm (prompt from phone-agent 0.1.1)"
    assert KEY not in _all_text(checks)
    assert all("\n" not in c.detail for c in checks)

    sim.clear_command_log()
    assert preflight(serial=sim.serial, base_url=endpoint.base_url, model=MODEL, api_key=KEY) == []
    # the preflight asks the phone one shell command (the adb server answers the device listing)
    assert len(sim.command_log) == 1, sim.command_log


def test_no_base_url_means_the_embedded_demo_model(sim: Simulator) -> None:
    _enable_adb_keyboard(sim)
    checks = run_checks(serial=sim.serial, base_url=None, model=MODEL, api_key=None)
    endpoint_check = _by_name(checks)["endpoint"]
    assert endpoint_check.ok and "embedded demo model" in endpoint_check.detail
    assert preflight(serial=sim.serial, base_url=None, model=MODEL, api_key=None) == []


# ------------------------------------------------------------------------------- endpoint


def test_wrong_model_name_lists_the_served_names(sim: Simulator, endpoint: ScriptedEndpoint) -> None:
    checks = run_checks(serial=sim.serial, base_url=endpoint.base_url, model="glm-4v", api_key=KEY)
    c = _by_name(checks)["endpoint"]
    assert not c.ok and c.severity == "error"
    assert "does not serve glm-4v" in c.detail and MODEL in c.detail
    assert c.fix == f"pass --model {MODEL}"


def test_wrong_or_missing_api_key(sim: Simulator, endpoint: ScriptedEndpoint) -> None:
    wrong = "sk-not-the-right-one-99"
    c = _by_name(run_checks(serial=sim.serial, base_url=endpoint.base_url, model=MODEL, api_key=wrong))[
        "endpoint"
    ]
    assert not c.ok and c.severity == "error"
    assert "wrong key" in c.detail and "401" in c.detail
    assert "--api-key" in (c.fix or "")
    assert wrong not in c.detail + (c.fix or "") and KEY not in c.detail + (c.fix or "")

    c = _by_name(run_checks(serial=sim.serial, base_url=endpoint.base_url, model=MODEL, api_key=None))[
        "endpoint"
    ]
    assert not c.ok and "none was given" in c.detail


def test_api_key_from_the_environment_like_a_run(
    sim: Simulator, endpoint: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # ChatAutoGLM falls back to it, so the doctor does too
    c = _by_name(run_checks(serial=sim.serial, base_url=endpoint.base_url, model=MODEL, api_key=None))[
        "endpoint"
    ]
    assert c.ok, c


def test_endpoint_down(sim: Simulator) -> None:
    url = f"http://user:hunter2@127.0.0.1:{_free_port()}/v1?token=abc"  # nothing listens there
    checks = run_checks(serial=sim.serial, base_url=url, model=MODEL, api_key=KEY)
    c = _by_name(checks)["endpoint"]
    assert not c.ok and c.severity == "error"
    assert "connection refused" in c.detail
    assert c.fix == "start it (autoglm-agent serve) or check --base-url"
    assert "hunter2" not in c.detail and "abc" not in c.detail  # the URL is masked

    problems = preflight(serial=sim.serial, base_url=url, model=MODEL, api_key=KEY)
    assert [p.name for p in problems if p.severity == "error"] == ["endpoint"]
    # a run on its own simulator: only the endpoint is asked
    problems = preflight(serial=None, base_url=url, model=MODEL, api_key=KEY, check_device=False)
    assert [p.name for p in problems] == ["endpoint"]


def test_base_url_that_is_not_an_api_root(sim: Simulator, endpoint: ScriptedEndpoint) -> None:
    root = endpoint.base_url.removesuffix("/v1") + "/api"
    c = _by_name(run_checks(serial=sim.serial, base_url=root, model=MODEL, api_key=KEY))["endpoint"]
    assert not c.ok and "404" in c.detail and "/v1" in (c.fix or "")
    c = _by_name(run_checks(serial=sim.serial, base_url="127.0.0.1:8000/v1", model=MODEL, api_key=KEY))[
        "endpoint"
    ]
    assert not c.ok and "not an http(s) URL" in c.detail


def test_base_url_of_a_web_page_and_of_a_stalled_server(sim: Simulator) -> None:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>a router login page</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        (c,) = preflight(serial=sim.serial, base_url=url, model=MODEL, api_key=KEY, profile_line=None)[-1:]
        assert c.name == "endpoint" and c.severity == "error"
        assert "did not answer like an OpenAI-compatible API" in c.detail and "/v1" in (c.fix or "")
    finally:
        server.shutdown()
        server.server_close()

    with socket.socket() as stalled:  # accepts connections (backlog) but never answers
        stalled.bind(("127.0.0.1", 0))
        stalled.listen()
        url = f"http://127.0.0.1:{stalled.getsockname()[1]}/v1"
        (c,) = preflight(serial=sim.serial, base_url=url, model=MODEL, api_key=KEY, timeout=1.0)[-1:]
        assert c.name == "endpoint" and "did not answer GET /models within 1s" in c.detail


# ------------------------------------------------------------------------------- device


def test_unknown_serial(endpoint: ScriptedEndpoint) -> None:
    checks = run_checks(serial="10.9.8.7:5555", base_url=endpoint.base_url, model=MODEL, api_key=KEY)
    by = _by_name(checks)
    assert not by["device"].ok and by["device"].severity == "error"
    assert "10.9.8.7:5555 not found" in by["device"].detail
    assert by["device"].fix == "connect it with `autoglm-agent connect 10.9.8.7:5555`"
    assert not by["ADB Keyboard"].ok and "not checked" in by["ADB Keyboard"].detail
    assert by["endpoint"].ok  # the other checks still run

    problems = preflight(serial="10.9.8.7:5555", base_url=endpoint.base_url, model=MODEL, api_key=KEY)
    assert [p.name for p in problems] == ["device"]
    with pytest.raises(PreflightError) as err:
        raise_on_errors(problems)
    assert "10.9.8.7:5555 not found" in str(err.value) and "autoglm-agent connect" in str(err.value)


def test_no_device_then_several_then_one(private_adb: int) -> None:
    port = private_adb
    c = _by_name(run_checks(serial=None, base_url=None, model=MODEL, api_key=None, adb_port=port))["device"]
    assert not c.ok and c.detail == "no Android device is connected"
    assert "autoglm-agent connect HOST:PORT" in (c.fix or "") and "autoglm-agent sim" in (c.fix or "")

    with Simulator(seed=0, adb_port=port) as a:
        with Simulator(seed=0, adb_port=port) as b:
            c = _by_name(run_checks(serial=None, base_url=None, model=MODEL, api_key=None, adb_port=port))[
                "device"
            ]
            assert not c.ok and c.detail.startswith("2 devices are connected")
            assert a.serial in c.detail and b.serial in c.detail
            assert "--device" in (c.fix or "")
            # naming one of them is fine
            checks = run_checks(serial=b.serial, base_url=None, model=MODEL, api_key=None, adb_port=port)
            assert _by_name(checks)["device"].ok
        checks = run_checks(serial=None, base_url=None, model=MODEL, api_key=None, adb_port=port)
        c = _by_name(checks)["device"]
        assert c.ok and a.serial in c.detail
        assert _by_name(checks)["ADB Keyboard"].severity == "warning"  # asked: installed, not enabled


def test_adb_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "/nonexistent/adb")  # the device layer's own override
    port = _free_port()  # no adb server there, and no binary to start one
    checks = run_checks(serial=None, base_url=None, model=MODEL, api_key=None, adb_port=port)
    by = _by_name(checks)
    assert not by["adb"].ok and by["adb"].severity == "error"
    assert "apt install adb" in (by["adb"].fix or "")
    assert "not checked" in by["device"].detail
    problems = preflight(serial=None, base_url=None, model=MODEL, api_key=None, adb_port=port)
    assert [p.name for p in problems] == ["adb"]


# ------------------------------------------------------------------------------- ADB Keyboard


def test_adb_keyboard_not_enabled(sim: Simulator) -> None:
    _enable_adb_keyboard(sim)
    assert "disabled" in _shell(sim, "ime", "disable", ADB_KEYBOARD_IME)
    c = _by_name(run_checks(serial=sim.serial, base_url=None, model=MODEL, api_key=None))["ADB Keyboard"]
    assert not c.ok and c.severity == "warning"
    assert "installed" in c.detail and "not enabled" in c.detail
    assert c.fix == f"enable it: `adb -s {sim.serial} shell ime enable {ADB_KEYBOARD_IME}`"
    problems = preflight(serial=sim.serial, base_url=None, model=MODEL, api_key=None)
    assert [p.name for p in problems] == ["ADB Keyboard"]
    raise_on_errors(problems)  # a warning does not stop a run


def test_adb_keyboard_not_installed(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    import autoglm_agent.sim.apps as sim_apps

    # a phone without the APK: the simulator's system packages minus ADB Keyboard
    monkeypatch.setattr(
        sim_apps,
        "SYSTEM_PACKAGES",
        [a for a in sim_apps.SYSTEM_PACKAGES if a.package != ADB_KEYBOARD_PACKAGE],
    )
    c = _by_name(run_checks(serial=sim.serial, base_url=None, model=MODEL, api_key=None))["ADB Keyboard"]
    assert not c.ok and c.severity == "warning"
    assert "non-ASCII text (Chinese) cannot be typed" in c.detail
    assert "https://github.com/senzhk/ADBKeyBoard" in (c.fix or "")
    assert f"ime enable {ADB_KEYBOARD_IME}" in (c.fix or "")


# ------------------------------------------------------------------------------- pieces


def test_profile_line_warning_and_one_line_texts() -> None:
    checks = preflight(
        serial="nope:1",
        base_url=None,
        model=MODEL,
        api_key=None,
        profile_line="custom prompt\n(not checked against a model)",
        profile_ok=False,
    )
    p = _by_name(checks)["profile"]
    assert p.severity == "warning" and p.mark == "!"
    assert p.detail == "custom prompt (not checked against a model)"


def test_mask_url() -> None:
    assert mask_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert mask_url("https://bob:pw@host/v1?key=s3cret&x") == "https://bob:****@host/v1?key=****&x"
    assert "tok" not in mask_url("https://tok@host/v1")


def test_raise_on_errors_counts_the_rest() -> None:
    checks = [
        Check(name="device", ok=False, detail="no Android device is connected", fix="connect one"),
        Check(name="endpoint", ok=False, detail="cannot reach it", fix="start it"),
        Check(name="ADB Keyboard", ok=False, detail="not enabled", severity="warning"),
    ]
    with pytest.raises(PreflightError) as err:
        raise_on_errors(checks)
    assert err.value.message.startswith("device: no Android device is connected; 1 more problem(s)")
    assert err.value.hint == "connect one"
    raise_on_errors([c for c in checks if c.severity == "warning"])


# ------------------------------------------------------------------------------- CLI


def _doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["doctor", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_doctor_exit_codes_and_output(sim: Simulator, endpoint: ScriptedEndpoint) -> None:
    # ready, apart from ADB Keyboard being off (a warning): exit 0
    code, out = _doctor("--device", sim.serial, "--base-url", endpoint.base_url, "--api-key", KEY)
    assert code == 0, out
    assert "✓ adb" in out and "✓ device" in out and "✓ endpoint" in out
    assert "! ADB Keyboard" in out and "fix: enable it:" in out
    assert KEY not in out
    # the profile a run would use: chosen by the model name, its prompt from the official client
    assert "✓ profile" in out and "autoglm (prompt from phone-agent 0.1.1" in out
    code, out = _doctor(
        "-d", sim.serial, "--base-url", endpoint.base_url, "--api-key", KEY, "--profile", "nope"
    )
    assert code == 0 and "! profile" in out and "unknown profile 'nope'" in out

    _enable_adb_keyboard(sim)
    code, out = _doctor(
        env={"AUTOGLM_DEVICE": sim.serial, "AUTOGLM_BASE_URL": endpoint.base_url, "AUTOGLM_API_KEY": KEY}
    )
    assert code == 0, out
    assert "everything is ready" in out and "✗" not in out and "!" not in out

    # wrong model: an error, with its fix; exit 1
    code, out = _doctor("-d", sim.serial, "--base-url", endpoint.base_url, "--api-key", KEY, "--model", "x")
    assert code == 1, out
    assert "✗ endpoint" in out and f"fix: pass --model {MODEL}" in out
    assert "Traceback" not in out

    code, out = _doctor("-d", "10.9.8.7:5555", "--json")
    assert code == 1
    data = json.loads(out)
    assert [c["name"] for c in data] == ["adb", "device", "ADB Keyboard", "endpoint", "profile"]
    assert data[1]["ok"] is False and data[1]["severity"] == "error"


def test_cli_main_runs_doctor(
    sim: Simulator, endpoint: ScriptedEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            ["doctor", "-d", sim.serial, "--base-url", endpoint.base_url, "--api-key", "wrong", "--json"]
        )
    assert exit_info.value.code == 1
    data = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert "wrong key" in data["endpoint"]["detail"]
