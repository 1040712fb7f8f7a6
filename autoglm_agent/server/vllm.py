"""Command lines that serve AutoGLM-Phone-9B with vLLM or SGLang (for GPU machines, at scale)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from autoglm_agent.errors import ConfigError
from autoglm_agent.server.config import DEFAULT_SERVED_MODEL_NAME

#: Pixel budget of AutoGLM-Phone-9B's image processor (size.shortest_edge / size.longest_edge).
DEFAULT_MIN_PIXELS = 12544
DEFAULT_MAX_PIXELS = 5_000_000


def build_vllm_command(
    model_path: str | Path,
    served_name: str = DEFAULT_SERVED_MODEL_NAME,
    tensor_parallel_size: int = 1,
    max_model_len: int = 25480,
    port: int = 8000,
    engine: Literal["vllm", "sglang"] = "vllm",
    *,
    host: str = "127.0.0.1",
    max_images_per_prompt: int = 10,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allowed_local_media_path: str | Path | None = None,
    reasoning_parser: str | None = "glm45",
    api_key: str | None = None,
) -> list[str]:
    """argv that starts an OpenAI-compatible vLLM (or SGLang) server for AutoGLM-Phone-9B.

    The served name, context length, per-prompt media limits (vLLM's JSON syntax), image pixel
    budget, local media folder, tensor parallelism and the GLM-4.5 reasoning parser (so replies
    carry ``reasoning_content`` like the embedded server's) are set. glm4v is built into recent
    vLLM/SGLang, so ``--trust-remote-code`` is not needed.
    """
    if tensor_parallel_size < 1:
        raise ConfigError("tensor_parallel_size must be at least 1")
    if max_model_len < 1024:
        raise ConfigError(
            f"max_model_len {max_model_len} is too small for screenshots", hint="use 8192 or more"
        )
    if min_pixels > max_pixels:
        raise ConfigError("min_pixels must not exceed max_pixels")
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
            "--limit-mm-per-prompt",
            json.dumps({"image": max_images_per_prompt, "video": 0}, separators=(",", ":")),
            "--mm-processor-kwargs",
            json.dumps(
                {"size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}}, separators=(",", ":")
            ),
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
        "--model PATH` prints (and runs) `vllm serve PATH` with `--served-model-name autoglm-phone-9b` (the "
        "name the agent asks for), `--max-model-len 25480` (room for a few screenshots of ~3,300 image "
        'tokens each plus the history), `--limit-mm-per-prompt \'{"image":10,"video":0}\'` (vLLM\'s JSON '
        'syntax; no video), `--mm-processor-kwargs \'{"size":{"shortest_edge":12544,"longest_edge":5000000}}\'` '
        "(the image processor's pixel budget: larger screenshots are scaled down in 28 px units), "
        "`--allowed-local-media-path DIR` when requests send `file://` screenshots, `--tensor-parallel-size N` "
        "to split the 9B model over N GPUs (with `--mm-encoder-tp-mode data` so each GPU runs the vision "
        "encoder on its own images), and `--reasoning-parser glm45` so the thinking comes back as "
        "`reasoning_content` and the answer alone as `content`, exactly like the embedded server. glm4v is "
        "built into recent vLLM, so no `--trust-remote-code`. `--engine sglang` gives the equivalent "
        "`python -m sglang.launch_server` command (`--context-length`, `--tp-size`, `--reasoning-parser glm45`)."
    )
