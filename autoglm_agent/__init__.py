"""autoglm-agent: let a multimodal model operate an Android phone, built on LangChain.

The public API, importable from the package root (each name loads its module on first use, so
``import autoglm_agent`` stays light)::

    from autoglm_agent import AdbDevice, AgentConfig, ChatAutoGLM, PhoneAgent

    with AdbDevice() as phone:
        result = PhoneAgent(phone, ChatAutoGLM(base_url="http://127.0.0.1:8000/v1")).run("open settings")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from autoglm_agent.actions import Action, ActionParseError, parse_action
    from autoglm_agent.agent import AgentCallbacks, AgentConfig, AgentResult, PhoneAgent, StepRecord
    from autoglm_agent.device import AdbDevice, Device, DeviceError, Screenshot
    from autoglm_agent.endpoint import DEMO_MODEL_DIR, open_endpoint
    from autoglm_agent.errors import AutoGLMError, ConfigError
    from autoglm_agent.llm import ChatAutoGLM, get_reasoning
    from autoglm_agent.profiles import Profile, get_profile, select_profile

#: Public name -> the module that owns it.
_EXPORTS: dict[str, str] = {
    "Action": "autoglm_agent.actions",
    "ActionParseError": "autoglm_agent.actions",
    "parse_action": "autoglm_agent.actions",
    "AgentCallbacks": "autoglm_agent.agent",
    "AgentConfig": "autoglm_agent.agent",
    "AgentResult": "autoglm_agent.agent",
    "PhoneAgent": "autoglm_agent.agent",
    "StepRecord": "autoglm_agent.agent",
    "AdbDevice": "autoglm_agent.device",
    "Device": "autoglm_agent.device",
    "DeviceError": "autoglm_agent.device",
    "Screenshot": "autoglm_agent.device",
    "DEMO_MODEL_DIR": "autoglm_agent.endpoint",
    "open_endpoint": "autoglm_agent.endpoint",
    "AutoGLMError": "autoglm_agent.errors",
    "ConfigError": "autoglm_agent.errors",
    "ChatAutoGLM": "autoglm_agent.llm",
    "get_reasoning": "autoglm_agent.llm",
    "Profile": "autoglm_agent.profiles",
    "get_profile": "autoglm_agent.profiles",
    "select_profile": "autoglm_agent.profiles",
}

__all__ = [
    "DEMO_MODEL_DIR",
    "Action",
    "ActionParseError",
    "AdbDevice",
    "AgentCallbacks",
    "AgentConfig",
    "AgentResult",
    "AutoGLMError",
    "ChatAutoGLM",
    "ConfigError",
    "Device",
    "DeviceError",
    "PhoneAgent",
    "Profile",
    "Screenshot",
    "StepRecord",
    "__version__",
    "get_profile",
    "get_reasoning",
    "open_endpoint",
    "parse_action",
    "select_profile",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
