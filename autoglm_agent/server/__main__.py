"""``python -m autoglm_agent.server --model PATH``: run the embedded server without the full CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autoglm_agent.errors import AutoGLMError
from autoglm_agent.server.config import DEFAULT_SERVED_MODEL_NAME, ServerConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autoglm_agent.server", description=__doc__)
    ap.add_argument("--model", type=Path, required=True, help="local checkpoint folder")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--served-model-name", default=DEFAULT_SERVED_MODEL_NAME)
    ap.add_argument(
        "--api-key", default=None, help="require 'Authorization: Bearer KEY' (env AUTOGLM_API_KEY)"
    )
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    ap.add_argument("--quantize", default="none", choices=["none", "int8"])
    ap.add_argument("--min-pixels", type=int, default=None)
    ap.add_argument("--max-pixels", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=1024)
    ap.add_argument("--max-batch-size", type=int, default=16)
    ap.add_argument("--max-queue-size", type=int, default=64)
    ap.add_argument("--preprocess-workers", type=int, default=None)
    ap.add_argument("--torch-threads", type=int, default=None)
    ap.add_argument("--asr-model", type=Path, default=None)
    ap.add_argument("--allow-remote-images", action="store_true")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    from autoglm_agent.server.app import serve

    values = {k: v for k, v in vars(args).items() if v is not None}
    try:
        serve(ServerConfig(**values))
    except AutoGLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
