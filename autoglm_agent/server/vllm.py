"""Command lines that serve AutoGLM-Phone-9B with vLLM or SGLang (for GPU machines, at scale)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from autoglm_agent.errors import ConfigError
from autoglm_agent.server.config import DEFAULT_SERVED_MODEL_NAME

#: Largest screenshot (in pixels) the image processor takes at full size: the official client's
#: serving recipe, so a 1080x2400 screenshot reaches the model at its native resolution.
DEFAULT_MAX_PIXELS = 5_000_000
#: Serving to the agent on another machine is the point of vLLM/SGLang: listen on every interface.
EXTERNAL_DEFAULT_HOST = "0.0.0.0"
_SECRET_FLAGS = frozenset({"--api-key"})


def mask_secrets(cmd: list[str]) -> list[str]:
    """``cmd`` with the value after each secret flag (``--api-key``) replaced by ``****``, for printing."""
    return ["****" if i > 0 and cmd[i - 1] in _SECRET_FLAGS else arg for i, arg in enumerate(cmd)]


def build_vllm_command(
    model_path: str | Path,
    served_name: str = DEFAULT_SERVED_MODEL_NAME,
    tensor_parallel_size: int = 1,
    max_model_len: int = 25480,
    port: int = 8000,
    engine: Literal["vllm", "sglang"] = "vllm",
    *,
    host: str = EXTERNAL_DEFAULT_HOST,
    max_images_per_prompt: int = 10,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allowed_local_media_path: str | Path | None = None,
    reasoning_parser: str | None = "glm45",
    api_key: str | None = None,
) -> list[str]:
    """argv that starts an OpenAI-compatible vLLM (or SGLang) server for AutoGLM-Phone-9B.

    vLLM gets the official client's serving recipe (served name, ``--max-model-len 25480``,
    ``--chat-template-content-format string``, ``--limit-mm-per-prompt '{"image":10}'``,
    ``--mm-processor-kwargs '{"max_pixels":5000000}'``) plus tensor parallelism, a local media folder
    and the GLM-4.5 reasoning parser (so replies carry ``reasoning_content`` like the embedded
    server's). It listens on every interface by default, since the agent usually runs elsewhere;
    print it with ``mask_secrets``. glm4v is built into recent vLLM/SGLang: no ``--trust-remote-code``.
    """
    if tensor_parallel_size < 1:
        raise ConfigError("tensor_parallel_size must be at least 1")
    if max_model_len < 1024:
        raise ConfigError(
            f"max_model_len {max_model_len} is too small for screenshots", hint="use 8192 or more"
        )
    if max_pixels < 28 * 28:
        raise ConfigError(f"max_pixels {max_pixels} is smaller than one 28x28 image patch")
    model = str(model_path)
    if engine == "vllm":
        cmd = [
            "vllm",
            "serve",
            model,
            "--served-model-name",
            served_name,
            "--host",
            host,
            "--port",
            str(port),
            "--max-model-len",
            str(max_model_len),
            "--tensor-parallel-size",
            str(tensor_parallel_size),
            "--chat-template-content-format",
            "string",
            "--limit-mm-per-prompt",
            json.dumps({"image": max_images_per_prompt}, separators=(",", ":")),
            "--mm-processor-kwargs",
            json.dumps({"max_pixels": max_pixels}, separators=(",", ":")),
        ]
        if allowed_local_media_path is not None:
            cmd += ["--allowed-local-media-path", str(allowed_local_media_path)]
        if tensor_parallel_size > 1:
            cmd += ["--mm-encoder-tp-mode", "data"]
        if reasoning_parser:
            cmd += ["--reasoning-parser", reasoning_parser]
        if api_key:
            cmd += ["--api-key", api_key]
        return cmd
    if engine == "sglang":
        cmd = [
            "python",
            "-m",
            "sglang.launch_server",
            "--model-path",
            model,
            "--served-model-name",
            served_name,
            "--host",
            host,
            "--port",
            str(port),
            "--context-length",
            str(max_model_len),
            "--tp-size",
            str(tensor_parallel_size),
            # the official client's SGLang recipe: the vision encoder data-parallel, native-size images
            "--mm-enable-dp-encoder",
            "--mm-process-config",
            json.dumps({"image": {"max_pixels": max_pixels}}, separators=(",", ":")),
        ]
        if reasoning_parser:
            cmd += ["--reasoning-parser", reasoning_parser]
        if api_key:
            cmd += ["--api-key", api_key]
        return cmd
    raise ConfigError(f"unknown serving engine {engine!r}", hint="use 'vllm' or 'sglang'")


def vllm_readme_text() -> str:
    """A README paragraph describing the flags ``build_vllm_command`` sets."""
    return (
        "For real traffic, serve AutoGLM-Phone-9B with vLLM on a GPU: `autoglm-agent serve --engine vllm "
        "--model PATH` prints (and runs) `vllm serve PATH` with the official client's serving recipe: "
        "`--served-model-name autoglm-phone-9b` (the name the agent asks for), `--max-model-len 25480` (room "
        "for a few screenshots of ~3,300 image tokens each plus the history), `--chat-template-content-format "
        "string`, `--limit-mm-per-prompt '{\"image\":10}'` and `--mm-processor-kwargs '{\"max_pixels\":5000000}'` "
        "(screenshots reach the model at native size, as in training); plus `--allowed-local-media-path DIR` "
        "when requests send `file://` screenshots, `--tensor-parallel-size N` to split the model over N GPUs "
        "(`--tp N`, with `--mm-encoder-tp-mode data`), and `--reasoning-parser glm45` so the thinking comes "
        "back as `reasoning_content` and the answer alone as `content`, exactly like the embedded server. It "
        "listens on `--host 0.0.0.0` unless told otherwise (the agent usually runs on another machine): pass "
        "`--api-key KEY` there; the printed command shows the key as `****`. `--engine sglang` gives the "
        "equivalent `python -m sglang.launch_server` command with that client's SGLang recipe (`--context-length`, "
        '`--mm-enable-dp-encoder`, `--mm-process-config \'{"image":{"max_pixels":5000000}}\'`, `--tp-size`, '
        "`--reasoning-parser glm45`)."
    )
