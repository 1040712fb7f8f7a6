"""Voice command as a script: speech -> text -> a task on the phone.

The same steps as ``04_voice_commands.ipynb``: take a recording (``--wav``) or synthesize one with
espeak-ng (``--say``), transcribe it with a local speech-recognition checkpoint
(``autoglm_agent.voice.transcribe``, default the repo's ``model/asr``), then run the text as a
task on a fresh simulated phone (or ``--device``) with the demo model, or any endpoint given by
``--base-url``.

    python examples/voice_command.py --say "open settings"
    python examples/voice_command.py --wav command.wav --transcribe-only
    python examples/voice_command.py --wav command.wav --base-url http://GPU_HOST:8000/v1 --device SERIAL

Exit status: 0 when the command was understood (and, unless ``--transcribe-only``, the agent
finished it), 1 when the agent did not, 2 for a set-up error (no audio, no model, no speech).
The CLI equivalent is ``autoglm-agent --voice command.wav``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autoglm_agent.endpoint import open_endpoint as embedded_or_given
from autoglm_agent.errors import AutoGLMError, ConfigError

REPO_MODEL = Path(__file__).resolve().parent.parent / "model"


def synthesize(text: str, out: Path, voice: str, speed: int) -> Path:
    """Speak ``text`` into the wav file ``out`` with espeak-ng."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise ConfigError("espeak-ng is not installed", hint="apt-get install espeak-ng, or pass --wav FILE")
    proc = subprocess.run(
        [espeak, "-v", voice, "-s", str(speed), "-w", str(out), text],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["failed"])[0]
        raise ConfigError(
            f"espeak-ng could not speak {text!r}: {first}", hint="check --voice (espeak-ng --voices)"
        )
    return out


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
def open_phone(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Yield (device, simulator or None): the phone ``--device`` names, else a fresh simulator."""
    from autoglm_agent.device import AdbDevice

    if args.device:
        with AdbDevice(args.device) as device:
            yield device, None
        return
    from autoglm_agent.sim.runner import Simulator

    with Simulator(seed=args.seed) as sim, AdbDevice(sim.serial) as device:
        print(f"simulated phone: {sim.serial}", file=sys.stderr)
        yield device, sim


def run_task(args: argparse.Namespace, task: str) -> int:
    from autoglm_agent.agent import AgentConfig, PhoneAgent
    from autoglm_agent.callbacks import PrintCallbacks
    from autoglm_agent.llm import ChatAutoGLM

    with open_endpoint(args) as (base_url, settings), open_phone(args) as (device, sim):
        llm = ChatAutoGLM(
            base_url=base_url,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            max_retries=0,
        )
        config = AgentConfig(**{**settings, "trajectory_dir": Path(args.trajectory_dir)})
        result = PhoneAgent(device, llm, config, callbacks=PrintCallbacks()).run(task)
        if sim is not None:
            print(f"foreground app: {sim.phone.current_focus()[0]}")
        if result.trajectory_dir is not None:
            print(f"trajectory report: {result.trajectory_dir / 'report.html'}")
        return 0 if result.success else 1


def run(args: argparse.Namespace) -> int:
    from autoglm_agent.voice import transcribe

    with tempfile.TemporaryDirectory(prefix="autoglm-voice-") as tmp:
        wav = (
            Path(args.wav)
            if args.wav
            else synthesize(args.say, Path(tmp) / "command.wav", args.voice, args.speed)
        )
        snap = False if args.no_snap else None
        text = transcribe(wav, model=args.asr_model, snap=snap)
    if not text:
        raise ConfigError(
            f"no speech recognised in {args.wav or 'the synthesized audio'}", hint="record it again"
        )
    print(f"heard: {text}")
    if args.transcribe_only:
        return 0
    return run_task(args, text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--wav", help="a recorded command (wav, or mp3 with ffmpeg installed)")
    source.add_argument("--say", help="synthesize this command with espeak-ng instead")
    ap.add_argument("--voice", default="en-us", help="espeak-ng voice for --say")
    ap.add_argument("--speed", type=int, default=160, help="espeak-ng words per minute for --say")
    ap.add_argument(
        "--asr-model",
        default=os.environ.get("AUTOGLM_ASR_MODEL", str(REPO_MODEL / "asr")),
        help="speech-recognition checkpoint (Whisper or Wav2Vec2) [$AUTOGLM_ASR_MODEL, default: model/asr]",
    )
    ap.add_argument(
        "--no-snap", action="store_true", help="keep the raw transcript (no snapping to known commands)"
    )
    ap.add_argument("--transcribe-only", action="store_true", help="print the transcript and stop")
    ap.add_argument(
        "--base-url",
        default=os.environ.get("AUTOGLM_BASE_URL"),
        help="OpenAI-compatible endpoint (…/v1) instead of the embedded demo model [$AUTOGLM_BASE_URL]",
    )
    ap.add_argument("--model", default=os.environ.get("AUTOGLM_MODEL", "autoglm-phone-9b"), help="model name")
    ap.add_argument("--api-key", default=os.environ.get("AUTOGLM_API_KEY"), help="API key of the endpoint")
    ap.add_argument(
        "--model-path",
        default=os.environ.get("AUTOGLM_MODEL_PATH", str(REPO_MODEL)),
        help="checkpoint for the embedded server [$AUTOGLM_MODEL_PATH, default: the repo's model/]",
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        default=int(os.environ.get("AUTOGLM_MAX_TOKENS", "256")),
        help="cap on the tokens of one answer [$AUTOGLM_MAX_TOKENS, default 256]",
    )
    ap.add_argument("--device", default=None, help="ADB serial of a real phone (default: a fresh simulator)")
    ap.add_argument("--seed", type=int, default=0, help="simulator seed")
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
