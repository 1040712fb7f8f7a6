"""autoglm-agent: let a multimodal model operate an Android phone, built on LangChain."""

from __future__ import annotations

__version__ = "0.1.0"
