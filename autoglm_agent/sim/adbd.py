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


class _Stream:
    """One logical stream of a connection, seen from the device side."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        self.cancel = threading.Event()  # set when the host goes away; interrupts `sleep`
        self._buf = bytearray()
        self._eof = False
        self._data = asyncio.Event()
        self._ack = asyncio.Event()
        self._ack.set()  # the first WRTE may follow our OKAY directly

    # -- host -> device --------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._buf += data
        self._data.set()

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
        return out

    async def read_some(self) -> bytes | None:
        while not self._buf:
            if self._eof:
                return None
            self._data.clear()
            await self._data.wait()
        out = bytes(self._buf)
        self._buf.clear()
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
                if length > 16 * 1024 * 1024:
                    log.warning("ADB message of %d bytes is too large; dropping the connection", length)
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
            s.feed(msg.data)
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
        local_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < 0x7FFFFFFF else 1
        stream = _Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        await self.send(Message(A_OKAY, local_id, remote_id))
        task = asyncio.get_running_loop().create_task(self._run_service(service, stream, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_service(self, service: ServiceFn, stream: _Stream, name: str) -> None:
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
            if not stream.closed:
                with contextlib.suppress(Exception):
                    await stream.close()


class AdbdServer:
    """The simulated adbd: an asyncio TCP server speaking the ADB protocol for one SimDevice.

    Use :meth:`start` inside a running event loop (see :mod:`autoglm_agent.sim.runner` for a
    thread-hosted version).
    """

    def __init__(self, device: SimDevice, *, workers: int = 16) -> None:
        self.device = device
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-adbd")
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

    async def _run(self, fn: Callable[[], ShellResult | bytes]) -> ShellResult | bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn)

    async def _shell(self, stream: _Stream, command: str, *, v2: bool, pty: bool, service: str) -> None:
        if not v2:
            shell = Shell(self.device, service=service, cancel=stream.cancel)
            result = await self._run(lambda: shell.run(command))
            assert isinstance(result, ShellResult)
            data = result.output
            if pty:
                data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            await stream.write(data)
            return

        stdin_done: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        pump = asyncio.get_running_loop().create_task(self._pump_stdin(stream, stdin_done))

        def read_stdin() -> bytes:
            try:
                return stdin_done.result(timeout=STDIN_WAIT_S)
            except concurrent.futures.TimeoutError:
                return b""

        shell = Shell(self.device, service=service, cancel=stream.cancel, stdin=read_stdin)
        try:
            result = await self._run(lambda: shell.run(command))
        finally:
            pump.cancel()
            if not stdin_done.done():
                stdin_done.set_result(b"")
        assert isinstance(result, ShellResult)
        chunks = result.chunks
        if pty:  # a pty merges stderr into stdout and turns \n into \r\n
            merged = result.output.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            chunks = [(1, merged)] if merged else []
        await stream.write(
            _shell_packets(chunks) + struct.pack("<BI", SHELL_EXIT, 1) + bytes([result.exit_code & 0xFF])
        )

    async def _pump_stdin(self, stream: _Stream, done: concurrent.futures.Future[bytes]) -> None:
        buf = bytearray()
        try:
            while True:
                header = await stream.read_exact(5)
                if header is None:
                    break
                length = int.from_bytes(header[1:5], "little")
                data = await stream.read_exact(length) if length else b""
                if data is None:
                    break
                if header[0] == SHELL_STDIN:
                    buf += data
                elif header[0] == SHELL_CLOSE_STDIN:
                    break
        finally:
            if not done.done():
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
                result = await self._run(lambda: shell.run(text))
                assert isinstance(result, ShellResult)
                for fd, out in result.chunks:
                    await emit(out, fd)

        if pty:
            await emit(prompt())
        line = bytearray()
        pending_cr = False
        finished = False
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
                else:
                    line += ch
                    if pty:
                        await emit(ch)
        if v2:
            await stream.write(struct.pack("<BI", SHELL_EXIT, 1) + bytes([shell.status & 0xFF]))

    async def _framebuffer(self, stream: _Stream) -> None:
        payload = await self._run(self.device.framebuffer_service_payload)
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
