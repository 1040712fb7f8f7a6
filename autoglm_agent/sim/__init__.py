"""A simulated Android phone that speaks the adbd side of the ADB wire protocol.

The real ``adb`` server and adbutils accept it as a device after ``adb connect``::

    from autoglm_agent.sim import Simulator

    with Simulator(seed=0) as sim:        # serves on a free port, runs `adb connect`
        print(sim.serial)                 # "127.0.0.1:PORT"
        print(sim.phone.current_focus())  # the phone's state, readable from Python
        print(sim.command_log[-1])        # what the client ran

Layers: :mod:`.adbd` (transport, streams, services) -> :mod:`.shell` (an in-process shell, no
OS shell involved) -> :mod:`.commands` (``input``, ``am``, ``pm``, ``dumpsys``, ...) ->
:mod:`.phone` (state, apps, rendering, UI XML).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoglm_agent.sim.adbd import AdbdServer
    from autoglm_agent.sim.commands import SimDevice
    from autoglm_agent.sim.phone import Phone, PhoneState, SimApp
    from autoglm_agent.sim.runner import Simulator, SimulatorError, serve_forever
    from autoglm_agent.sim.shell import CommandLog, CommandRecord, Shell, ShellResult, VirtualFS

__all__ = [
    "AdbdServer",
    "CommandLog",
    "CommandRecord",
    "Phone",
    "PhoneState",
    "Shell",
    "ShellResult",
    "SimApp",
    "SimDevice",
    "Simulator",
    "SimulatorError",
    "VirtualFS",
    "serve_forever",
]

_WHERE = {
    "AdbdServer": "adbd",
    "CommandLog": "shell",
    "CommandRecord": "shell",
    "Shell": "shell",
    "ShellResult": "shell",
    "VirtualFS": "shell",
    "SimDevice": "commands",
    "Phone": "phone",
    "PhoneState": "phone",
    "SimApp": "phone",
    "Simulator": "runner",
    "SimulatorError": "runner",
    "serve_forever": "runner",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
