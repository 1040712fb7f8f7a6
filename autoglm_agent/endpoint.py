"""Where the agent's model lives: an endpoint the user names, or an embedded server over a checkpoint.

Shared by the CLI and the example scripts, so the offline default starts the same way everywhere.
"""

from __future__ import annotations

import contextlib
import json
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
    """Agent settings a checkpoint ships in ``agent.json`` (prompt, image budget...), validated."""
    from autoglm_agent.agent import AgentConfig

    file = Path(path) / "agent.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        allowed = set(AgentConfig.model_fields) - {"trajectory_dir"}
        settings = {k: v for k, v in data.items() if k in allowed}
        AgentConfig(**settings)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{file} is not valid agent settings: {exc}".splitlines()[0]) from None
    return settings


@contextlib.contextmanager
def open_endpoint(
    base_url: str | None,
    model_path: Path,
    *,
    model: str,
    api_key: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (base URL, agent settings): ``base_url`` as given, or an embedded server over ``model_path``."""
    if base_url:
        yield base_url, {}
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
