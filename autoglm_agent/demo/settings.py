"""The agent settings that belong to the demo checkpoint: ``model/agent.json``.

The demo model was trained with a short system prompt and a small screenshot budget; an agent
that runs it must use exactly these (``load_settings(model_dir).agent_config()``). Light to import
(no torch, no simulator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from autoglm_agent.agent import AgentConfig
from autoglm_agent.errors import ConfigError
from autoglm_agent.profiles import AGENT_FILE

__all__ = ["AGENT_FILE", "DemoSettings", "load_settings"]


class DemoSettings(BaseModel):
    """The agent settings that belong to the demo checkpoint (``model/agent.json``)."""

    model_config = ConfigDict(extra="forbid")

    #: The profile's name (agent.json is the checkpoint's profile, over ``generic``).
    name: str = "autoglm-agent-demo"
    system_prompt: str = (
        "You operate an Android phone for the user. Today is {date}. "
        "Look at the screenshot and answer one action: <think>why</think><answer>action</answer>."
    )
    image_max_pixels: int = 252 * 560
    lang: str = "en"
    max_steps: int = 12

    def agent_config(self, **overrides: Any) -> AgentConfig:
        fields: dict[str, Any] = {
            "profile": "generic",  # what agent.json extends: the checkpoint's own profile
            "system_prompt": self.system_prompt,
            "image_max_pixels": self.image_max_pixels,
            "lang": self.lang,
            "max_steps": self.max_steps,
        }
        fields.update(overrides)
        return AgentConfig(**fields)


def load_settings(model_dir: str | Path) -> DemoSettings:
    """The checkpoint's ``agent.json`` (the demo checkpoint's profile), validated as demo settings."""
    from autoglm_agent.profiles import checkpoint_profile

    path = Path(model_dir) / AGENT_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing", hint="the demo checkpoint ships an agent.json next to its weights"
        )
    checkpoint_profile(Path(model_dir))  # the same validation as the agent's
    try:
        return DemoSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid demo settings: {exc}".splitlines()[0]) from None
