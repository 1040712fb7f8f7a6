"""The adb server is found where the adb binary looks: ``$ANDROID_ADB_SERVER_PORT`` is honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from autoglm_agent.sim.runner import Simulator


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_devices_and_runs_use_the_adb_server_the_environment_names(private_adb: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDROID_ADB_SERVER")}
    with Simulator(seed=0, adb_port=private_adb) as sim:
        mine = _cli("devices", "--json", env={**env, "ANDROID_ADB_SERVER_PORT": str(private_adb)})
        assert mine.returncode == 0, mine.stderr
        assert [d["serial"] for d in json.loads(mine.stdout)] == [sim.serial]
        default = _cli("devices", "--json", env=env)  # the usual server does not know this phone
        assert default.returncode == 0 and sim.serial not in default.stdout
        doctor = _cli("doctor", "--json", env={**env, "ANDROID_ADB_SERVER_PORT": str(private_adb)})
        checks = {c["name"]: c for c in json.loads(doctor.stdout)}
        assert checks["device"]["ok"] and sim.serial in checks["device"]["detail"]
        assert f"127.0.0.1:{private_adb}" in checks["adb"]["detail"]


def test_a_bad_adb_server_port_is_one_line(tmp_path) -> None:
    env = {**os.environ, "ANDROID_ADB_SERVER_PORT": "fifty"}
    proc = _cli("devices", env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "ANDROID_ADB_SERVER_PORT='fifty' is not a port number" in proc.stderr
