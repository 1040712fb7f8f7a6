"""Test helpers that ship with the package (usable without the server extras)."""

from __future__ import annotations

from autoglm_agent.testing.scripted import Reply, ScriptedEndpoint, ScriptedError

__all__ = ["Reply", "ScriptedEndpoint", "ScriptedError"]
