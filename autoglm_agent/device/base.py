"""The device layer's contract: what the agent may ask of a phone.

The agent knows only this protocol. It never builds ADB command strings; ``AdbDevice`` (adbutils)
implements it for real phones and for the simulator.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from autoglm_agent.errors import AutoGLMError


class DeviceError(AutoGLMError):
    """Anything that went wrong talking to the phone."""


class AdbNotFoundError(DeviceError):
    """The adb binary / adb server cannot be reached."""


class NoDeviceError(DeviceError):
    """No device is connected (or the named serial is not among them)."""


class MultipleDevicesError(DeviceError):
    """Several devices are connected and no serial was given."""


class DeviceOfflineError(DeviceError):
    """The device is listed but offline or unauthorized."""


class DeviceTimeoutError(DeviceError):
    """An ADB call did not answer within its timeout."""


class DeviceConnectError(DeviceError):
    """``adb connect HOST:PORT`` was refused or did not reach the phone."""


class AppNotFoundError(DeviceError):
    """``launch(app)`` could not resolve the app to an installed package."""


class ScreenshotError(DeviceError):
    """The screen could not be captured (decode error, empty output)."""


class TextInputError(DeviceError):
    """Text cannot be typed (for example non-ASCII text without ADB Keyboard)."""


def adb_server_address(adb_host: str | None = None, adb_port: int | None = None) -> tuple[str, int]:
    """Where the adb server is: the values given, else ``$ANDROID_ADB_SERVER_ADDRESS`` and
    ``$ANDROID_ADB_SERVER_PORT`` (what the adb binary itself reads), else 127.0.0.1:5037."""
    host = adb_host or os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or "127.0.0.1"
    if adb_port is None:
        raw = os.environ.get("ANDROID_ADB_SERVER_PORT", "").strip()
        try:
            adb_port = int(raw) if raw else 5037
        except ValueError:
            adb_port = -1
        if not 0 < adb_port < 65536:
            raise AdbNotFoundError(
                f"ANDROID_ADB_SERVER_PORT={raw!r} is not a port number",
                hint="set it to the adb server's port (usually 5037), or unset it",
            )
    return host, adb_port


@dataclass(frozen=True)
class AppInfo:
    """The app in the foreground."""

    package: str
    activity: str | None = None

    def __str__(self) -> str:
        return self.package if not self.activity else f"{self.package}/{self.activity}"


@dataclass(frozen=True)
class Screenshot:
    """One capture of the screen.

    ``secure`` is True when the capture came back black (FLAG_SECURE screens such as payment
    pages): the pixels are kept, but callers must not treat them as a real view of the screen.
    """

    image: Image.Image
    width: int
    height: int
    secure: bool = False
    captured_at: float = field(default_factory=time.time)
    duration_s: float = 0.0

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass(frozen=True)
class PackageInfo:
    """An installed package; ``label`` is the launcher label where the device tells it."""

    package: str
    label: str | None = None


@runtime_checkable
class Device(Protocol):
    """A phone the agent can see and act on. Coordinates are screen pixels."""

    serial: str

    def screenshot(self) -> Screenshot: ...

    def screen_size(self) -> tuple[int, int]: ...

    def current_app(self) -> AppInfo: ...

    def tap(self, x: int, y: int) -> None: ...

    def double_tap(self, x: int, y: int) -> None: ...

    def long_press(self, x: int, y: int, duration_ms: int = 800) -> None: ...

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None: ...

    def type_text(self, text: str) -> None: ...

    def clear_text(self) -> None: ...

    def back(self) -> None: ...

    def home(self) -> None: ...

    def launch(self, app: str) -> str:
        """Start ``app`` (a human name in English or Chinese, a label, or a package name).

        Returns the package that was launched; raises ``AppNotFoundError``.
        """
        ...

    def ui_tree(self) -> str:
        """The uiautomator XML hierarchy of the current screen."""
        ...

    def installed_packages(self) -> list[str]: ...
