"""The package root's public API: every name in ``__all__`` resolves, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import autoglm_agent

EXPECTED = {
    "__version__", "Action", "ActionParseError", "AdbDevice", "AgentCallbacks", "AgentConfig", "AgentResult",
    "AutoGLMError", "ChatAutoGLM", "ConfigError", "DEMO_MODEL_DIR", "Device", "DeviceError", "PhoneAgent",
    "Profile", "Screenshot", "StepRecord", "get_profile", "get_reasoning", "open_endpoint", "parse_action",
    "select_profile",
}  # fmt: skip


def test_all_is_the_public_api_and_every_name_resolves() -> None:
    # changing the public API is a decision: update this set with it
    assert set(autoglm_agent.__all__) == EXPECTED
    assert set(autoglm_agent._EXPORTS) == EXPECTED - {"__version__"}  # every export has its owner
    for name in autoglm_agent.__all__:
        assert getattr(autoglm_agent, name) is not None, name
    assert autoglm_agent.PhoneAgent.__module__ == "autoglm_agent.agent"


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, autoglm_agent\n"
        "heavy = [m for m in ('torch', 'transformers', 'adbutils', 'langchain_openai', 'PIL') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
