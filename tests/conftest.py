"""Shared fixtures: simulated phones served to the real adb server.

* ``simulator`` (session): one started ``Simulator(seed=0)``, connected with ``adb connect``.
* ``fresh_simulator`` (function): a new simulator per test, for tests that change a lot of state.
* ``home_simulator`` (function): the shared simulator with a fresh phone (home screen, default
  data) and an empty command log, for tests that only need a clean start.
* ``private_adb`` (function): the port of a private adb server, started for the test and killed
  after; it sees only what the test connects to it.

Tests that need a simulator are skipped, with the reason, when the ``adb`` binary is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from autoglm_agent.sim.runner import Simulator

ADB_MISSING = (
    "the adb binary is not on PATH (Debian: apt install adb); simulator tests need the real adb server"
)


def _require_adb() -> None:
    if shutil.which("adb") is None:
        pytest.skip(ADB_MISSING)


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    _require_adb()
    sim = Simulator(seed=0).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def fresh_simulator() -> Iterator[Simulator]:
    _require_adb()
    sim = Simulator(seed=0).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def home_simulator(simulator: Simulator) -> Simulator:
    simulator.reset()
    simulator.clear_command_log()
    return simulator


@pytest.fixture
def private_adb() -> Iterator[int]:
    _require_adb()
    from autoglm_agent.device import ensure_adb_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    ensure_adb_server("127.0.0.1", port)
    try:
        yield port
    finally:
        subprocess.run(["adb", "-P", str(port), "kill-server"], capture_output=True, timeout=20, check=False)
