"""Embedded OpenAI-compatible model server (FastAPI + uvicorn + transformers).

``ServerConfig`` and ``build_vllm_command`` import without torch; the rest loads lazily::

    from autoglm_agent.server import EmbeddedServer, ServerConfig

    with EmbeddedServer(ServerConfig(model="path/to/checkpoint", port=0)) as srv:
        print(srv.base_url)  # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoglm_agent.server.config import API_KEY_ENV, DEFAULT_SERVED_MODEL_NAME, ServerConfig
from autoglm_agent.server.vllm import build_vllm_command, vllm_readme_text

if TYPE_CHECKING:
    from autoglm_agent.server.app import EmbeddedServer, create_app, serve
    from autoglm_agent.server.engine import Engine, EngineStats, SamplingParams
    from autoglm_agent.server.errors import ModelLoadError, ServerError
    from autoglm_agent.server.loading import LoadedModel, load_model
    from autoglm_agent.server.tiny import build_tiny_asr, build_tiny_glm4v

_LAZY = {
    "EmbeddedServer": "autoglm_agent.server.app",
    "create_app": "autoglm_agent.server.app",
    "serve": "autoglm_agent.server.app",
    "Engine": "autoglm_agent.server.engine",
    "EngineStats": "autoglm_agent.server.engine",
    "SamplingParams": "autoglm_agent.server.engine",
    "ModelLoadError": "autoglm_agent.server.errors",
    "ServerError": "autoglm_agent.server.errors",
    "LoadedModel": "autoglm_agent.server.loading",
    "load_model": "autoglm_agent.server.loading",
    "build_tiny_asr": "autoglm_agent.server.tiny",
    "build_tiny_glm4v": "autoglm_agent.server.tiny",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autoglm_agent.server' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "API_KEY_ENV",
    "DEFAULT_SERVED_MODEL_NAME",
    "EmbeddedServer",
    "Engine",
    "EngineStats",
    "LoadedModel",
    "ModelLoadError",
    "SamplingParams",
    "ServerConfig",
    "ServerError",
    "build_tiny_asr",
    "build_tiny_glm4v",
    "build_vllm_command",
    "create_app",
    "load_model",
    "serve",
    "vllm_readme_text",
]
