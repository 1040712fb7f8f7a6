"""The device layer: the ``Device`` protocol and its ADB implementation.

``AdbDevice`` drives a real phone or the simulator through the adb server (adbutils);
``list_devices`` / ``connect`` / ``disconnect`` back the CLI's ``devices``, ``connect`` and
``--device`` options. App-name resolution lives in ``apps``, text input in ``text``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from autoglm_agent.device.apps import display_name, registry_candidates, resolve_app
from autoglm_agent.device.base import (
    AdbNotFoundError,
    AppInfo,
    AppNotFoundError,
    Device,
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
    MultipleDevicesError,
    NoDeviceError,
    PackageInfo,
    Screenshot,
    ScreenshotError,
    TextInputError,
    adb_server_address,
)

if TYPE_CHECKING:
    from autoglm_agent.device.adb import (
        AdbDevice,
        DeviceInfo,
        ShellOutput,
        adb_server_version,
        connect,
        disconnect,
        ensure_adb_server,
        find_adb,
        list_devices,
        state_error,
    )

#: Imported on first use: adbutils (and its reading of $ANDROID_ADB_SERVER_PORT) loads only when
#: something talks to a phone, so a bad environment is reported as a one-line error there.
_FROM_ADB = {
    "AdbDevice",
    "DeviceInfo",
    "ShellOutput",
    "adb_server_version",
    "connect",
    "disconnect",
    "ensure_adb_server",
    "find_adb",
    "list_devices",
    "state_error",
}


def __getattr__(name: str) -> Any:
    if name in _FROM_ADB:
        adb_server_address()  # adbutils reads $ANDROID_ADB_SERVER_PORT on import: check it first
        return getattr(importlib.import_module("autoglm_agent.device.adb"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AdbDevice",
    "AdbNotFoundError",
    "AppInfo",
    "AppNotFoundError",
    "Device",
    "DeviceConnectError",
    "DeviceError",
    "DeviceInfo",
    "DeviceOfflineError",
    "DeviceTimeoutError",
    "MultipleDevicesError",
    "NoDeviceError",
    "PackageInfo",
    "Screenshot",
    "ScreenshotError",
    "ShellOutput",
    "TextInputError",
    "adb_server_address",
    "adb_server_version",
    "connect",
    "disconnect",
    "display_name",
    "ensure_adb_server",
    "find_adb",
    "list_devices",
    "registry_candidates",
    "resolve_app",
    "state_error",
]
