"""The simulator stays bounded and keeps serving when clients misbehave.

Driven the way clients talk to it: the real ``adb`` binary, adbutils, and a raw ADB-protocol
client on the simulator's TCP port (what the adb server itself speaks). Memory is measured as
this process's RSS (the simulator runs in-process) with psutil, with generous bounds.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import adbutils
import psutil
import pytest

from autoglm_agent.sim import adbd
from autoglm_agent.sim.runner import Simulator, SimulatorError
from autoglm_agent.sim.shell import LOG_BYTES_MAX, LOG_COMMAND_MAX, OUTPUT_MAX, CommandLog

A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
_HEADER = struct.Struct("<6I")
MiB = 1024 * 1024


def _msg(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return _HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + data


class RawClient:
    """An ADB host speaking the wire protocol directly to the simulator (as the adb server does)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.send(A_CNXN, 0x01000001, 256 * 1024, b"host::\0")
        assert self.recv()[0] == A_CNXN

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.sock.sendall(_msg(command, arg0, arg1, data))

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def recv(self) -> tuple[int, int, int, bytes]:
        command, arg0, arg1, length, _, _ = _HEADER.unpack(self._exact(24))
        return command, arg0, arg1, self._exact(length) if length else b""

    def open(self, remote_id: int, service: str) -> int:
        """OPEN; the device's local id (0 when it answered CLSE)."""
        self.send(A_OPEN, remote_id, 0, service.encode() + b"\0")
        while True:
            command, arg0, arg1, _ = self.recv()
            if arg1 == remote_id and command in (A_OKAY, A_CLSE):
                return arg0 if command == A_OKAY else 0

    def read_stream(self, remote_id: int) -> bytes:
        """Everything the device writes to ``remote_id`` until it closes it (acknowledging each WRTE)."""
        out = bytearray()
        while True:
            command, arg0, arg1, data = self.recv()
            if arg1 != remote_id:
                continue
            if command == A_WRTE:
                out += data
                self.send(A_OKAY, remote_id, arg0)
            elif command == A_CLSE:
                return bytes(out)

    def close(self) -> None:
        self.sock.close()


def adb(sim: Simulator, *args: str, timeout: float = 30, **kw: object) -> subprocess.CompletedProcess[bytes]:
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        ["adb", "-s", sim.serial, *args], capture_output=True, timeout=timeout, check=False, **kw
    )  # type: ignore[call-overload]


def rss() -> int:
    return psutil.Process().memory_info().rss


class PeakRSS:
    """The highest RSS of this process while the block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self._stop.wait(0.01)

    def __enter__(self) -> PeakRSS:
        self.start = rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def _wait_for(cond: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def raw_clients(fresh_simulator: Simulator) -> Iterator[list[RawClient]]:
    clients: list[RawClient] = []
    try:
        yield clients
    finally:
        for c in clients:
            c.close()


# ------------------------------------------------------------------------ 1. streams and workers


def test_held_open_streams_do_not_starve_other_clients(
    fresh_simulator: Simulator, raw_clients: list[RawClient]
) -> None:
    sim = fresh_simulator
    raw = RawClient(sim.port)
    raw_clients.append(raw)
    # 16 commands waiting for stdin that never comes (the host never closes it).
    for i in range(16):
        assert raw.open(100 + i, "shell,v2,raw:cat") != 0
    t0 = time.monotonic()
    r = adb(sim, "shell", "echo ok", timeout=20)
    assert (r.returncode, r.stdout) == (0, b"ok\n")
    assert time.monotonic() - t0 < 15
    assert adbutils.AdbClient().device(sim.serial).shell("echo still") == "still"

    # One connection gets at most MAX_STREAMS_PER_CONNECTION; past it a clear refusal.
    for i in range(16, adbd.MAX_STREAMS_PER_CONNECTION):
        assert raw.open(100 + i, "shell,v2,raw:cat") != 0
    assert raw.open(999, "shell,v2,raw:cat") != 0
    packets = raw.read_stream(999)
    assert b"too many open streams on this connection" in packets
    assert packets.endswith(struct.pack("<BI", 3, 1) + b"\x01")  # shell protocol exit status 1
    assert raw.open(998, "sync:") == 0  # other services: a plain CLSE
    r = adb(sim, "shell", "echo ok", timeout=20)  # another connection (the adb server) is still served
    assert (r.returncode, r.stdout) == (0, b"ok\n")

    # The same for all connections together; then it recovers when streams go away.
    raw2 = RawClient(sim.port)
    raw_clients.append(raw2)
    for i in range(adbd.MAX_STREAMS - adbd.MAX_STREAMS_PER_CONNECTION):
        assert raw2.open(100 + i, "shell,v2,raw:cat") != 0
    r = adb(sim, "shell", "echo ok", timeout=20)
    assert r.returncode != 0 and b"too many open streams" in r.stdout + r.stderr, r
    raw.close()
    server = sim._server
    assert server is not None
    _wait_for(lambda: server.slots <= adbd.MAX_STREAMS - adbd.MAX_STREAMS_PER_CONNECTION)
    r = adb(sim, "shell", "echo ok", timeout=20)
    assert (r.returncode, r.stdout) == (0, b"ok\n")
    raw2.close()
    _wait_for(lambda: server.slots == 0)


# ---------------------------------------------------------------------------------- 2. stdin


def test_stdin_to_a_command_that_never_reads_it_is_bounded(
    fresh_simulator: Simulator, raw_clients: list[RawClient]
) -> None:
    sim = fresh_simulator
    raw = RawClient(sim.port)
    raw_clients.append(raw)
    before = rss()
    # A host that ignores flow control: 24 x 16 MiB of shell-protocol stdin in 256 KiB WRTEs,
    # never waiting for the device's OKAY, to a command that never reads stdin.
    local = raw.open(7, "shell,v2,raw:sleep 10")
    assert local
    piece = 256 * 1024
    for _ in range(24 * 16 * MiB // piece):
        raw.send(A_WRTE, 7, local, b"\0" + struct.pack("<I", piece - 5) + b"x" * (piece - 5))
    assert adb(sim, "shell", "echo ok").stdout == b"ok\n"  # the device has read all of it by now
    growth = rss() - before
    assert growth < 150 * MiB, f"RSS grew by {growth / MiB:.0f} MiB"
    # The device closed that stream rather than buffer what the host should not have sent.
    seen = []
    raw.sock.settimeout(2)
    with pytest.raises((TimeoutError, OSError)):
        while True:
            seen.append(raw.recv()[:3])
    assert (A_CLSE, local, 7) in seen

    # A message over the maximum payload we announced in CNXN: the connection is dropped (as
    # real adbd does), not buffered; other clients are unaffected.
    raw2 = RawClient(sim.port)
    raw_clients.append(raw2)
    local = raw2.open(8, "shell,v2,raw:sleep 10")
    with pytest.raises((OSError, EOFError)):
        for _ in range(24):
            raw2.send(A_WRTE, 8, local, b"y" * (16 * MiB))
        raw2.recv()
        raw2.recv()
    assert adb(sim, "shell", "echo ok").stdout == b"ok\n"
    growth = rss() - before
    assert growth < 150 * MiB, f"RSS grew by {growth / MiB:.0f} MiB"


def test_well_behaved_stdin_still_works(fresh_simulator: Simulator) -> None:
    sim = fresh_simulator
    data = b"0123456789abcdef" * (5 * MiB // 16)
    r = adb(sim, "shell", "cat | wc -c", input=data, stdin=None, timeout=60)
    assert (r.returncode, r.stdout.split()) == (0, [str(len(data)).encode()]), r.stderr
    # A command that does not read stdin ends while the host still has plenty to send.
    big = b"z" * (64 * MiB)
    with PeakRSS() as peak:
        r = adb(sim, "shell", "sleep 1; echo done", input=big, stdin=None, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"done\n"), r.stderr
    assert peak.growth < 60 * MiB, f"RSS grew by {peak.growth / MiB:.0f} MiB"
    # More stdin than a command may hold: an error, not unbounded memory.
    r = adb(sim, "shell", "cat > /dev/null", input=b"q" * (adbd.STDIN_MAX + MiB), stdin=None, timeout=60)
    assert r.returncode != 0 and b"stdin over" in r.stderr, r
    assert adb(sim, "shell", "echo ok").stdout == b"ok\n"


# ------------------------------------------------------------------------------ 3. command log


def test_command_log_is_bounded(fresh_simulator: Simulator, raw_clients: list[RawClient]) -> None:
    sim = fresh_simulator
    raw = RawClient(sim.port)
    raw_clients.append(raw)
    before = rss()
    # Command lines as long as a message may carry (the adb server itself stops near 64 KiB).
    word = "y" * (80 * 1024)
    for i in range(150):
        assert raw.open(10 + i, f"shell:: {word}") != 0
        assert raw.read_stream(10 + i) == b""
    log = sim.command_log
    held = sum(len(r.command) + sum(len(a) for argv in r.argv for a in argv) for r in log)
    assert held <= LOG_BYTES_MAX * 1.1, f"the log holds {held / MiB:.0f} MiB"
    assert log and all(r.truncated and len(r.command) < LOG_COMMAND_MAX + 100 for r in log)
    assert log[-1].argv[0][0] == ":" and log[-1].argv[0][1].startswith("y" * 1000)
    growth = rss() - before
    assert growth < 120 * MiB, f"RSS grew by {growth / MiB:.0f} MiB"

    # Ordinary commands are kept exactly, argv and all.
    sim.clear_command_log()
    d = adbutils.AdbClient().device(sim.serial)
    long_b64 = "QUJD" * 1000
    d.shell(f"am broadcast -a ADB_INPUT_B64 --es msg {long_b64} -p com.android.adbkeyboard")
    (rec,) = sim.command_log
    assert not rec.truncated and rec.argv[0][:6] == ["am", "broadcast", "-a", "ADB_INPUT_B64", "--es", "msg"]
    assert rec.argv[0][6] == long_b64


def test_command_log_drops_the_oldest_records() -> None:
    log = CommandLog(maxlen=5, max_bytes=10_000)
    for i in range(20):
        log.add("shell", f"echo {i}")
    assert [r.command for r in log.records()] == [f"echo {i}" for i in range(15, 20)]
    before = rss()
    for _ in range(4):  # four 16 MiB command lines
        rec = log.add("shell", "z" * (16 * MiB))
        log.note_argv(rec, ["echo", "z" * (16 * MiB)])
    assert len(log) == 1 and log.size <= 2 * LOG_COMMAND_MAX + 1000
    assert rss() - before < 120 * MiB
    rec = log.add("shell", "many")
    for _ in range(5000):
        log.note_argv(rec, ["true"])
    assert log.records()[-1].argv[-1] == ["<argv truncated>"] and log.records()[-1].truncated


# ---------------------------------------------------------------------------------- 4. output


def test_command_output_is_bounded(simulator: Simulator) -> None:
    sim = simulator
    with PeakRSS() as peak:
        r = adb(sim, "shell", "printf '%200000000d' 1 | wc -c", timeout=120)
    assert r.returncode == 1 and b"output over" in r.stderr, r
    assert r.stdout == b""
    assert peak.growth < 150 * MiB, f"RSS peaked {peak.growth / MiB:.0f} MiB higher"
    with PeakRSS() as peak:
        r = adb(sim, "shell", "printf '%999999999d' 1", timeout=120)
        assert r.returncode == 1 and b"output over" in r.stderr, r
        r = adb(sim, "shell", "seq 1000000000000 | wc -l")
        assert (r.returncode, r.stdout) == (0, b"100000\n"), r
        r = adb(sim, "exec-out", "printf '%40000000d%40000000d' 1 2")  # exec: one stream for both
        assert b"output over" in r.stdout
    assert peak.growth < 250 * MiB, f"RSS peaked {peak.growth / MiB:.0f} MiB higher"
    # Large output below the limit still arrives whole, in order, with the right status.
    n = OUTPUT_MAX // 2
    r = adb(sim, "exec-out", f"printf '%{n}d' 7", timeout=120)
    assert len(r.stdout) == n and r.stdout.endswith(b" 7") and r.stdout.lstrip(b" ") == b"7"
    r = adb(sim, "shell", f"printf '%{n}d\\n' 7; echo tail; echo err >&2; exit 3", timeout=120)
    assert r.returncode == 3 and r.stdout.endswith(b" 7\ntail\n") and r.stderr == b"err\n"
    assert len(r.stdout) == n + 6
    r = adb(sim, "shell", "-t", "-t", "printf 'a\\r\\nb\\nc'", timeout=30)  # a pty: \n -> \r\n
    assert r.stdout == b"a\r\nb\r\nc"
    r = adb(sim, "shell", "-t", "-t", "printf 'a\r'; printf '\nb\n'", timeout=30)  # \r|\n across writes
    assert r.stdout == b"a\r\nb\r\n"


# ------------------------------------------------------------------------- 5. sim on a busy port


def test_sim_on_a_busy_port_leaves_its_owner_connected(fresh_simulator: Simulator) -> None:
    owner = fresh_simulator

    def listed() -> str | None:
        for info in adbutils.AdbClient().list():
            if info.serial == owner.serial:
                return str(info.state)
        return None

    assert listed() == "device"
    other = Simulator(port=owner.port)
    with pytest.raises(SimulatorError, match="cannot listen"):
        other.start()
    other.stop()
    assert listed() == "device"

    cli = shutil.which("autoglm-agent") or str(Path(sys.executable).with_name("autoglm-agent"))
    r = subprocess.run(
        [cli, "sim", "--port", str(owner.port)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert r.returncode != 0 and b"cannot listen" in r.stdout + r.stderr, r
    assert listed() == "device"
    assert adb(owner, "shell", "echo alive").stdout == b"alive\n"


def test_interactive_line_is_bounded(simulator: Simulator) -> None:
    raw = RawClient(simulator.port)
    try:
        local = raw.open(5, "shell,raw:")  # interactive, no pty
        out = bytearray()

        def send(data: bytes) -> None:  # one WRTE, then wait for the device's OKAY
            raw.send(A_WRTE, 5, local, data)
            while True:
                command, arg0, arg1, payload = raw.recv()
                if command == A_OKAY and arg1 == 5:
                    return
                if command == A_WRTE:
                    out.extend(payload)
                    raw.send(A_OKAY, 5, arg0)

        for _ in range(3):
            send(b"x" * 200_000)  # one line of 600 KB, no newline yet
        send(b"x\necho hi\nexit 3\n")
        out += raw.read_stream(5)
        assert out == f"\n/system/bin/sh: line over {adbd.LINE_MAX} bytes: dropped\nhi\n".encode()
    finally:
        raw.close()
