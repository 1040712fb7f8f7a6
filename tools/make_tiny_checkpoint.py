"""Build the tiny random checkpoints the tests and benchmarks use (nothing is downloaded).

python tools/make_tiny_checkpoint.py OUT_DIR [--asr OUT_ASR_DIR] [--hidden-size 128] [--layers 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autoglm_agent.server.tiny import build_tiny_asr, build_tiny_glm4v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for the tiny Glm4vForConditionalGeneration checkpoint")
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--image-size", type=int, default=112)
    ap.add_argument("--max-pixels", type=int, default=2 * 336 * 336, help="image processor size.longest_edge")
    ap.add_argument(
        "--vocab-text", type=Path, default=None, help="extra text (one line each) for the tokenizer"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--asr", type=Path, default=None, help="also build a tiny ASR checkpoint here")
    ap.add_argument("--asr-kind", choices=["wav2vec2", "whisper"], default="wav2vec2")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    texts = args.vocab_text.read_text(encoding="utf-8").splitlines() if args.vocab_text else None
    path = build_tiny_glm4v(
        args.out,
        vocab_texts=texts,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        image_size=args.image_size,
        max_pixels=args.max_pixels,
        seed=args.seed,
    )
    print(f"glm4v checkpoint: {path} ({time.perf_counter() - t0:.1f} s)")
    if args.asr is not None:
        print(f"ASR checkpoint:   {build_tiny_asr(args.asr, kind=args.asr_kind)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
