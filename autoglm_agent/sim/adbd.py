"""The adbd side of the ADB wire protocol, served over TCP with asyncio.

The real ``adb`` server (``adb connect 127.0.0.1:PORT``) and adbutils talk to this exactly as to
a phone on the network:

* messages are a 24-byte little-endian header (command, arg0, arg1, data length, data checksum,
  magic = command ^ 0xffffffff) plus data; the host's ``CNXN`` is answered with ``CNXN``
  (version 0x01000001, max data 256 KiB, no ``AUTH``) and a banner listing the features below;
* streams: ``OPEN`` -> ``OKAY`` (or ``CLSE(0, remote)`` when refused), then ``WRTE``/``OKAY``
  with at most one unacknowledged ``WRTE`` per stream, and ``CLSE`` at the end;
* services: ``shell:`` (v1, raw), ``shell,v2,...:`` (shell protocol packets with an exit code),
  ``exec:``, ``sync:`` (STAT/STA2/LST2/LIST/RECV/SEND/QUIT), ``framebuffer:``, ``root:``/``unroot:``.

Limits keep one client from starving or exhausting the others: messages over ``MAX_PAYLOAD`` drop
that connection (as real adbd does); at most ``MAX_STREAMS_PER_CONNECTION`` streams per connection
and ``MAX_STREAMS`` in all (past them, OPEN is refused with a message), each with a worker thread
of its own when it needs one; host data is buffered up to ``STREAM_BUFFER_MAX`` per stream, then
the OKAY is withheld (a host that writes anyway has that stream closed); stdin is read only when
a command asks for it, up to ``STDIN_MAX``; the interactive shell's lines stop at ``LINE_MAX``.
Output per command line is capped in :mod:`autoglm_agent.sim.shell` (``OUTPUT_MAX``).

Command lines go to :class:`autoglm_agent.sim.shell.Shell` (in-process, never a real shell),
which acts on :class:`autoglm_agent.sim.commands.SimDevice`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import stat as stat_mod
import struct
import threading
from collections.abc import Awaitable, Callable

from autoglm_agent.sim.commands import SimDevice
from autoglm_agent.sim.shell import SH as SH_NAME
from autoglm_agent.sim.shell import Shell, ShellResult, VfsError, VirtualFS

__all__ = [
    "A_VERSION",
    "FEATURES",
    "MAX_PAYLOAD",
    "AdbdServer",
    "Message",
]

log = logging.getLogger(__name__)

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_AUTH = 0x48545541
A_STLS = 0x534C5453

A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
#: What the banner advertises; only what is implemented here.
FEATURES = ("shell_v2", "cmd", "stat_v2", "fixed_push_mkdir")

#: How long a command that reads stdin (``cat`` with no file) waits for the host to close it.
STDIN_WAIT_S = 60.0
#: Streams one connection (one adb server, one raw client) may have open at once, and all
#: connections together. Each open stream may hold one worker thread (a command blocked on
#: ``sleep`` or on stdin), and the worker pool has a thread for every stream allowed, so an
#: admitted stream never waits for another one. An OPEN past either limit is refused with a
#: message (shell/exec) or a plain CLSE (other services).
MAX_STREAMS_PER_CONNECTION = 64
MAX_STREAMS = 128
#: Host data a stream buffers before the device withholds its OKAY (the host may not send the
#: next WRTE before that OKAY, so this bounds what a command that never reads stdin holds).
STREAM_BUFFER_MAX = 256 * 1024
#: The most stdin one shell,v2 command may take in (it is kept in memory whole), and the most
#: all commands together may hold; past either the read fails with an error.
STDIN_MAX = 8 * 1024 * 1024
STDIN_TOTAL_MAX = 64 * 1024 * 1024
#: The longest line the interactive shell takes; a longer one is dropped with an error.
LINE_MAX = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024

# shell protocol packet ids
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = range(6)
SHELL_PACKET_MAX = 32 * 1024

_NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_AUTH: "AUTH",
}
_HEADER = struct.Struct("<6I")


class Message:
    """One ADB message (header fields and data)."""

    __slots__ = ("arg0", "arg1", "command", "data")

    def __init__(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.command = command
        self.arg0 = arg0
        self.arg1 = arg1
        self.data = data

    def pack(self) -> bytes:
        checksum = sum(self.data) & 0xFFFFFFFF
        return (
            _HEADER.pack(
                self.command, self.arg0, self.arg1, len(self.data), checksum, self.command ^ 0xFFFFFFFF
            )
            + self.data
        )

    def __repr__(self) -> str:
        name = _NAMES.get(self.command, hex(self.command))
        return f"Message({name}, {self.arg0}, {self.arg1}, {len(self.data)} bytes)"


class _StreamClosed(Exception):
    pass


class StdinTooLarge(Exception):
    """More stdin than the simulator keeps in memory for one command (see :data:`STDIN_MAX`)."""


class _Stream:
    """One logical stream of a connection, seen from the device side."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        self.cancel = threading.Event()  # set when the host goes away; interrupts `sleep`
        self._buf = bytearray()
        self._okay_owed = False  # an OKAY withheld while the buffer is full
        self.job: concurrent.futures.Future[object] | None = None  # the worker-pool job running now
        self._eof = False
        self._data = asyncio.Event()
        self._ack = asyncio.Event()
        self._ack.set()  # the first WRTE may follow our OKAY directly

    # -- host -> device --------------------------------------------------------------------------
    def feed(self, data: bytes) -> bool:
        """Buffer host data; True when the host may send more now (OKAY it), False to withhold."""
        self._buf += data
        self._data.set()
        if len(self._buf) < STREAM_BUFFER_MAX:
            return True
        self._okay_owed = True
        return False

    @property
    def okay_owed(self) -> bool:
        return self._okay_owed

    async def _consumed(self) -> None:
        """Send the withheld OKAY once the reader has made room."""
        if self._okay_owed and len(self._buf) < STREAM_BUFFER_MAX and not self.closed:
            self._okay_owed = False
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.conn.send(Message(A_OKAY, self.local_id, self.remote_id))

    def feed_eof(self) -> None:
        self._eof = True
        self._data.set()

    def on_host_okay(self) -> None:
        self._ack.set()

    def on_host_close(self) -> None:
        self.closed = True
        self.cancel.set()
        self._ack.set()
        self.feed_eof()

    async def read_exact(self, n: int) -> bytes | None:
        """``n`` bytes, or None when the stream ended first."""
        while len(self._buf) < n:
            if self._eof:
                return None
            self._data.clear()
            await self._data.wait()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        await self._consumed()
        return out

    async def read_some(self) -> bytes | None:
        while not self._buf:
            if self._eof:
                return None
            self._data.clear()
            await self._data.wait()
        out = bytes(self._buf)
        self._buf.clear()
        await self._consumed()
        return out

    # -- device -> host --------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        step = self.conn.max_payload
        for off in range(0, len(data), step):
            await self._ack.wait()
            if self.closed:
                raise _StreamClosed
            self._ack.clear()
            await self.conn.send(Message(A_WRTE, self.local_id, self.remote_id, data[off : off + step]))

    async def close(self) -> None:
        if self.closed:
            return
        # Let the host take the last WRTE before the CLSE (it would also queue it, but this is tidy).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ack.wait(), timeout=5.0)
        if self.closed:
            return
        self.closed = True
        self.cancel.set()
        self.conn.forget(self)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.conn.send(Message(A_CLSE, self.local_id, self.remote_id))


ServiceFn = Callable[[_Stream], Awaitable[None]]


class _Connection:
    """One TCP connection from the adb server (one transport)."""

    def __init__(
        self, server: AdbdServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.device = server.device
        self.reader = reader
        self.writer = writer
        self.max_payload = MAX_PAYLOAD
        self.connected = False
        self.streams: dict[int, _Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._next_id = 1
        self._wlock = asyncio.Lock()
        self.slots = 0  # streams of this connection that hold a slot (see MAX_STREAMS_PER_CONNECTION)
        self.refused_pending = 0  # refused streams still telling the host why
        self._refusing = False

    async def send(self, msg: Message) -> None:
        async with self._wlock:
            if self.writer.is_closing():
                raise ConnectionResetError("connection closed")
            self.writer.write(msg.pack())
            await self.writer.drain()

    def forget(self, stream: _Stream) -> None:
        self.streams.pop(stream.local_id, None)

    async def run(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(24)
                command, arg0, arg1, length, _checksum, magic = _HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF:
                    log.warning("bad ADB message magic from host; dropping the connection")
                    return
                if length > MAX_PAYLOAD:
                    # We told the host our maximum in CNXN; real adbd drops the transport too.
                    log.warning(
                        "ADB message of %d bytes is over %d; dropping the connection", length, MAX_PAYLOAD
                    )
                    return
                data = await self.reader.readexactly(length) if length else b""
                await self._handle(Message(command, arg0, arg1, data))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.on_host_close()
            self.streams.clear()
            for t in list(self.tasks):
                t.cancel()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _handle(self, msg: Message) -> None:
        cmd = msg.command
        if cmd == A_CNXN:
            self.max_payload = max(4096, min(MAX_PAYLOAD, msg.arg1 or MAX_PAYLOAD))
            self.connected = True
            await self.send(Message(A_CNXN, A_VERSION, MAX_PAYLOAD, self.server.banner().encode()))
            return
        if not self.connected:
            return  # AUTH/STLS or anything before CNXN: not used by this device
        if cmd == A_OPEN:
            await self._open(msg)
        elif cmd == A_OKAY:
            s = self.streams.get(msg.arg1)
            if s is not None and (s.remote_id == msg.arg0 or msg.arg0 == 0):
                s.on_host_okay()
        elif cmd == A_WRTE:
            s = self.streams.get(msg.arg1)
            if s is None or s.closed:
                return
            if s.okay_owed:
                # The host sent a WRTE before our OKAY for the last one: it ignores flow control,
                # so its data would pile up. Close the stream instead of buffering it.
                log.warning("host wrote to stream %d without waiting for OKAY; closing it", s.local_id)
                s.on_host_close()
                self.forget(s)
                await self.send(Message(A_CLSE, s.local_id, s.remote_id))
                return
            if s.feed(msg.data):
                await self.send(Message(A_OKAY, s.local_id, s.remote_id))
        elif cmd == A_CLSE:
            s = self.streams.get(msg.arg1)
            if s is not None and (msg.arg0 == 0 or s.remote_id == msg.arg0):
                s.on_host_close()
                self.forget(s)
        # SYNC / AUTH / unknown: ignored

    async def _open(self, msg: Message) -> None:
        remote_id = msg.arg0
        name = msg.data.rstrip(b"\0").decode("utf-8", errors="replace")
        service = self.server.service_for(name)
        if service is None or remote_id == 0:
            log.debug("refusing service %r", name)
            await self.send(Message(A_CLSE, 0, remote_id))
            return
        busy = self.server.busy_reason(self)
        if busy is not None:
            if not self._refusing:
                log.warning("refusing new streams: %s", busy)
            self._refusing = True
            # Shell/exec get a message saying why (but only a few at a time: a refused stream
            # lingers until the host takes the message); anything else a plain CLSE.
            if not name.startswith(("shell", "exec:")) or self.refused_pending >= 16:
                await self.send(Message(A_CLSE, 0, remote_id))
                return
            v2 = ",v2" in name.partition(":")[0]
            service = lambda s: _refuse(s, busy, v2=v2)  # noqa: E731
            name = name[:100]
            self.refused_pending += 1
        else:
            self._refusing = False
            self.server.take_slot(self)
        local_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < 0x7FFFFFFF else 1
        stream = _Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        await self.send(Message(A_OKAY, local_id, remote_id))
        task = asyncio.get_running_loop().create_task(
            self._run_service(service, stream, name, slot=busy is None)
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_service(self, service: ServiceFn, stream: _Stream, name: str, *, slot: bool) -> None:
        try:
            await service(stream)
        except (_StreamClosed, ConnectionError):
            pass
        except asyncio.CancelledError:
            stream.cancel.set()
            raise
        except Exception:
            log.exception("service %r failed", name)
        finally:
            if slot:
                # The slot (and its worker thread) stays taken until a command still running in
                # the pool ends (the host went away: it was told to stop through stream.cancel).
                job = stream.job
                if job is not None and not job.done():
                    loop = asyncio.get_running_loop()

                    def release(_: object) -> None:
                        with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to count
                            loop.call_soon_threadsafe(self.server.release_slot, self)

                    job.add_done_callback(release)
                else:
                    self.server.release_slot(self)
            else:
                self.refused_pending -= 1
            if not stream.closed:
                with contextlib.suppress(Exception):
                    await stream.close()


async def _refuse(stream: _Stream, reason: str, *, v2: bool) -> None:
    msg = f"adbd: {reason}; close some streams and retry\n".encode()
    if v2:
        await stream.write(_shell_packets([(2, msg)]) + struct.pack("<BI", SHELL_EXIT, 1) + b"\x01")
    else:
        await stream.write(msg)


class AdbdServer:
    """The simulated adbd: an asyncio TCP server speaking the ADB protocol for one SimDevice.

    Use :meth:`start` inside a running event loop (see :mod:`autoglm_agent.sim.runner` for a
    thread-hosted version).
    """

    def __init__(
        self,
        device: SimDevice,
        *,
        max_streams: int = MAX_STREAMS,
        max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
    ) -> None:
        self.device = device
        self.max_streams = max_streams
        self.max_streams_per_connection = min(max_streams_per_connection, max_streams)
        self.slots = 0  # streams of all connections that hold a slot
        self.stdin_bytes = 0  # stdin held by shell,v2 commands (see STDIN_TOTAL_MAX)
        # One thread per stream allowed: a command blocked in `sleep` or on stdin never delays
        # another stream's command. Threads start only when needed.
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_streams, thread_name_prefix="sim-adbd"
        )
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._conn_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the port."""
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every connection (the adb server will see the device go offline)."""
        if self._server is not None:
            self._server.close()
        for c in list(self._connections):
            with contextlib.suppress(Exception):
                c.writer.transport.abort()
        if self._conn_tasks:
            # Aborted transports end each connection's read loop; cancel only what is stuck.
            _, pending = await asyncio.wait(list(self._conn_tasks), timeout=2.0)
            for t in pending:
                t.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            import socket

            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass  # server shutdown; asyncio's connection callback must not see a cancelled task
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._conn_tasks.discard(task)

    def banner(self) -> str:
        p = self.device.props()
        return (
            f"device::ro.product.name={p['ro.product.name']};ro.product.model={p['ro.product.model']};"
            f"ro.product.device={p['ro.product.device']};features={','.join(FEATURES)}"
        )

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def busy_reason(self, conn: _Connection) -> str | None:
        """Why a new stream on ``conn`` must be refused now, or None."""
        if conn.slots >= self.max_streams_per_connection:
            return f"too many open streams on this connection ({conn.slots})"
        if self.slots >= self.max_streams:
            return f"too many open streams ({self.slots})"
        return None

    def take_slot(self, conn: _Connection) -> None:
        conn.slots += 1
        self.slots += 1

    def release_slot(self, conn: _Connection) -> None:
        conn.slots -= 1
        self.slots -= 1

    # -- services --------------------------------------------------------------------------------
    def service_for(self, name: str) -> ServiceFn | None:
        if name.startswith("shell"):
            head, sep, command = name.partition(":")
            if not sep:
                return None
            opts = head.split(",")
            if opts[0] != "shell":
                return None
            args = opts[1:]
            v2 = "v2" in args
            pty = "pty" in args or (not command and "raw" not in args)
            if not command:
                return lambda s: self._interactive(s, v2=v2, pty=pty)
            return lambda s: self._shell(s, command, v2=v2, pty=pty, service="shell,v2" if v2 else "shell")
        if name.startswith("exec:"):
            command = name[5:]
            return lambda s: self._shell(s, command, v2=False, pty=False, service="exec")
        if name == "sync:":
            return self._sync
        if name == "framebuffer:":
            return self._framebuffer
        if name == "root:":
            return lambda s: s.write(b"adbd cannot run as root in production builds\n")
        if name == "unroot:":
            return lambda s: s.write(b"adbd not running as root\n")
        return None

    async def _run(self, stream: _Stream, fn: Callable[[], ShellResult | bytes]) -> ShellResult | bytes:
        fut = self._pool.submit(fn)
        stream.job = fut  # type: ignore[assignment]
        return await asyncio.wrap_future(fut)

    async def _shell(self, stream: _Stream, command: str, *, v2: bool, pty: bool, service: str) -> None:
        if not v2:
            # No stdin for v1/exec commands: what the host writes stays in the stream's buffer,
            # and past STREAM_BUFFER_MAX the host waits for an OKAY that comes when the stream ends.
            shell = Shell(self.device, service=service, cancel=stream.cancel)
            result = await self._run(stream, lambda: shell.run(command))
            assert isinstance(result, ShellResult)
            await _send_output(stream, result.chunks, v2=False, pty=pty)
            return

        loop = asyncio.get_running_loop()
        stdin_done: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        pump: list[asyncio.Task[None]] = []
        held = [0]  # stdin bytes this command holds, counted in self.stdin_bytes

        def start_pump() -> None:
            # Stdin is read only once the command asks for it: a command that never reads it
            # leaves it to the stream's flow control (bounded) instead of buffering it all.
            if not pump and not stdin_done.done():
                pump.append(loop.create_task(self._pump_stdin(stream, stdin_done, held)))

        def read_stdin() -> bytes:
            with contextlib.suppress(RuntimeError):  # the loop is closing: no stdin
                loop.call_soon_threadsafe(start_pump)
            try:
                return stdin_done.result(timeout=STDIN_WAIT_S)
            except concurrent.futures.TimeoutError:
                return b""

        shell = Shell(self.device, service=service, cancel=stream.cancel, stdin=read_stdin)
        try:
            result = await self._run(stream, lambda: shell.run(command))
        finally:
            for task in pump:
                task.cancel()
            if not stdin_done.done():
                stdin_done.set_result(b"")
            self.stdin_bytes -= held[0]
            held[0] = 0
        assert isinstance(result, ShellResult)
        await _send_output(stream, result.chunks, v2=True, pty=pty)
        await stream.write(struct.pack("<BI", SHELL_EXIT, 1) + bytes([result.exit_code & 0xFF]))

    async def _pump_stdin(
        self, stream: _Stream, done: concurrent.futures.Future[bytes], held: list[int]
    ) -> None:
        buf = bytearray()
        error: Exception | None = None
        try:
            while True:
                header = await stream.read_exact(5)
                if header is None:
                    break
                length = int.from_bytes(header[1:5], "little")
                if header[0] == SHELL_STDIN and length:
                    if len(buf) + length > STDIN_MAX:
                        error = StdinTooLarge(
                            f"stdin over {STDIN_MAX} bytes; the simulator keeps it in memory"
                        )
                        break
                    if self.stdin_bytes + length > STDIN_TOTAL_MAX:
                        error = StdinTooLarge(f"all commands' stdin together over {STDIN_TOTAL_MAX} bytes")
                        break
                    self.stdin_bytes += length  # counted before the read: no await in between
                    held[0] += length
                data = await stream.read_exact(length) if length else b""
                if data is None:
                    break
                if header[0] == SHELL_STDIN:
                    buf += data
                elif header[0] == SHELL_CLOSE_STDIN:
                    break
        finally:
            if not done.done():
                if error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(bytes(buf))

    async def _interactive(self, stream: _Stream, *, v2: bool, pty: bool) -> None:
        """An interactive shell: a prompt, line editing with echo (when a pty), one command per line."""
        service = "shell,v2" if v2 else "shell"
        shell = Shell(self.device, service=service, cancel=stream.cancel)
        product = self.device.props().get("ro.product.device", "localhost")

        async def emit(data: bytes, fd: int = SHELL_STDOUT) -> None:
            if not data:
                return
            if pty:
                data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if v2:
                await stream.write(_shell_packets([(fd if not pty else SHELL_STDOUT, data)]))
            else:
                await stream.write(data)

        def prompt() -> bytes:
            return f"{product}:{shell.cwd} $ ".encode()

        async def next_input() -> bytes | None:
            if not v2:
                return await stream.read_some()
            while True:
                header = await stream.read_exact(5)
                if header is None:
                    return None
                length = int.from_bytes(header[1:5], "little")
                data = await stream.read_exact(length) if length else b""
                if data is None:
                    return None
                if header[0] == SHELL_STDIN:
                    return data
                if header[0] == SHELL_CLOSE_STDIN:
                    return None

        async def execute(text: str) -> None:
            if text.strip():
                result = await self._run(stream, lambda: shell.run(text))
                assert isinstance(result, ShellResult)
                for fd, out in result.chunks:
                    await emit(out, fd)

        if pty:
            await emit(prompt())
        line = bytearray()
        pending_cr = False
        finished = False
        overlong = False  # the rest of a line over LINE_MAX is skipped up to its end
        while not finished:
            data = await next_input()
            if data is None:
                if line and not pty:  # a last line without a newline still runs, as in sh
                    await execute(line.decode("utf-8", errors="replace"))
                break
            for byte in data:
                ch = bytes([byte])
                if byte == 0x0A and pending_cr:
                    pending_cr = False
                    continue
                pending_cr = byte == 0x0D
                if overlong:
                    overlong = byte not in (0x0D, 0x0A)
                    if not overlong and pty:
                        await emit(b"\n" + prompt())
                    continue
                if byte in (0x0D, 0x0A):
                    if pty:
                        await emit(b"\n")
                    text = line.decode("utf-8", errors="replace")
                    line.clear()
                    await execute(text)
                    if shell.exited:
                        finished = True
                        break
                    if pty:
                        await emit(prompt())
                elif byte in (0x7F, 0x08):
                    if line:
                        # drop a whole UTF-8 character
                        del line[-1]
                        while line and (line[-1] & 0xC0) == 0x80:
                            del line[-1]
                        if pty:
                            await emit(b"\b \b")
                elif byte == 0x03:
                    line.clear()
                    if pty:
                        await emit(b"^C\n" + prompt())
                elif byte == 0x04 and not line:
                    finished = True
                    break
                elif len(line) >= LINE_MAX:
                    line.clear()
                    overlong = True
                    await emit(f"\n{SH_NAME}: line over {LINE_MAX} bytes: dropped\n".encode(), SHELL_STDERR)
                else:
                    line += ch
                    if pty:
                        await emit(ch)
        if v2:
            await stream.write(struct.pack("<BI", SHELL_EXIT, 1) + bytes([shell.status & 0xFF]))

    async def _framebuffer(self, stream: _Stream) -> None:
        payload = await self._run(stream, self.device.framebuffer_service_payload)
        assert isinstance(payload, bytes)
        await stream.write(payload)

    # -- sync ------------------------------------------------------------------------------------
    async def _sync(self, stream: _Stream) -> None:
        vfs = self.device.vfs
        while True:
            header = await stream.read_exact(8)
            if header is None:
                return
            ident = header[:4]
            length = int.from_bytes(header[4:], "little")
            if ident == b"QUIT":
                return
            if length > SYNC_PATH_MAX:
                await stream.write(_sync_fail("path too long"))
                return
            raw = await stream.read_exact(length) if length else b""
            if raw is None:
                return
            path = raw.decode("utf-8", errors="surrogateescape")
            if ident == b"STAT":
                st = vfs.stat(path) if path else None
                if st is None:
                    await stream.write(b"STAT" + struct.pack("<3I", 0, 0, 0))
                else:
                    size = 4096 if st.is_dir else st.size
                    await stream.write(b"STAT" + struct.pack("<3I", st.mode, size & 0xFFFFFFFF, st.mtime))
            elif ident in (b"STA2", b"LST2"):
                await stream.write(_stat_v2(ident, vfs, path))
            elif ident == b"LIST":
                await stream.write(_list_dir(vfs, path))
            elif ident == b"RECV":
                await self._sync_recv(stream, path)
            elif ident == b"SEND":
                if not await self._sync_send(stream, path):
                    return
            else:
                await stream.write(_sync_fail(f"unknown sync command {ident!r}"))
                return

    async def _sync_recv(self, stream: _Stream, path: str) -> None:
        try:
            data = self.device.vfs.read(path)
        except VfsError as e:
            await stream.write(_sync_fail(e.strerror or "I/O error"))
            return
        out = bytearray()
        budget = self._budget(stream)
        for off in range(0, len(data), SYNC_DATA_MAX):
            chunk = data[off : off + SYNC_DATA_MAX]
            out += b"DATA" + struct.pack("<I", len(chunk)) + chunk
            if len(out) >= budget:
                await stream.write(bytes(out))
                out.clear()
        out += b"DONE" + struct.pack("<I", 0)
        await stream.write(bytes(out))

    @staticmethod
    def _budget(stream: _Stream) -> int:
        return max(SYNC_DATA_MAX + 8, stream.conn.max_payload)

    async def _sync_send(self, stream: _Stream, spec: str) -> bool:
        path, _, mode_s = spec.rpartition(",")
        if not path:
            path, mode_s = spec, "33188"
        try:
            mode = int(mode_s)
        except ValueError:
            mode = 0o100644
        vfs = self.device.vfs
        error: str | None = None
        try:
            norm = vfs.normpath(path)
            if vfs.is_dir(norm):
                error = f"couldn't create file: {norm}: Is a directory"
            elif not vfs.writable(norm):
                error = f"couldn't create file: {norm}: " + (
                    "Permission denied" if norm.startswith("/data") else "Read-only file system"
                )
        except VfsError as e:
            error = f"couldn't create file: {e}"
            norm = path
        buf = bytearray()
        mtime: int | None = None
        while True:
            header = await stream.read_exact(8)
            if header is None:
                return False
            ident = header[:4]
            n = int.from_bytes(header[4:], "little")
            if ident == b"DATA":
                if n > SYNC_DATA_MAX:
                    await stream.write(_sync_fail("data chunk too large"))
                    return False
                chunk = await stream.read_exact(n) if n else b""
                if chunk is None:
                    return False
                if error is None:
                    buf += chunk
            elif ident == b"DONE":
                mtime = n
                break
            else:
                await stream.write(_sync_fail(f"invalid data message {ident!r}"))
                return False
        if error is None:
            try:
                perm = mode & 0o7777 if stat_mod.S_ISREG(mode) or (mode & 0o170000) == 0 else 0o644
                vfs.write(norm, bytes(buf), mode=perm, mtime=mtime)
            except VfsError as e:
                error = f"couldn't create file: {e}"
        if error is not None:
            await stream.write(_sync_fail(error))
            return True
        await stream.write(b"OKAY" + struct.pack("<I", 0))
        return True


def _crlf(data: bytes, after_cr: bool) -> bytes:
    """What a pty makes of ``data``: ``\\n`` becomes ``\\r\\n`` (``after_cr``: the data before ended in ``\\r``)."""
    out = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if after_cr and data.startswith(b"\n"):
        out = out[1:]
    return out


async def _send_output(stream: _Stream, chunks: list[tuple[int, bytes]], *, v2: bool, pty: bool) -> None:
    """Write a command's output chunk by chunk (no whole copy of it), in WRTEs of up to max payload.

    ``v2``: shell protocol packets (stdout/stderr; a pty merges them into stdout); else raw bytes.
    """
    step = stream.conn.max_payload
    out = bytearray()
    after_cr = False
    for fd, data in chunks:
        if not data:
            continue
        if pty:
            data, after_cr, fd = _crlf(data, after_cr), data.endswith(b"\r"), 1
        if v2:
            packet_id = SHELL_STDERR if fd == 2 else SHELL_STDOUT
            for off in range(0, len(data), SHELL_PACKET_MAX):
                piece = data[off : off + SHELL_PACKET_MAX]
                out += struct.pack("<BI", packet_id, len(piece)) + piece
                if len(out) >= step:
                    await stream.write(bytes(out))
                    out.clear()
        else:
            out += data
            if len(out) >= step:
                await stream.write(bytes(out))
                out.clear()
    if out:
        await stream.write(bytes(out))


def _shell_packets(chunks: list[tuple[int, bytes]]) -> bytes:
    """Shell-protocol packets for (fd, data) chunks, merging neighbours on the same fd."""
    merged: list[tuple[int, bytearray]] = []
    for fd, data in chunks:
        if not data:
            continue
        if merged and merged[-1][0] == fd:
            merged[-1][1].extend(data)
        else:
            merged.append((fd, bytearray(data)))
    out = bytearray()
    for fd, data in merged:
        packet_id = SHELL_STDERR if fd == 2 else SHELL_STDOUT
        for off in range(0, len(data), SHELL_PACKET_MAX):
            piece = data[off : off + SHELL_PACKET_MAX]
            out += struct.pack("<BI", packet_id, len(piece)) + piece
    return bytes(out)


def _sync_fail(message: str) -> bytes:
    raw = message.encode("utf-8", errors="replace")
    return b"FAIL" + struct.pack("<I", len(raw)) + raw


def _stat_v2(ident: bytes, vfs: VirtualFS, path: str) -> bytes:
    try:
        st = vfs.stat(path) if path else None
    except VfsError:
        st = None
    if st is None:
        return ident + struct.pack("<IQQIIIIQqqq", errno.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    size = 4096 if st.is_dir else st.size
    ino = abs(hash(st.path)) & 0xFFFFFFFF
    uid, gid = (2000, 1015) if vfs.writable(st.path) else (0, 0)
    return ident + struct.pack(
        "<IQQIIIIQqqq",
        0,
        0xFD05,
        ino,
        st.mode,
        2 if st.is_dir else 1,
        uid,
        gid,
        size,
        st.mtime,
        st.mtime,
        st.mtime,
    )


def _list_dir(vfs: VirtualFS, path: str) -> bytes:
    out = bytearray()
    try:
        entries = vfs.listdir(path)
        me = vfs.stat(path)
    except VfsError:
        entries, me = [], None
    if me is not None:
        for name in (".", ".."):
            name_b = name.encode()
            out += b"DENT" + struct.pack("<4I", me.mode, 4096, me.mtime, len(name_b)) + name_b
    for e in entries:
        name_b = e.path.rsplit("/", 1)[-1].encode("utf-8", errors="surrogateescape")
        size = 4096 if e.is_dir else e.size
        out += b"DENT" + struct.pack("<4I", e.mode, size & 0xFFFFFFFF, e.mtime, len(name_b)) + name_b
    out += b"DONE" + struct.pack("<4I", 0, 0, 0, 0)
    return bytes(out)
