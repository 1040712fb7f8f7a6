"""Start and stop the simulated phone: an adbd on a local TCP port, connected to the adb server.

>>> with Simulator(seed=0) as sim:          # doctest: +SKIP
...     adbutils.adb.device(sim.serial).shell("echo hi")

The asyncio server runs in a daemon thread. ``stop()`` then ``start()`` again reuses the same port
(and the same phone), and the adb server picks the device up again under the same serial, as it
does when a real phone on Wi-Fi comes back (``start()`` reconnects an entry left offline at once,
rather than waiting for the adb server's own reconnect, which backs off to many seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from autoglm_agent.errors import AutoGLMError
from autoglm_agent.sim.adbd import AdbdServer
from autoglm_agent.sim.commands import SimDevice
from autoglm_agent.sim.phone import Phone
from autoglm_agent.sim.shell import CommandRecord

__all__ = ["Simulator", "SimulatorError", "pick_port", "serve_forever"]

#: The adb server probes the odd ports of this range for emulators; a device there shows up twice.
_EMULATOR_PORTS = range(5554, 5586)
#: A listed entry that is still not ``device`` this long after the simulator listens is reconnected.
_STALE_AFTER_S = 1.0


class SimulatorError(AutoGLMError):
    """The simulator could not start, or the adb server would not take it."""


def _port_ok(port: int) -> bool:
    return port % 2 == 0 and port not in _EMULATOR_PORTS and 1024 < port < 65536


def pick_port(host: str = "127.0.0.1") -> int:
    """A free even TCP port outside 5554-5585 (checked by binding it; may race, see ``start``)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 60000) & ~1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise SimulatorError("no free TCP port found for the simulator", hint="free some local ports and retry")


def _adb_answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


class Simulator:
    """A simulated phone served over the ADB protocol on ``host:port``.

    ``connect=True`` makes sure an adb server runs (``adb start-server``) and connects it to the
    simulator (``adb connect``), so that ``adb -s SERIAL ...`` and adbutils work with ``serial``.
    """

    def __init__(
        self,
        phone: Phone | None = None,
        *,
        seed: int = 0,
        shuffle: bool = False,
        host: str = "127.0.0.1",
        port: int | None = None,
        connect: bool = True,
        adb_host: str = "127.0.0.1",
        adb_port: int = 5037,
        **phone_kwargs: Any,
    ) -> None:
        if port is not None and not _port_ok(port):
            raise SimulatorError(
                f"port {port} cannot be used for the simulator",
                hint="use an even port above 1024 outside 5554-5585, which the adb server probes as emulators",
            )
        self._phone_kwargs: dict[str, Any] = {"seed": seed, "shuffle": shuffle, **phone_kwargs}
        if phone is None:
            phone = Phone(**self._phone_kwargs)
        self.device = SimDevice(phone)
        self.host = host
        self.port: int = port or 0
        self.connect = connect
        self.adb_host = adb_host
        self.adb_port = adb_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: AdbdServer | None = None
        self._lock = threading.Lock()
        #: True once this simulator listened on its port: only then is the adb server's entry for
        #: ``serial`` ours to disconnect (a failed start on a busy port must not disconnect the
        #: simulator that owns that port).
        self._owns_serial = False

    # -- properties ------------------------------------------------------------------------------
    @property
    def phone(self) -> Phone:
        return self.device.phone

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def command_log(self) -> list[CommandRecord]:
        """Every command line received over shell/exec so far (copies, oldest first)."""
        return self.device.log.records()

    def clear_command_log(self) -> None:
        self.device.log.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def reset(self, phone: Phone | None = None) -> Phone:
        """Swap in a fresh phone (same constructor arguments unless ``phone`` is given); returns it."""
        self.device.phone = phone or Phone(**self._phone_kwargs)
        return self.device.phone

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> Simulator:
        with self._lock:
            if self.running:
                return self
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run_loop() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

            thread = threading.Thread(target=run_loop, name=f"sim-adbd-{self.port or 'new'}", daemon=True)
            thread.start()
            ready.wait(5.0)
            self._loop, self._thread = loop, thread
            try:
                self._server = self._listen(loop)
            except BaseException:
                self._owns_serial = False  # someone else listens on the port: its entry, not ours
                self._shutdown_loop()
                raise
            self._owns_serial = True
            self.device.set_serialno(f"SIM{self.port}")
        if self.connect:
            try:
                self._connect_adb(timeout)
            except BaseException:
                self.stop(disconnect=False)
                raise
        return self

    def _listen(self, loop: asyncio.AbstractEventLoop) -> AdbdServer:
        last: Exception | None = None
        for attempt in range(20):
            port = self.port or pick_port(self.host)
            server = AdbdServer(self.device)
            fut = asyncio.run_coroutine_threadsafe(server.start(self.host, port), loop)
            try:
                self.port = fut.result(10.0)
                return server
            except OSError as e:
                last = e
                asyncio.run_coroutine_threadsafe(server.close(), loop).result(5.0)
                if self.port:  # a fixed port: retry briefly (a previous run may still hold it)
                    if attempt >= 10:
                        break
                    time.sleep(0.2)
        raise SimulatorError(
            f"cannot listen on {self.host}:{self.port or '?'}: {last}", hint="pick another port"
        )

    def _client(self) -> Any:
        import adbutils

        return adbutils.AdbClient(host=self.adb_host, port=self.adb_port, socket_timeout=10)

    def _ensure_adb_server(self) -> None:
        if _adb_answers(self.adb_host, self.adb_port):
            return
        adb = shutil.which("adb")
        if adb is None:
            raise SimulatorError(
                f"no adb server answers on {self.adb_host}:{self.adb_port} and no adb binary is on PATH",
                hint="install Android platform-tools (Debian: apt install adb) or pass connect=False",
            )
        env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(self.adb_port))
        try:
            subprocess.run([adb, "start-server"], env=env, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SimulatorError(
                f"`adb start-server` failed: {e}", hint="run `adb start-server` by hand"
            ) from e
        if not _adb_answers(self.adb_host, self.adb_port):
            raise SimulatorError(
                f"the adb server did not come up on {self.adb_host}:{self.adb_port}",
                hint="run `adb start-server` by hand and look at its output",
            )

    def _state(self, client: Any) -> str | None:
        try:
            for info in client.list():
                if info.serial == self.serial:
                    return str(info.state)
        except Exception:
            return None
        return None

    def _connect_adb(self, timeout: float) -> None:
        self._ensure_adb_server()
        client = self._client()
        start = time.monotonic()
        deadline = start + timeout
        last_msg = ""
        next_connect = 0.0
        while time.monotonic() < deadline:
            state = self._state(client)
            if state == "device":
                return
            now = time.monotonic()
            # An entry left offline by an earlier run of this simulator (stop(disconnect=False)):
            # the adb server's own reconnect backs off to many seconds, so reconnect it now.
            stale = state is not None and now - start >= _STALE_AFTER_S
            if (state is None or stale) and now >= next_connect:
                try:
                    if stale:
                        client.disconnect(self.serial)
                    last_msg = str(client.connect(self.serial, timeout=max(1.0, min(10.0, deadline - now))))
                except Exception as e:  # the adb server may be restarting
                    last_msg = str(e)
                next_connect = now + 2.0
            time.sleep(0.05)
        raise SimulatorError(
            f"the adb server did not bring {self.serial} online within {timeout:.0f} s ({last_msg or 'no answer'})",
            hint=f"check `adb devices`; try `adb disconnect {self.serial}` and start again",
        )

    def wait_online(self, timeout: float = 60.0) -> None:
        """Wait until the adb server lists the simulator as ``device`` (after a restart, say)."""
        self._connect_adb(timeout)

    def stop(self, *, disconnect: bool = True) -> None:
        """Stop serving. ``disconnect=False`` leaves the adb server's entry (it goes offline and
        reconnects when a simulator comes back on the same port)."""
        if disconnect and self.connect and self.port and self._owns_serial:
            with contextlib.suppress(Exception):
                self._client().disconnect(self.serial)
        with self._lock:
            self._shutdown_loop()
            if disconnect:
                # The port is free again: whoever listens there next owns the adb entry.
                self._owns_serial = False

    def restart(self, timeout: float = 60.0) -> Simulator:
        """Stop without disconnecting and start again on the same port (same phone)."""
        self.stop(disconnect=False)
        return self.start(timeout=timeout)

    def _shutdown_loop(self) -> None:
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = None
        if loop is None:
            return
        if server is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.close(), loop).result(5.0)
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5.0)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Simulator(serial={self.serial!r}, running={self.running})"


def serve_forever(
    *,
    seed: int = 0,
    shuffle: bool = False,
    host: str = "127.0.0.1",
    port: int | None = None,
    connect: bool = True,
    on_ready: Callable[[Simulator], None] | None = None,
    **phone_kwargs: Any,
) -> None:
    """Run a simulator until Ctrl-C or SIGTERM, then disconnect and stop it."""
    sim = Simulator(seed=seed, shuffle=shuffle, host=host, port=port, connect=connect, **phone_kwargs)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        sim.start()
        if on_ready is not None:
            on_ready(sim)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
