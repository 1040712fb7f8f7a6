"""Installation: the environment is the locked set, and the built wheel runs the headline command.

* the running environment has exactly the versions of ``requirements-lock.txt`` (torch aside);
* the lock satisfies every requirement of ``pyproject.toml`` (nobody edited one without the other);
* a wheel built from this checkout, installed into a fresh venv outside the checkout, carries the
  demo and speech checkpoints: a client-only install stays light and says what to add, and with the
  ``[server]`` extra ``autoglm-agent --json "open settings"`` opens Settings on the simulator, offline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"


def _lockfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "scripts" / "lockfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lockfile", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_installed_set_is_the_lock() -> None:
    drift = _lockfile().check(LOCK)
    assert not drift, "the environment differs from the lock (run bash scripts/setup.sh):\n" + "\n".join(
        drift.lines()
    )


def test_lock_differences_are_reported() -> None:
    lf = _lockfile()
    pins = {"openai": "3.63.0", "httpx2": "2.16.2", "rich": "15.0.0"}
    have = {"openai": "3.63.0", "httpx2": "2.17.0", "torch": "2.13.0", "nvidia-nccl": "2.0", "left-over": "1"}
    drift = lf.compare(pins, have, {"torch", "nvidia-nccl"})
    assert drift.lines() == [
        "rich: locked 15.0.0, not installed",
        "httpx2: locked 2.16.2, installed 2.17.0",
        "left-over: installed 1, not in the lock",
    ]
    assert not lf.compare(pins, {**pins, "torch": "2.13.0"}, {"torch"})


def test_lock_satisfies_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins = _lockfile().locked(LOCK)
    unmet = []
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name == "torch":  # left out of the lock on purpose; setup.sh installs it
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # not for this Python (phone-agent: 3.12+); its lock line has the same marker
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            unmet.append(f"{spec} (locked: {pins.get(name, 'absent')})")
    assert not unmet, "pyproject.toml changed without the lock (run bash scripts/lock.sh): " + ", ".join(
        unmet
    )


# --------------------------------------------------------------------------- the wheel
def _run(cmd: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, f"{' '.join(cmd[:4])}… failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not (ROOT / "model" / "config.json").is_file(), reason="model/ is not in this checkout")
def test_wheel_runs_the_headline_command_outside_the_checkout(fresh_simulator, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    torch_version = metadata.version("torch")  # the distribution's version (torch.__version__ may add +cu130)
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        cwd=tmp_path,
        timeout=300,
    )
    (wheel,) = dist.glob("autoglm_agent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("model.safetensors", "agent.json", "asr/model.safetensors", "asr/vocab.json"):
        assert f"autoglm_agent/model/{shipped}" in names

    # a fresh venv in a folder that has nothing of the checkout; versions from the lock
    work = tmp_path / "elsewhere"
    work.mkdir()
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work, timeout=120)
    py, cli = venv / "bin" / "python", venv / "bin" / "autoglm-agent"
    pip = [str(py), "-m", "pip", "install", "-q", "-c", str(LOCK)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGLM_", "PYTHON", "VIRTUAL_ENV"))}
    env["AUTOGLM_TRAJECTORY_DIR"] = str(work / "runs")

    # client only: light (no torch, no transformers), and the offline default says what is missing
    _run([*pip, str(wheel)], cwd=work, timeout=300)
    client = json.loads(
        _run(
            [
                str(py),
                "-c",
                "import json, importlib.util as u; print(json.dumps("
                "{m: u.find_spec(m) is not None for m in ('torch', 'transformers', 'autoglm_agent')}))",
            ],
            cwd=work,
            timeout=60,
        )
    )
    assert client == {"torch": False, "transformers": False, "autoglm_agent": True}
    proc = subprocess.run(
        [str(cli), "--device", fresh_simulator.serial, "open settings"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert "[server] extra" in proc.stderr and "Traceback" not in proc.stderr

    # with the [server] extra (torch: the build this suite runs on, as a user's own would be kept)
    _run([*pip, f"torch=={torch_version}", f"{wheel}[server]"], cwd=work, timeout=600)
    where = _run([str(py), "-c", "import autoglm_agent; print(autoglm_agent.__file__)"], cwd=work, timeout=60)
    assert Path(where.strip()).is_relative_to(venv), where
    out = json.loads(
        _run(
            [str(cli), "--device", fresh_simulator.serial, "--json", "open settings"],
            cwd=work,
            timeout=300,
            env=env,
        )
        .strip()
        .splitlines()[-1]
    )
    assert out["status"] == "success"
    assert fresh_simulator.phone.state.foreground == "com.android.settings"  # from the simulator's state
    assert Path(out["trajectory_dir"]).is_relative_to(work / "runs")

    # the shipped speech checkpoint: a spoken command, transcribed from the installed package
    if shutil.which("espeak-ng"):
        fresh_simulator.reset()
        wav = work / "command.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "open settings"], check=True, timeout=60)
        out = json.loads(
            _run(
                [str(cli), "--device", fresh_simulator.serial, "--voice", str(wav), "--json"],
                cwd=work,
                timeout=300,
                env=env,
            )
            .strip()
            .splitlines()[-1]
        )
        assert out["task"] == "open settings" and out["status"] == "success"
        assert fresh_simulator.phone.state.foreground == "com.android.settings"
