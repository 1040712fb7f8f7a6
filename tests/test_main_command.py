"""The README's main command in its offline setting: demo checkpoint + embedded server + simulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"

pytestmark = pytest.mark.skipif(
    not (MODEL / "config.json").is_file(), reason="the demo checkpoint model/ is not in this checkout"
)


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOGLM_TRAJECTORY_DIR": str(tmp_path / "runs")}
    env.pop("AUTOGLM_BASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )


def test_main_command_opens_settings_on_the_simulator(fresh_simulator, tmp_path):
    """No --base-url: the embedded server loads model/ and the demo model drives the phone."""
    proc = _cli("--device", fresh_simulator.serial, "--json", "open settings", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "success"
    # judged from the simulator, not from the model's claim
    assert fresh_simulator.phone.state.foreground == "com.android.settings"
    first = out["records"][0]
    assert first["action_call"] == 'do(action="Launch", app="Settings")'  # the model's own decision
    assert (Path(out["trajectory_dir"]) / "report.html").is_file()


def test_main_command_without_a_device_starts_its_own_simulator(tmp_path):
    proc = _cli("open settings", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "starting the simulated phone" in proc.stderr
    assert "thinking:" in proc.stdout  # the model's thinking is shown
    assert "success" in proc.stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.skipif(not (MODEL / "asr" / "config.json").is_file(), reason="model/asr is not in this checkout")
def test_voice_command_runs_the_spoken_task(fresh_simulator, tmp_path):
    wav = tmp_path / "command.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "open settings"], check=True, timeout=60)
    proc = _cli("--device", fresh_simulator.serial, "--voice", str(wav), "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["task"] == "open settings"
    assert out["status"] == "success"
    assert fresh_simulator.phone.state.foreground == "com.android.settings"


def test_base_url_to_the_embedded_server_uses_the_checkpoint_profile(fresh_simulator, tmp_path):
    """`serve` + `--base-url`: the client finds the demo checkpoint's profile in the model card.

    Without it the client would talk to the demo model in AutoGLM-Phone-9B's dialect (the model
    name says autoglm), which the demo model was never trained on.
    """
    from autoglm_agent.profiles import discover_profile
    from autoglm_agent.server import EmbeddedServer, ServerConfig

    with EmbeddedServer(ServerConfig(model=MODEL, port=0, api_key="k3y")) as server:
        advertised = discover_profile(server.base_url, "autoglm-phone-9b", "k3y")
        assert advertised is not None and advertised.layout == "generic"
        assert (
            advertised.image_max_pixels == json.loads((MODEL / "agent.json").read_text())["image_max_pixels"]
        )
        assert discover_profile(server.base_url, "autoglm-phone-9b", "wrong") is None  # no key, no card
        # the Python API finds it the same way when no profile is given
        from autoglm_agent.agent import PhoneAgent
        from autoglm_agent.device import AdbDevice
        from autoglm_agent.llm import ChatAutoGLM

        with AdbDevice(fresh_simulator.serial) as device:
            agent = PhoneAgent(device, ChatAutoGLM(base_url=server.base_url, api_key="k3y"))
            assert agent.profile == advertised and agent.max_steps == advertised.max_steps

        base = ("--base-url", server.base_url, "--api-key", "k3y")
        proc = _cli(*base, "--device", fresh_simulator.serial, "--json", "open settings", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "success"
        assert fresh_simulator.phone.state.foreground == "com.android.settings"

        proc = _cli("eval", *base, "--tasks", "open-settings,open-clock", "--json", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
        assert summary["runs"] == 2 and summary["success_rate"] == 1.0
