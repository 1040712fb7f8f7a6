"""The device layer: the ``Device`` protocol and its ADB implementation.

``AdbDevice`` drives a real phone or the simulator through the adb server (adbutils);
``list_devices`` / ``connect`` / ``disconnect`` back the CLI's ``devices``, ``connect`` and
``--device`` options. App-name resolution lives in ``apps``, text input in ``text``.
"""

from __future__ import annotations

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
)

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
