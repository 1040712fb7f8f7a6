"""Quick start as a script: a model opens Settings on the simulated phone.

The same steps as ``01_quickstart.ipynb``: start the simulator, serve the demo checkpoint with the
embedded server (or use any OpenAI-compatible endpoint with ``--base-url``), run the task with
``PhoneAgent`` while the model's thinking and actions stream to the terminal, check the phone's
state, and point to the trajectory report.

    python examples/quickstart.py                                  # "open settings", demo model
    python examples/quickstart.py "turn on wifi" --model-path ./my-checkpoint
    python examples/quickstart.py --base-url http://GPU_HOST:8000/v1 --model autoglm-phone-9b
    python examples/quickstart.py --device SERIAL --base-url URL   # a real phone instead

Exit status: 0 when the agent finished the task (and, for "open settings" on the simulator,
Settings really is in the foreground), 1 when it did not, 2 for a set-up error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autoglm_agent.agent import AgentConfig, PhoneAgent
from autoglm_agent.callbacks import PrintCallbacks
from autoglm_agent.device import AdbDevice
from autoglm_agent.endpoint import open_endpoint as embedded_or_given
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.llm import ChatAutoGLM

DEMO_MODEL = Path(__file__).resolve().parent.parent / "model"
SETTINGS = "com.android.settings"


def open_endpoint(args: argparse.Namespace) -> contextlib.AbstractContextManager[tuple[str, dict[str, Any]]]:
    """(base URL, agent settings): ``--base-url`` as given, or an embedded server over a checkpoint."""
    return embedded_or_given(
        args.base_url,
        Path(args.model_path).expanduser().resolve(),
        model=args.model,
        api_key=args.api_key,
        log=lambda text: print(text, file=sys.stderr),
    )


@contextlib.contextmanager
def open_phone(args: argparse.Namespace) -> Iterator[tuple[AdbDevice, Any]]:
    """Yield (device, simulator or None): the phone ``--device`` names, else a fresh simulator."""
    if args.device:
        with AdbDevice(args.device, timeout=args.timeout) as device:
            yield device, None
        return
    from autoglm_agent.sim.runner import Simulator

    with (
        Simulator(seed=args.seed, shuffle=args.shuffle) as sim,
        AdbDevice(sim.serial, timeout=args.timeout) as device,
    ):
        print(f"simulated phone: {sim.serial}", file=sys.stderr)
        yield device, sim


def run(args: argparse.Namespace) -> int:
    with open_endpoint(args) as (base_url, settings), open_phone(args) as (device, sim):
        llm = ChatAutoGLM(
            base_url=base_url,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            enable_thinking=not args.no_thinking,
            max_retries=0,  # the agent retries endpoint failures itself
        )
        overrides: dict[str, Any] = {"trajectory_dir": Path(args.trajectory_dir)}
        if args.max_steps is not None:
            overrides["max_steps"] = args.max_steps
        agent = PhoneAgent(device, llm, AgentConfig(**{**settings, **overrides}), callbacks=PrintCallbacks())
        result = agent.run(args.task)
        ok = result.success
        if sim is not None:
            foreground = sim.phone.current_focus()[0]
            print(f"check: the foreground app is {foreground}", end="")
            if args.task.strip().lower() == "open settings":
                ok = ok and foreground == SETTINGS
                print(f"; Settings open: {foreground == SETTINGS}", end="")
            print()
        if result.trajectory_dir is not None:
            print(f"trajectory report: {result.trajectory_dir / 'report.html'}")
        return 0 if ok else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        epilog="Without --base-url the demo checkpoint is served locally.",
    )
    ap.add_argument("task", nargs="?", default="open settings", help="what the phone should do")
    ap.add_argument(
        "--base-url",
        default=os.environ.get("AUTOGLM_BASE_URL"),
        help="OpenAI-compatible endpoint (…/v1) instead of the embedded demo model [$AUTOGLM_BASE_URL]",
    )
    ap.add_argument("--model", default=os.environ.get("AUTOGLM_MODEL", "autoglm-phone-9b"), help="model name")
    ap.add_argument("--api-key", default=os.environ.get("AUTOGLM_API_KEY"), help="API key of the endpoint")
    ap.add_argument(
        "--model-path",
        default=os.environ.get("AUTOGLM_MODEL_PATH", str(DEMO_MODEL)),
        help="checkpoint for the embedded server [$AUTOGLM_MODEL_PATH, default: the repo's model/]",
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        default=int(os.environ.get("AUTOGLM_MAX_TOKENS", "256")),
        help="cap on the tokens of one answer [$AUTOGLM_MAX_TOKENS, default 256]",
    )
    ap.add_argument(
        "--max-steps", type=int, default=None, help="step limit (default: the checkpoint's, or 30)"
    )
    ap.add_argument("--no-thinking", action="store_true", help="turn the model's thinking mode off")
    ap.add_argument("--device", default=None, help="ADB serial of a real phone (default: a fresh simulator)")
    ap.add_argument("--seed", type=int, default=0, help="simulator seed")
    ap.add_argument("--shuffle", action="store_true", help="shuffle the simulator's home screen")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds allowed for each ADB call")
    ap.add_argument(
        "--trajectory-dir",
        default=os.environ.get("AUTOGLM_TRAJECTORY_DIR", "runs"),
        help="where run folders are written [$AUTOGLM_TRAJECTORY_DIR]",
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except AutoGLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
