"""``AdbDevice``: the ``Device`` protocol over adbutils, for real phones and the simulator.

Design points:

* per-instance state only (client, serial, caches, IME state): several devices in one process;
* every call goes through :meth:`AdbDevice._exec`, bounded by ``timeout`` (per call, not per
  packet), and every adbutils / socket exception is translated in one place
  (:meth:`AdbDevice._errors`) into the ``DeviceError`` family: users never see a raw
  ``AdbError``, ``socket.timeout`` or ``EOFError``;
* shell v2 when the device offers it (separate stdout/stderr, exit status, and a dropped
  connection is noticed because the exit packet never comes), else the v1 ``shell:`` / ``exec:``
  services;
* every argument that reaches the device shell is ``shlex.quote``-d (see :func:`shell_join`) or
  base64.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import adbutils
import defusedxml.ElementTree as defused_et
from adbutils import AdbConnection
from adbutils.errors import AdbError, AdbTimeout
from defusedxml import DefusedXmlException
from PIL import Image
from pydantic import BaseModel

from autoglm_agent.device.apps import (
    LauncherEntry,
    Resolution,
    normalize_name,
    parse_launcher_activities,
    parse_package_list,
    reject_shell_syntax,
    resolve_app,
)
from autoglm_agent.device.base import (
    AdbNotFoundError,
    AppInfo,
    AppNotFoundError,
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
    MultipleDevicesError,
    NoDeviceError,
    Screenshot,
    ScreenshotError,
    adb_server_address,
)
from autoglm_agent.device.text import (
    ADB_KEYBOARD_IME,
    ADB_KEYBOARD_PACKAGE,
    IME_SWITCH_SETTLE_S,
    TextInputMode,
    TextInputter,
)

logger = logging.getLogger(__name__)

CaptureMethod = Literal["screencap", "framebuffer"]

NO_DEVICE_MESSAGE = (
    "no Android device is connected; connect one with USB debugging on, or run "
    "`autoglm-agent connect HOST:PORT`, or start the simulator with `autoglm-agent sim`"
)
ADB_NOT_FOUND_MESSAGE = (
    "adb not found; install Android platform tools (Debian/Ubuntu: apt-get install -y adb)"
)

KEYCODE_HOME = 3
KEYCODE_BACK = 4

#: Pixels at or below this luma count as black when judging a capture.
BLACK_LEVEL = 10
#: A capture whose (downscaled) pixels are at least this share black is a FLAG_SECURE capture.
SECURE_BLACK_SHARE = 0.97
#: ``uiautomator dump`` is slow on busy screens: its own floor for the per-call timeout.
UI_DUMP_MIN_TIMEOUT = 30.0
#: Gap between the two taps of ``double_tap`` (the two ``input`` processes overlap their start).
DOUBLE_TAP_GAP_S = 0.08


# =========================================================================== small pure helpers


def shell_join(*args: object) -> str:
    """One shell command line from arguments, each ``shlex.quote``-d."""
    return " ".join(shlex.quote(str(a)) for a in args)


def _brief(command: str) -> str:
    """A short, secret-free name for a command in error messages (``input text``, ``screencap``)."""
    words = command.split()
    return "`" + " ".join(words[:2])[:40] + "`" if words else "the command"


_WM_OVERRIDE = re.compile(r"Override size:\s*(\d+)\s*x\s*(\d+)")
_WM_PHYSICAL = re.compile(r"Physical size:\s*(\d+)\s*x\s*(\d+)")


def parse_wm_size(output: str) -> tuple[int, int] | None:
    """``(width, height)`` from ``wm size`` (the override size wins over the physical one)."""
    m = _WM_OVERRIDE.search(output) or _WM_PHYSICAL.search(output)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


_PKG = r"[A-Za-z][\w]*(?:\.[\w]+)+"
_COMPONENT = re.compile(rf"(?P<pkg>{_PKG})/(?P<act>[\w.$]+)")
_CURRENT_FOCUS = re.compile(r"mCurrentFocus=(?:Window\{(?P<body>[^}]*)\}|null)")
_FOCUSED_APP = re.compile(r"mFocusedApp=(?P<rest>.*)")
_ACTIVITY_RECORD = re.compile(rf"ActivityRecord\{{\S+\s+(?:u\d+\s+)?(?P<pkg>{_PKG})/(?P<act>[\w.$]+)")
_RESUMED = re.compile(
    rf"(?:mResumedActivity|topResumedActivity|ResumedActivity)[:=]\s*ActivityRecord\{{\S+\s+(?:u\d+\s+)?"
    rf"(?P<pkg>{_PKG})/(?P<act>[\w.$]+)"
)
_BARE_PKG = re.compile(rf"^{_PKG}$")


def _app(pkg: str, act: str | None) -> AppInfo:
    if act and act.startswith("."):
        act = pkg + act
    return AppInfo(package=pkg, activity=act or None)


def _from_window_body(body: str) -> AppInfo | None:
    """The app of a ``Window{hash u0 TITLE}`` body; None for system windows (StatusBar...)."""
    if m := _COMPONENT.search(body):
        return _app(m.group("pkg"), m.group("act"))
    title = re.sub(r"^\S+\s+(?:u\d+\s+)?", "", body.strip())
    # "Application Not Responding: com.foo", "Splash Screen com.foo", "com.foo" (no activity)
    for prefix in (
        "Application Not Responding:",
        "Application Error:",
        "Splash Screen",
        "SnapshotStartingWindow for",
    ):
        if title.startswith(prefix):
            title = title[len(prefix) :].strip()
            break
    title = title.split()[0] if title.split() else ""
    if _BARE_PKG.match(title) and not title.startswith("android.") and "." in title:
        # "com.android.systemui.ImageWallpaper" style class names are not apps we want
        if title.rsplit(".", 1)[-1][:1].isupper():
            return None
        return _app(title, None)
    return None


def parse_current_app(dumpsys_window: str) -> AppInfo | None:
    """The foreground app from ``dumpsys window`` (``windows``/``displays``) output.

    Handles the variants across Android versions: ``mCurrentFocus=Window{h u0 pkg/act}`` (all),
    several displays with ``mCurrentFocus=null`` lines (10+), system windows in focus
    (``StatusBar``, ``NotificationShade``, ``PopupWindow:...``), ANR dialogs and splash screens,
    and ``mFocusedApp=`` as ``AppWindowToken{... ActivityRecord{h u0 pkg/act t1}}`` (4.x-9) or
    ``ActivityRecord{h u0 pkg/act t1}`` (10+).
    """
    for m in _CURRENT_FOCUS.finditer(dumpsys_window):
        body = m.group("body")
        if body and (app := _from_window_body(body)):
            return app
    for m in _FOCUSED_APP.finditer(dumpsys_window):
        if rec := _ACTIVITY_RECORD.search(m.group("rest")):
            return _app(rec.group("pkg"), rec.group("act"))
    return None


def parse_resumed_activity(dumpsys_activity: str) -> AppInfo | None:
    """The resumed activity from ``dumpsys activity activities`` (fallback of ``current_app``)."""
    if m := _RESUMED.search(dumpsys_activity):
        return _app(m.group("pkg"), m.group("act"))
    return None


def is_secure_capture(image: Image.Image) -> bool:
    """True when a capture is (almost) all black, as FLAG_SECURE screens come out.

    Cheap: a box-downscaled copy (about 64 px on the short side) and its luma histogram; a few
    light pixels (status-bar icons drawn over the black secure layer) are tolerated.
    """
    factor = max(1, min(image.size) // 64)
    small = image.reduce(factor) if factor > 1 else image
    hist = small.convert("L").histogram()
    total = small.width * small.height
    if total == 0:
        return True
    dark = sum(hist[: BLACK_LEVEL + 1])
    return dark / total >= SECURE_BLACK_SHARE


def decode_screencap(data: bytes, serial: str = "the device") -> Image.Image:
    """An RGB image from ``screencap -p`` output; ``ScreenshotError`` when it is not one."""
    if not data:
        raise ScreenshotError(
            f"screencap on {serial} returned no image", hint="wake and unlock the phone, then retry"
        )
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # PIL raises many types for corrupt data
        raise ScreenshotError(
            f"screencap on {serial} returned {len(data)} bytes that are not an image: {exc}",
            hint="retry; if it persists, this device's screencap is broken",
        ) from exc
    return image if image.mode == "RGB" else image.convert("RGB")


class UiTreeError(DeviceError):
    """A uiautomator dump that is not plain XML (a DTD, entities, external references)."""


def parse_ui_xml(ui_xml: str) -> ET.Element:
    """The root element of a uiautomator dump. The text is the phone's (any app can put anything
    on screen): parsed with defusedxml, so DTDs, entity expansion and external references are
    refused. Raises ``ET.ParseError`` for malformed XML and ``UiTreeError`` for forbidden constructs."""
    try:
        return defused_et.fromstring(ui_xml.strip())
    except DefusedXmlException as exc:
        raise UiTreeError(f"the UI tree uses a forbidden XML construct ({type(exc).__name__})") from None


def focused_text_length(ui_xml: str) -> int | None:
    """Length of the text in the focused (editable) node of a uiautomator dump, if any."""
    try:
        root = parse_ui_xml(ui_xml)
    except (ET.ParseError, UiTreeError):
        return None
    best: int | None = None
    for node in root.iter("node"):
        if node.get("focused") != "true":
            continue
        text = node.get("text") or ""
        cls = node.get("class") or ""
        if "EditText" in cls or node.get("focusable") == "true":
            return len(text)
        best = len(text)
    return best


# =========================================================================== adb server / binary


def find_adb() -> str | None:
    """The adb binary: ``$ADBUTILS_ADB_PATH`` if set (authoritative), else ``adb`` on PATH, the
    Android SDK's platform-tools, or the binary bundled with adbutils."""
    env = os.environ.get("ADBUTILS_ADB_PATH")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    candidates: list[str | None] = [shutil.which("adb")]
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        if root := os.environ.get(var):
            candidates.append(str(Path(root) / "platform-tools" / "adb"))
    candidates.append(str(Path(adbutils.__file__).parent / "binaries" / "adb"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def _server_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


def ensure_adb_server(adb_host: str | None = None, adb_port: int | None = None) -> None:
    """Make sure an adb server answers at ``adb_host:adb_port`` (see ``adb_server_address``); start
    it (once) when it is local and the adb binary exists. Raises ``AdbNotFoundError``."""
    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    if _server_reachable(adb_host, adb_port):
        return
    if not _is_local(adb_host):
        raise AdbNotFoundError(
            f"no adb server answers at {adb_host}:{adb_port}",
            hint="start it there with `adb -a start-server`, or use the local one",
        )
    adb = find_adb()
    if adb is None:
        raise AdbNotFoundError(ADB_NOT_FOUND_MESSAGE)
    logger.info("starting the adb server: %s -P %d start-server", adb, adb_port)
    try:
        subprocess.run(
            [adb, "-P", str(adb_port), "start-server"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=20.0,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AdbNotFoundError(f"could not start the adb server with {adb}: {exc}") from exc
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if _server_reachable(adb_host, adb_port, timeout=0.5):
            return
        time.sleep(0.1)
    raise AdbNotFoundError(
        f"the adb server did not come up on {adb_host}:{adb_port} after `adb start-server`",
        hint=f"run `{adb} -P {adb_port} start-server` by hand to see why",
    )


def _client(adb_host: str, adb_port: int, timeout: float) -> adbutils.AdbClient:
    return adbutils.AdbClient(host=adb_host, port=adb_port, socket_timeout=timeout)


def adb_server_version(
    adb_host: str | None = None, adb_port: int | None = None, *, timeout: float = 10.0
) -> int:
    """The adb server's protocol version (starting a local server when needed). Raises ``DeviceError``."""
    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    ensure_adb_server(adb_host, adb_port)
    try:
        return int(_client(adb_host, adb_port, timeout).server_version())
    except (AdbError, OSError, EOFError, ValueError, subprocess.SubprocessError) as exc:
        raise _server_error(adb_host, adb_port, exc) from exc


# =========================================================================== device listing


class DeviceInfo(BaseModel):
    """One device the adb server knows about (``adb devices -l``)."""

    serial: str
    state: str
    model: str | None = None
    product: str | None = None
    device: str | None = None
    transport_id: int | None = None

    @property
    def online(self) -> bool:
        return self.state == "device"


def _server_error(adb_host: str, adb_port: int, exc: BaseException) -> DeviceError:
    if isinstance(exc, AdbTimeout | TimeoutError):
        return DeviceTimeoutError(f"the adb server at {adb_host}:{adb_port} did not answer in time")
    return AdbNotFoundError(
        f"cannot talk to the adb server at {adb_host}:{adb_port}: {exc}",
        hint="check `adb devices` on this machine",
    )


def _list(client: adbutils.AdbClient) -> list[DeviceInfo]:
    out = []
    for info in client.list(extended=True):
        tags = info.tags or {}
        tid = tags.get("transport_id")
        out.append(
            DeviceInfo(
                serial=info.serial,
                state=info.state,
                model=tags.get("model"),
                product=tags.get("product"),
                device=tags.get("device"),
                transport_id=int(tid) if tid and tid.isdigit() else None,
            )
        )
    return out


def list_devices(
    adb_host: str | None = None, adb_port: int | None = None, *, timeout: float = 10.0
) -> list[DeviceInfo]:
    """Every device the adb server sees, online or not (serial, state, model where known)."""
    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    ensure_adb_server(adb_host, adb_port)
    try:
        return _list(_client(adb_host, adb_port, timeout))
    except (AdbError, OSError, EOFError, subprocess.SubprocessError) as exc:
        raise _server_error(adb_host, adb_port, exc) from exc


def state_error(serial: str, state: str) -> DeviceOfflineError:
    """The error (with its fix) for a device listed in ``state`` (unauthorized, offline...)."""
    if state == "unauthorized":
        return DeviceOfflineError(
            f"device {serial} is unauthorized",
            hint="unlock the phone, accept the 'Allow USB debugging?' prompt and tick 'Always allow', then retry",
        )
    if state == "offline":
        return DeviceOfflineError(
            f"device {serial} is offline",
            hint="reconnect the cable, or Wi-Fi with `autoglm-agent connect HOST:PORT`, unlock the phone, then retry",
        )
    if state in ("authorizing", "connecting"):
        return DeviceOfflineError(f"device {serial} is still {state}", hint="wait a few seconds and retry")
    if state.startswith("no"):  # "no permissions" (Linux udev)
        return DeviceOfflineError(
            f"no permission to use device {serial}",
            hint="add a udev rule for the phone or run adb as root, replug it, then retry",
        )
    return DeviceOfflineError(
        f"device {serial} is in state {state!r}, not ready for ADB commands",
        hint="boot it into Android and retry",
    )


def _normalize_address(address: str) -> str:
    address = address.strip()
    if not address:
        raise DeviceConnectError("no address given", hint="use HOST:PORT, e.g. 192.168.1.23:5555")
    if address.startswith("["):  # [v6]:port
        return address if "]:" in address else f"{address}:5555"
    if address.count(":") == 1:
        host, port = address.rsplit(":", 1)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DeviceConnectError(f"bad address {address!r}", hint="use HOST:PORT, e.g. 192.168.1.23:5555")
        return address
    if ":" not in address:
        return f"{address}:5555"
    return address


def _split_hostport(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def _same_endpoint(address: str, infos: Iterable[DeviceInfo]) -> DeviceInfo | None:
    """The device the adb server lists under another spelling of ``address`` (``localhost:5555``
    listed as ``127.0.0.1:5555``), if exactly one matches."""
    host, port = _split_hostport(address)
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        return None
    found = []
    for info in infos:
        h, p = _split_hostport(info.serial)
        if p != port or not h:
            continue
        try:
            if socket.gethostbyname(h) == ip:
                found.append(info)
        except OSError:
            continue
    return found[0] if len(found) == 1 else None


def connect(
    address: str, *, adb_host: str | None = None, adb_port: int | None = None, timeout: float = 10.0
) -> str:
    """``adb connect HOST:PORT`` (Wi-Fi ADB); waits until the device is usable and returns its
    serial. Raises ``DeviceConnectError`` when refused, ``DeviceOfflineError`` when unauthorized."""
    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    addr = _normalize_address(address)
    ensure_adb_server(adb_host, adb_port)
    client = _client(adb_host, adb_port, timeout)
    try:
        reply = (client.connect(addr, timeout=timeout) or "").strip()
    except (AdbTimeout, TimeoutError) as exc:
        raise DeviceConnectError(
            f"connecting to {addr} timed out after {timeout:g}s",
            hint="check the address and that Wireless debugging / `adb tcpip 5555` is on",
        ) from exc
    except (AdbError, OSError, EOFError, subprocess.SubprocessError) as exc:
        raise _server_error(adb_host, adb_port, exc) from exc
    low = reply.lower()
    if not (low.startswith("connected to") or low.startswith("already connected to")):
        raise DeviceConnectError(
            f"could not connect to {addr}: {reply or 'no answer'}",
            hint="check the address, that the phone is on the same network with Wireless debugging on "
            "(Android 11+: pair first with `adb pair`), or `adb tcpip 5555` over USB",
        )
    deadline = time.monotonic() + timeout
    state = "unknown"
    while True:
        try:
            infos = {d.serial: d for d in _list(client)}
        except (AdbError, OSError, EOFError, subprocess.SubprocessError) as exc:
            raise _server_error(adb_host, adb_port, exc) from exc
        info = infos.get(addr) or _same_endpoint(addr, infos.values())
        if info is not None:
            state = info.state
            if state == "device":
                return info.serial
            if state == "unauthorized":
                raise state_error(info.serial, state)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    raise DeviceOfflineError(
        f"connected to {addr} but the device stayed {state}",
        hint="accept the debugging prompt on the phone, or retry `autoglm-agent connect`",
    )


def disconnect(
    address: str, *, adb_host: str | None = None, adb_port: int | None = None, timeout: float = 10.0
) -> None:
    """``adb disconnect HOST:PORT``. Raises ``NoDeviceError`` when it was not connected."""
    adb_host, adb_port = adb_server_address(adb_host, adb_port)
    addr = _normalize_address(address)
    ensure_adb_server(adb_host, adb_port)
    client = _client(adb_host, adb_port, timeout)
    try:
        client.disconnect(addr, raise_error=True)
    except AdbTimeout as exc:
        raise _server_error(adb_host, adb_port, exc) from exc
    except AdbError as exc:
        if "no such device" in str(exc).lower() or "not found" in str(exc).lower():
            raise NoDeviceError(
                f"{addr} is not connected", hint="`autoglm-agent devices` lists what is"
            ) from exc
        raise _server_error(adb_host, adb_port, exc) from exc
    except (OSError, EOFError, subprocess.SubprocessError) as exc:
        raise _server_error(adb_host, adb_port, exc) from exc


# =========================================================================== the device


@dataclass(frozen=True)
class ShellOutput:
    """What one device shell command produced. ``exit_code`` is None over shell v1."""

    stdout: bytes
    stderr: bytes
    exit_code: int | None

    @property
    def text(self) -> str:
        return (self.stdout + self.stderr).decode("utf-8", errors="replace")


class _Deadline(Exception):
    """Internal: the whole call ran past its timeout."""


def _close(conn: AdbConnection) -> None:
    # adbutils' close() shuts the write side and sleeps 10 ms; the stream is finished (or broken)
    # when we get here, so close the socket at once.
    with suppress(Exception):
        conn.conn.close()


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline
        sock.settimeout(remaining)
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError(f"connection closed after {got} of {n} bytes")
        got += k
    return bytes(buf)


def _recv_all(sock: socket.socket, deadline: float) -> bytes:
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline
        sock.settimeout(remaining)
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class AdbDevice:
    """A phone (or the simulator) over the adb server, implementing ``Device``.

    ``serial`` None picks the only connected device (or ``$ANDROID_SERIAL``). ``timeout`` bounds
    every ADB call (``uiautomator dump`` gets at least 30 s). ``text_input`` picks the typing
    strategy (see :mod:`autoglm_agent.device.text`); with ADB Keyboard, the phone's own keyboard is
    current again after each Type, and ``ime_settle_s`` is waited after switching to ADB Keyboard
    (0 for the simulator, which needs no wait). ``capture`` is ``"screencap"`` (PNG over
    ``screencap -p``, the robust default) or ``"framebuffer"`` (raw pixels over the
    ``framebuffer:`` service; no PNG encode on the phone, but more bytes on the wire and absent or
    broken on some devices).

    Use it as a context manager, or call :meth:`close` (a ``clear_text`` that no ``type_text``
    followed may have left ADB Keyboard on until the next command or ``close``).
    """

    def __init__(
        self,
        serial: str | None = None,
        *,
        adb_host: str | None = None,
        adb_port: int | None = None,
        timeout: float = 10.0,
        text_input: TextInputMode = "auto",
        capture: CaptureMethod = "screencap",
        ime_settle_s: float = IME_SWITCH_SETTLE_S,
    ) -> None:
        if not 0 < timeout < float("inf"):  # NaN fails the comparison too
            raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")
        if capture not in ("screencap", "framebuffer"):
            raise ValueError(f"capture must be 'screencap' or 'framebuffer', not {capture!r}")
        self.adb_host, self.adb_port = adb_host, adb_port = adb_server_address(adb_host, adb_port)
        self.timeout = float(timeout)
        self.capture: CaptureMethod = capture
        ensure_adb_server(adb_host, adb_port)
        self._client = _client(adb_host, adb_port, self.timeout)
        self.serial: str = self._resolve_serial(serial)
        self._features: frozenset[str] = self._read_features()
        self._shell_v2 = "shell_v2" in self._features
        self._size: tuple[int, int] | None = None
        self._packages: list[str] | None = None
        self._launcher: list[LauncherEntry] | None = None
        self._resolved: dict[str, Resolution] = {}
        self._focus_sources: list[tuple[str, Callable[[str], AppInfo | None]]] = [
            ("dumpsys window windows", parse_current_app),
            ("dumpsys window", parse_current_app),
            ("dumpsys activity activities", parse_resumed_activity),
        ]
        self._closed = False
        self._text = TextInputter(
            self._sh,
            mode=text_input,
            has_adbkeyboard=lambda: ADB_KEYBOARD_PACKAGE in self._installed(),
            focused_text_length=self._focused_text_length,
            serial=self.serial,
            settle_s=ime_settle_s,
        )

    # ------------------------------------------------------------------ lifecycle
    def __repr__(self) -> str:
        return f"AdbDevice(serial={self.serial!r}, adb={self.adb_host}:{self.adb_port})"

    def __enter__(self) -> AdbDevice:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Restore the phone's own keyboard if a ``clear_text`` left ADB Keyboard on. Idempotent;
        never raises for a device that has gone away (logs a warning instead)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._text.close()
        except DeviceError as exc:
            logger.warning("could not restore the keyboard on %s: %s", self.serial, exc)

    def _restore_keyboard(self) -> None:
        """A ``clear_text`` that no ``type_text`` followed left ADB Keyboard on: switch the user's
        keyboard back before anything else reaches the phone (the screenshot after a lone clear
        shows the phone as its user has it). Costs nothing when no restore is pending."""
        if not self._text.restore_pending:
            return
        try:
            self._text.restore_keyboard()  # clears the pending flag before its own command runs
        except DeviceError as exc:  # the command that follows meets the same trouble, and says so
            logger.warning("could not restore the keyboard on %s: %s", self.serial, exc)

    # ------------------------------------------------------------------ resolution
    def _resolve_serial(self, serial: str | None) -> str:
        try:
            infos = _list(self._client)
        except (AdbError, OSError, EOFError, subprocess.SubprocessError) as exc:
            raise _server_error(self.adb_host, self.adb_port, exc) from exc
        serial = serial or os.environ.get("ANDROID_SERIAL") or None
        if serial:
            match = next((d for d in infos if d.serial == serial), None)
            if match is None:
                known = ", ".join(d.serial for d in infos) or "none"
                hint = (
                    f"connect it with `autoglm-agent connect {serial}`"
                    if re.search(r":\d+$", serial)
                    else "plug it in with USB debugging on; `autoglm-agent devices` lists what is connected"
                )
                raise NoDeviceError(f"device {serial} not found (connected: {known})", hint=hint)
            if match.state != "device":
                raise state_error(serial, match.state)
            return serial
        online = [d for d in infos if d.state == "device"]
        if len(online) == 1:
            return online[0].serial
        if len(online) > 1:
            raise MultipleDevicesError(
                f"{len(online)} devices are connected ({', '.join(d.serial for d in online)}); "
                "choose one with --device SERIAL"
            )
        if infos:
            raise state_error(infos[0].serial, infos[0].state)
        raise NoDeviceError(NO_DEVICE_MESSAGE)

    def _read_features(self) -> frozenset[str]:
        with self._errors("`features`"):
            c = self._client.make_connection(timeout=self.timeout)
            try:
                c.send_command(f"host-serial:{self.serial}:features")
                c.check_okay()
                return frozenset(c.read_string_block().strip().split(","))
            finally:
                _close(c)

    # ------------------------------------------------------------------ transport core
    @contextmanager
    def _errors(self, what: str, timeout: float | None = None) -> Iterator[None]:
        """The one place where adbutils / socket exceptions become ``DeviceError``s."""
        try:
            yield
        except DeviceError:
            raise
        except (_Deadline, AdbTimeout, TimeoutError, subprocess.TimeoutExpired) as exc:
            raise DeviceTimeoutError(
                f"device {self.serial} did not answer {what} within {timeout or self.timeout:g}s",
                hint="the phone may be frozen or the link stalled; check `autoglm-agent devices`, or raise the timeout",
            ) from exc
        except AdbError as exc:
            msg = " ".join(str(a) for a in exc.args if isinstance(a, str)) or type(exc).__name__
            low = msg.lower()
            if "connect to adb server" in low or "no adb exe" in low:
                raise AdbNotFoundError(
                    f"lost the adb server at {self.adb_host}:{self.adb_port} during {what}: {msg}",
                    hint="run `adb start-server`; if adb is missing: apt-get install -y adb",
                ) from exc
            if "unauthorized" in low:
                raise state_error(self.serial, "unauthorized") from exc
            if "offline" in low:
                raise DeviceOfflineError(
                    f"device {self.serial} went offline during {what}",
                    hint="reconnect it, over Wi-Fi with `autoglm-agent connect HOST:PORT`, and retry",
                ) from exc
            if "not found" in low or "no devices" in low or "closed" in low:
                raise DeviceOfflineError(
                    f"device {self.serial} disconnected during {what}",
                    hint="reconnect it; `autoglm-agent devices` shows what is connected",
                ) from exc
            raise DeviceError(f"adb failed during {what} on {self.serial}: {msg}") from exc
        except (EOFError, OSError, subprocess.SubprocessError) as exc:
            raise DeviceOfflineError(
                f"the connection to {self.serial} dropped during {what}",
                hint="check the cable or Wi-Fi; `autoglm-agent devices` shows its state",
            ) from exc

    def _open(self, service: str, timeout: float) -> AdbConnection:
        """A connection to ``service`` on this device (``host:transport`` works on every adb
        version, and skips adbutils' extra ``host:version`` round trip)."""
        c = self._client.make_connection(timeout=timeout)
        try:
            c.send_command(f"host:transport:{self.serial}")
            c.check_okay()
            c.send_command(service)
            c.check_okay()
        except BaseException:
            _close(c)
            raise
        return c

    def _exec(self, command: str, *, timeout: float | None = None, exec_out: bool = False) -> ShellOutput:
        """Run one shell command line on the device; bounded by ``timeout`` for the whole call.

        ``exec_out`` asks for raw binary stdout over shell v1 devices (the ``exec:`` service).
        """
        self._restore_keyboard()
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        with self._errors(_brief(command), timeout):
            if self._shell_v2:
                c = self._open(f"shell,v2:{command}", timeout)
                try:
                    return self._read_v2(c.conn, deadline)
                finally:
                    _close(c)
            c = self._open(f"{'exec' if exec_out else 'shell'}:{command}", timeout)
            try:
                return ShellOutput(_recv_all(c.conn, deadline), b"", None)
            finally:
                _close(c)

    @staticmethod
    def _read_v2(sock: socket.socket, deadline: float) -> ShellOutput:
        out = io.BytesIO()
        err = io.BytesIO()
        while True:
            header = _recv_exact(sock, 5, deadline)
            kind = header[0]
            length = int.from_bytes(header[1:5], "little")
            data = _recv_exact(sock, length, deadline) if length else b""
            if kind == 1:
                out.write(data)
            elif kind == 2:
                err.write(data)
            elif kind == 3:
                return ShellOutput(out.getvalue(), err.getvalue(), data[0] if data else 0)

    def _sh(self, command: str, *, check: bool = True, timeout: float | None = None) -> str:
        """Run ``command``; its stdout+stderr as text. ``check``: non-zero exit -> DeviceError."""
        res = self._exec(command, timeout=timeout)
        if check and res.exit_code not in (0, None):
            last = (res.text.strip().splitlines() or ["no output"])[-1]
            raise DeviceError(f"{_brief(command)} failed on {self.serial} (exit {res.exit_code}): {last}")
        return res.text

    def shell(self, *args: object, timeout: float | None = None) -> ShellOutput:
        """Run a command given as arguments (each shell-quoted) and return its output."""
        return self._exec(shell_join(*args), timeout=timeout)

    # ------------------------------------------------------------------ screen
    def screenshot(self) -> Screenshot:
        """One capture of the screen, in one round trip. Raises ``ScreenshotError``."""
        t0 = time.perf_counter()
        image = self._capture_framebuffer() if self.capture == "framebuffer" else self._capture_png()
        secure = is_secure_capture(image)
        self._size = image.size
        return Screenshot(
            image=image,
            width=image.width,
            height=image.height,
            secure=secure,
            duration_s=time.perf_counter() - t0,
        )

    def _capture_png(self) -> Image.Image:
        res = self._exec("screencap -p", exec_out=True)
        data = res.stdout
        if not data:
            why = res.stderr.decode("utf-8", errors="replace").strip()
            raise ScreenshotError(
                f"screencap on {self.serial} returned no image" + (f": {why}" if why else ""),
                hint="wake and unlock the phone, then retry",
            )
        return decode_screencap(data, self.serial)

    def _capture_framebuffer(self) -> Image.Image:
        """Raw pixels from the ``framebuffer:`` service (header: version, bpp[, colorspace], size,
        width, height, then offset/length of red, blue, green, alpha)."""
        self._restore_keyboard()  # `_exec` does this for every other command
        deadline = time.monotonic() + self.timeout
        with self._errors("`framebuffer:`"):
            c = self._open("framebuffer:", self.timeout)
            try:
                sock = c.conn

                def u32() -> int:
                    return int.from_bytes(_recv_exact(sock, 4, deadline), "little")

                version = u32()
                if version == 16:  # very old devices: RGB565, header is size, width, height
                    size, width, height = u32(), u32(), u32()
                    data = _recv_exact(sock, size, deadline)
                    return Image.frombytes("RGB", (width, height), data, "raw", "BGR;16")
                bpp = u32()
                if version >= 2:
                    u32()  # colour space
                size, width, height = u32(), u32(), u32()
                fields = [u32() for _ in range(8)]
                data = _recv_exact(sock, size, deadline)
            finally:
                _close(c)
        if size == 0 or width == 0 or height == 0:
            raise ScreenshotError(
                f"the framebuffer service on {self.serial} returned an empty frame",
                hint="use capture='screencap'",
            )
        r_off, _r_len, b_off, _b_len, g_off, _g_len, _a_off, _a_len = fields
        try:
            if bpp in (24, 32) and size >= width * height * bpp // 8:
                slots = ["X"] * (bpp // 8)
                for off, ch in ((r_off, "R"), (g_off, "G"), (b_off, "B")):
                    if off % 8 or off // 8 >= len(slots):
                        raise ValueError(f"colour offset {off}")
                    slots[off // 8] = ch
                return Image.frombytes("RGB", (width, height), data, "raw", "".join(slots))
            if bpp == 16 and size >= width * height * 2:
                rawmode = "BGR;16" if r_off > b_off else "RGB;16"
                return Image.frombytes("RGB", (width, height), data, "raw", rawmode)
        except (ValueError, OSError) as exc:
            raise ScreenshotError(
                f"cannot decode the framebuffer of {self.serial}: {exc}", hint="use capture='screencap'"
            ) from exc
        raise ScreenshotError(
            f"unsupported framebuffer format on {self.serial} ({bpp} bits per pixel)",
            hint="use capture='screencap'",
        )

    def screen_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels as the screen is oriented now.

        Cached per instance; every screenshot refreshes it with the captured size, so a rotation
        is picked up at the next capture for free. Before the first capture: ``wm size``.
        """
        if self._size is None:
            size = parse_wm_size(self._sh("wm size"))
            if size is None:
                self._size = self.screenshot().size
            else:
                self._size = size
        return self._size

    def current_app(self) -> AppInfo:
        """The app in the foreground (``AppInfo("unknown")`` when the phone does not say).

        ``dumpsys window windows`` first; ``dumpsys window`` and ``dumpsys activity activities``
        as fallbacks. The first source that answers is tried first from then on.
        """
        for i, (cmd, parse) in enumerate(self._focus_sources):
            app = parse(self._sh(cmd, check=False))
            if app is not None:
                if i:
                    self._focus_sources.insert(0, self._focus_sources.pop(i))
                return app
        return AppInfo(package="unknown")

    # ------------------------------------------------------------------ input
    @staticmethod
    def _xy(x: float, y: float) -> tuple[int, int]:
        return max(0, round(x)), max(0, round(y))

    def tap(self, x: int, y: int) -> None:
        self._sh(shell_join("input", "tap", *self._xy(x, y)))

    def double_tap(self, x: int, y: int) -> None:
        """Two taps in one shell invocation. The second ``input`` starts while the first is still
        starting up (``&``), so on a real phone the taps land about ``DOUBLE_TAP_GAP_S`` apart,
        well inside Android's 300 ms double-tap window, instead of a whole ``input`` process
        start-up (often 150-400 ms) apart. adbd keeps the call open until both have finished,
        since the background one holds the output stream."""
        tap = shell_join("input", "tap", *self._xy(x, y))
        self._sh(f"{tap} & sleep {DOUBLE_TAP_GAP_S}; {tap}")

    def long_press(self, x: int, y: int, duration_ms: int = 800) -> None:
        px, py = self._xy(x, y)
        self._sh(shell_join("input", "swipe", px, py, px, py, max(1, int(duration_ms))))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        a, b = self._xy(x1, y1)
        c, d = self._xy(x2, y2)
        self._sh(shell_join("input", "swipe", a, b, c, d, max(1, int(duration_ms))))

    def back(self) -> None:
        self._sh(shell_join("input", "keyevent", KEYCODE_BACK))

    def home(self) -> None:
        self._sh(shell_join("input", "keyevent", KEYCODE_HOME))

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused field exactly (any Unicode with ADB Keyboard; printable
        ASCII, newlines and tabs with ``input text``). Raises ``TextInputError``. ADB Keyboard is
        switched on for this call only: the phone's own keyboard is current when it returns."""
        self._text.type_text(text)

    def clear_text(self) -> None:
        """Clear the focused field (ADB Keyboard's ADB_CLEAR_TEXT, else MOVE_END + DELs). With ADB
        Keyboard, the user's keyboard comes back with the ``type_text`` that usually follows, else
        before the next command reaches the phone."""
        self._text.clear_text()

    @property
    def text_input_strategy(self) -> str:
        """``"adbkeyboard"`` or ``"input"``: what ``type_text`` uses on this device."""
        return self._text.strategy

    def _focused_text_length(self) -> int | None:
        return focused_text_length(self.ui_tree())

    # ------------------------------------------------------------------ UI hierarchy
    def ui_tree(self) -> str:
        """The uiautomator XML of the current screen, dumped to a unique file under
        /data/local/tmp, read back with ``cat`` and deleted, all in one shell call."""
        path = shlex.quote(f"/data/local/tmp/autoglm-ui-{uuid.uuid4().hex}.xml")
        cmd = f"uiautomator dump {path} && cat {path}; rm -f {path}"
        last = "no output"
        for attempt in range(2):
            res = self._exec(cmd, timeout=max(self.timeout, UI_DUMP_MIN_TIMEOUT))
            text = res.stdout.decode("utf-8", errors="replace")
            start = text.find("<?xml")
            if start < 0:
                start = text.find("<hierarchy")
            if start >= 0:
                xml = text[start:].strip()
                end = xml.rfind("</hierarchy>")
                return xml[: end + len("</hierarchy>")] if end >= 0 else xml
            last = (res.text.strip().splitlines() or ["no output"])[-1]
            if attempt == 0 and ("idle" in last.lower() or "null root" in last.lower()):  # animating
                time.sleep(0.3)
                continue
            break
        raise DeviceError(
            f"uiautomator dump failed on {self.serial}: {last}", hint="retry when the screen is still"
        )

    # ------------------------------------------------------------------ apps
    def installed_packages(self) -> list[str]:
        """Every installed package (``pm list packages``), sorted."""
        pkgs = parse_package_list(self._sh("pm list packages"))
        self._packages = pkgs
        return list(pkgs)

    def _installed(self) -> list[str]:
        if self._packages is None:
            self.installed_packages()
        assert self._packages is not None
        return self._packages

    def adb_keyboard_status(self) -> Literal["missing", "disabled", "enabled"]:
        """Whether ADB Keyboard is installed and in the phone's enabled IMEs (one shell command)."""
        marker = "--autoglm-ime--"
        out = self._sh(f"pm list packages {ADB_KEYBOARD_PACKAGE}; echo {marker}; ime list -s", check=False)
        packages, sep, imes = out.partition(marker)
        if not sep:
            last = (out.strip().splitlines() or ["no output"])[-1]
            raise DeviceError(f"could not read the packages and keyboards of {self.serial}: {last}")
        if ADB_KEYBOARD_PACKAGE not in parse_package_list(packages):
            return "missing"
        enabled = {line.strip() for line in imes.splitlines()}
        return "enabled" if ADB_KEYBOARD_IME in enabled else "disabled"

    def launcher_activities(self) -> list[LauncherEntry]:
        """Apps on the launcher: ``cmd package query-activities`` (Android 7+), cached."""
        if self._launcher is None:
            res = self._exec(
                shell_join(
                    "cmd",
                    "package",
                    "query-activities",
                    "--brief",
                    "-a",
                    "android.intent.action.MAIN",
                    "-c",
                    "android.intent.category.LAUNCHER",
                )
            )
            self._launcher = parse_launcher_activities(res.text) if res.exit_code in (0, None) else []
        return list(self._launcher)

    def resolve_app(self, app: str) -> Resolution:
        """Which installed package ``app`` names (cached; see :func:`apps.resolve_app`)."""
        reject_shell_syntax(app)  # before the cache: "Settings;" normalizes like "Settings"
        key = normalize_name(app) or app.strip()
        if key in self._resolved:
            return self._resolved[key]
        fresh = self._packages is None and self._launcher is None
        try:
            res = resolve_app(app, self._installed(), self.launcher_activities(), serial=self.serial)
        except AppNotFoundError:
            if fresh:
                raise
            self._packages = None  # something may have been installed since: look again once
            self._launcher = None
            res = resolve_app(app, self._installed(), self.launcher_activities(), serial=self.serial)
        self._resolved[key] = res
        return res

    def launch(self, app: str) -> str:
        """Start ``app`` (package, component, or a human name in English/Chinese; case- and
        space-insensitive); returns the package. Raises ``AppNotFoundError``."""
        res = self.resolve_app(app)
        if res.component:
            out = self._sh(shell_join("am", "start", "-n", res.component), check=False)
            if "error" not in out.lower() and "exception" not in out.lower():
                return res.package
            logger.debug("am start -n %s failed (%s); trying monkey", res.component, out.strip())
        out = self._sh(
            shell_join("monkey", "-p", res.package, "-c", "android.intent.category.LAUNCHER", "1"),
            check=False,
        )
        low = out.lower()
        if "no activities found" in low or "aborted" in low or "error" in low:
            raise AppNotFoundError(
                f"{res.package} is installed on {self.serial} but could not be started: "
                f"{(out.strip().splitlines() or ['no output'])[-1]}",
                hint="it may have no launcher activity; open it from the home screen instead",
            )
        return res.package
