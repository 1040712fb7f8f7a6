"""Where the agent's model lives: an endpoint the user names, or an embedded server over a checkpoint.

Shared by the CLI and the example scripts, so the offline default starts the same way everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from autoglm_agent.errors import ConfigError

_HERE = Path(__file__).resolve().parent
#: The shipped demo checkpoint: inside an installed wheel ``autoglm_agent/model``, in a checkout
#: (or an editable install) the repository's ``model/``. Its speech checkpoint is ``asr/`` within.
DEMO_MODEL_DIR: Path = (
    _HERE / "model" if (_HERE / "model" / "config.json").is_file() else _HERE.parent / "model"
)


def checkpoint_agent_settings(path: Path) -> dict[str, Any]:
    """``AgentConfig`` keyword arguments for a checkpoint: ``{"profile": ...}`` from its ``agent.json``."""
    from autoglm_agent.profiles import checkpoint_profile

    profile = checkpoint_profile(path)
    return {"profile": profile} if profile is not None else {}


@contextlib.contextmanager
def open_endpoint(
    base_url: str | None,
    model_path: Path,
    *,
    model: str,
    api_key: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (base URL, agent settings): ``base_url`` as given, or an embedded server over ``model_path``.

    The settings are ``AgentConfig`` keyword arguments: ``{"profile": ...}`` when the checkpoint
    carries a profile (embedded) or the endpoint advertises one (``GET /models``), else empty.
    """
    if base_url:
        from autoglm_agent.profiles import discover_profile

        advertised = discover_profile(base_url, model, api_key)
        if advertised is not None and log is not None:
            log(f"the endpoint advertises the profile {advertised.name}")
        yield base_url, ({"profile": advertised} if advertised is not None else {})
        return
    if not (model_path / "config.json").is_file():
        raise ConfigError(
            f"no checkpoint in {model_path}",
            hint="pass --model-path DIR of a local checkpoint, or --base-url URL of an OpenAI-compatible "
            "server (autoglm-agent serve, vLLM, SGLang)",
        )
    settings = checkpoint_agent_settings(model_path)
    try:
        from autoglm_agent.server import EmbeddedServer, ServerConfig
    except ImportError as exc:
        raise ConfigError(
            f"the embedded model server needs the [server] extra ({exc.name} is missing)",
            hint="pip install 'autoglm-agent[server]', or pass --base-url",
        ) from None
    if log is not None:
        log(f"loading the model from {model_path} into the embedded server…")
    config = ServerConfig(model=model_path, port=0, served_model_name=model, api_key=api_key)
    with EmbeddedServer(config) as server:
        if log is not None:
            log(f"embedded server ready at {server.base_url}")
        yield server.base_url, settings
