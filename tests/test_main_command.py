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
