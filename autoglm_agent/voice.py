"""Voice commands: speech to text with a local transformers ASR checkpoint.

``transcribe("command.wav")`` runs the transformers ``automatic-speech-recognition`` pipeline on a
local model folder: by default the shipped ``model/asr`` (a tiny Wav2Vec2 CTC model trained on
espeak-ng speech of the demo command language, see ``tools/train_asr.py``); any real Whisper or
Wav2Vec2 checkpoint folder works the same way. Nothing is downloaded.

Audio: wav (8/16/24/32-bit PCM or 32-bit float, any rate, mono or multi-channel; read with the
stdlib ``wave`` module and numpy, down-mixed and resampled to the model's rate); mp3 when
``ffmpeg`` is on the PATH.

Snapping: a small model trained on a closed command language may misspell a word. With
``snap=True`` the transcript is replaced by the closest phrase of a command list (character edit
distance where a dropped letter costs half, :func:`snap_distance`) when it is close enough, and left
as it is otherwise. ``snap=None`` (the default) snaps only when the model folder ships a
``commands.txt`` (the phrases it was trained on), so a general checkpoint such as Whisper is never
snapped unless asked.

torch and transformers (the ``[server]`` extra) are imported lazily: importing this module needs
only numpy.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import threading
import wave
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from autoglm_agent.endpoint import DEMO_MODEL_DIR
from autoglm_agent.errors import ConfigError

#: The repo's demo checkpoint (present in a source checkout; pass ``model=`` otherwise).
DEFAULT_ASR_MODEL: Path = DEMO_MODEL_DIR / "asr"

#: The simulator's launcher apps, as the demo command language names them.
COMMAND_APPS: tuple[str, ...] = (
    "settings",
    "clock",
    "calculator",
    "contacts",
    "messages",
    "notes",
    "browser",
    "camera",
    "gallery",
    "calendar",
    "files",
    "music",
    "wallet",
)

#: Words for "type <word> in notes/messages".
TYPE_WORDS: tuple[str, ...] = (
    "hello",
    "world",
    "milk",
    "eggs",
    "bread",
    "coffee",
    "meeting",
    "thanks",
    "yes",
    "no",
)

#: Hours for "set an alarm for <hour>".
HOURS: tuple[str, ...] = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)

_MAX_AUDIO_BYTES = 50 * 1024 * 1024
# what the stdlib wave module raises on malformed files
_WAV_ERRORS = (wave.Error, EOFError, RuntimeError, ValueError, struct.error)


def command_phrases() -> list[str]:
    """The demo command language: every phrase the shipped checkpoint was trained on (lower case)."""
    out: list[str] = []
    out += [f"open {a}" for a in COMMAND_APPS]
    out += [f"tap the {a} icon" for a in COMMAND_APPS]
    out += ["go home", "go back", "scroll down", "scroll up", "swipe left", "swipe right", "show recent apps"]
    for thing in ("wifi", "bluetooth", "airplane mode", "dark mode"):
        out += [f"turn on {thing}", f"turn off {thing}"]
    out += [f"type {w} in {app}" for app in ("notes", "messages") for w in TYPE_WORDS]
    out += [f"search for {w}" for w in ("weather", "news", "recipes", "maps")]
    out += [f"set an alarm for {h}" for h in HOURS]
    out += [f"set a timer for {m} minutes" for m in ("five", "ten", "fifteen", "thirty")]
    out += [f"call {name}" for name in ("alice", "bob", "carol", "david")]
    out += ["take a photo", "play music", "pause music", "next song"]
    return out


def normalize_transcript(text: str) -> str:
    """Lower case, letters/digits/apostrophes only, single spaces."""
    return " ".join(re.sub(r"[^\w']+", " ", text.lower()).replace("_", " ").split())


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance between two strings or word lists (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def snap_distance(heard: str, phrase: str, *, missing_cost: float = 0.5) -> float:
    """Edit distance from ``phrase`` to what was ``heard``, where a character of ``phrase`` that is
    missing from ``heard`` costs ``missing_cost`` (CTC models mostly drop letters, e.g. the second
    of a doubled letter) and an extra or wrong character costs 1."""
    prev = [j * missing_cost for j in range(len(phrase) + 1)]
    for i, ch in enumerate(heard, 1):
        cur = [float(i)]
        for j, cp in enumerate(phrase, 1):
            cur.append(min(prev[j] + 1.0, cur[j - 1] + missing_cost, prev[j - 1] + (ch != cp)))
        prev = cur
    return prev[-1]


def snap_to_command(
    text: str, commands: Sequence[str] | None = None, *, max_ratio: float = 0.4, missing_cost: float = 0.5
) -> str:
    """The command closest to ``text``, or ``text`` (normalized) if none is close enough.

    Closeness is :func:`snap_distance`; a command is accepted when its distance is at most
    ``max_ratio`` times the command's length. ``commands`` defaults to :func:`command_phrases`.
    """
    norm = normalize_transcript(text)
    phrases = [normalize_transcript(c) for c in (commands if commands is not None else command_phrases())]
    if not norm or not phrases:
        return norm
    best, best_d = norm, float("inf")
    for phrase in phrases:
        d = snap_distance(norm, phrase, missing_cost=missing_cost)
        if d < best_d:
            best, best_d = phrase, d
    return best if best_d <= max_ratio * max(len(best), 1) else norm


# --------------------------------------------------------------------------- audio


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Resample mono float samples from ``src`` Hz to ``dst`` Hz (windowed-sinc low-pass, then interpolation)."""
    x = np.asarray(x, dtype=np.float32)
    if src == dst or x.size == 0:
        return x
    if dst < src:
        cutoff = 0.5 * dst / src  # cycles per input sample
        n = np.arange(101) - 50.0
        taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(n.size)
        taps /= taps.sum()
        x = np.convolve(x, taps, mode="same").astype(np.float32)
    count = max(1, round(x.size * dst / src))
    pos = np.arange(count, dtype=np.float64) * (src / dst)
    return np.interp(pos, np.arange(x.size, dtype=np.float64), x).astype(np.float32)


def _pcm_to_float(pcm: bytes, width: int, channels: int, *, is_float: bool) -> np.ndarray:
    if is_float and width == 4:
        x = np.frombuffer(pcm, dtype="<f4").astype(np.float32)
    elif width == 1:
        x = (np.frombuffer(pcm, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(pcm[: len(pcm) - len(pcm) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(ints >= 1 << 23, ints - (1 << 24), ints)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(pcm, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{width * 8}-bit samples are not supported")
    if channels > 1:
        x = x[: x.size - x.size % channels].reshape(-1, channels).mean(axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _float_wav_to_pcm_header(raw: bytes) -> bytes | None:
    """A copy of a WAVE_FORMAT_IEEE_FLOAT (3) or EXTENSIBLE wav with the format tag set to PCM (1) for ``wave``."""
    if len(raw) < 22 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        if cid == b"fmt ":
            tag = int.from_bytes(raw[pos + 8 : pos + 10], "little")
            if tag in (3, 0xFFFE):
                return raw[: pos + 8] + (1).to_bytes(2, "little") + raw[pos + 10 :]
            return None
        pos += 8 + size + (size & 1)
    return None


def _read_wave(raw: bytes) -> tuple[int, int, int, bytes]:
    """(channels, sample width, rate, PCM bytes) of a wav the ``wave`` module can read."""
    with wave.open(io.BytesIO(raw)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.readframes(w.getnframes())


def _decode_wav(raw: bytes, name: str) -> tuple[np.ndarray, int]:
    is_float = False
    try:
        channels, width, rate, pcm = _read_wave(raw)
    except _WAV_ERRORS as exc:
        patched = _float_wav_to_pcm_header(raw)
        if patched is None:
            raise ConfigError(
                f"cannot read {name} as a wav file ({exc})",
                hint="use 16-bit PCM wav, e.g. `sox in.ogg -b 16 out.wav`",
            ) from exc
        try:
            channels, width, rate, pcm = _read_wave(patched)
        except _WAV_ERRORS as exc2:
            raise ConfigError(
                f"cannot read {name} as a wav file ({exc2})", hint="use 16-bit PCM wav"
            ) from exc2
        is_float = True
    try:
        samples = _pcm_to_float(pcm, width, channels, is_float=is_float)
    except ValueError as exc:
        raise ConfigError(f"cannot read {name}: {exc}", hint="use 16-bit PCM wav") from exc
    return samples, int(rate)


def _decode_mp3(raw: bytes, name: str, rate: int = 16000) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConfigError(
            f"cannot decode {name}: mp3 needs ffmpeg on the PATH", hint="install ffmpeg or use a wav file"
        )
    cmd = [
        ffmpeg,
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        "pipe:0",
        "-f",
        "s16le",
        "-ac",
        "1",
        "-ar",
        str(rate),
        "pipe:1",
    ]
    try:
        proc = subprocess.run(cmd, input=raw, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"decoding {name} with ffmpeg timed out") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"cannot decode {name} as mp3 ({lines[-1] if lines else 'ffmpeg failed'})")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0, rate


def _sniff(raw: bytes) -> str:
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        return "wav"
    if raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and (raw[1] & 0xE0) == 0xE0):
        return "mp3"
    if raw[:4] == b"OggS":
        return "ogg"
    if raw[:4] == b"fLaC":
        return "flac"
    return "unknown"


def read_audio(audio: str | Path | bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and their sampling rate, from a wav/mp3 path or its bytes."""
    if isinstance(audio, bytes | bytearray | memoryview):
        raw, name = bytes(audio), "the audio bytes"
    else:
        path = Path(audio).expanduser()
        name = str(path)
        if not path.is_file():
            raise ConfigError(f"audio file not found: {path}", hint="give the path of a .wav file")
        if path.stat().st_size > _MAX_AUDIO_BYTES:
            raise ConfigError(
                f"audio file {path} is larger than {_MAX_AUDIO_BYTES // 2**20} MiB", hint="trim it"
            )
        raw = path.read_bytes()
    if not raw:
        raise ConfigError(f"{name} is empty", hint="record the command again")
    kind = _sniff(raw)
    if kind == "wav":
        samples, rate = _decode_wav(raw, name)
    elif kind == "mp3":
        samples, rate = _decode_mp3(raw, name)
    elif kind in ("ogg", "flac"):
        raise ConfigError(f"{name} is {kind} audio, which is not supported", hint="convert it to wav or mp3")
    else:
        raise ConfigError(f"{name} is not a wav or mp3 file", hint="use 16-bit PCM wav")
    if samples.size == 0:
        raise ConfigError(f"{name} has no audio samples", hint="record the command again")
    if rate <= 0:
        raise ConfigError(f"{name} has an invalid sampling rate {rate}")
    return samples, rate


# --------------------------------------------------------------------------- model


class _Recognizer:
    """One loaded ASR pipeline, its sampling rate and its optional command list."""

    def __init__(self, folder: Path) -> None:
        try:
            import torch  # noqa: F401
            from transformers import pipeline
        except ImportError as exc:
            raise ConfigError(
                "speech recognition needs torch and transformers", hint="pip install 'autoglm-agent[server]'"
            ) from exc
        from transformers.utils import logging as hf_logging

        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.pipe: Any = pipeline("automatic-speech-recognition", model=str(folder), device="cpu")
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"cannot load the speech recognition model at {folder}: {first}",
                hint="give a folder with a transformers Whisper or Wav2Vec2 checkpoint",
            ) from exc
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        fe = getattr(self.pipe, "feature_extractor", None)
        self.sampling_rate = int(getattr(fe, "sampling_rate", 16000) or 16000)
        cmd_file = folder / "commands.txt"
        self.commands: list[str] | None = None
        if cmd_file.is_file():
            lines = [normalize_transcript(s) for s in cmd_file.read_text(encoding="utf-8").splitlines()]
            self.commands = [s for s in lines if s] or None
        self.lock = threading.Lock()

    def __call__(self, samples: np.ndarray, rate: int) -> str:
        x = resample(samples, rate, self.sampling_rate)
        with self.lock:
            out = self.pipe({"raw": x, "sampling_rate": self.sampling_rate})
        text = out.get("text", "") if isinstance(out, dict) else str(out)
        return " ".join(str(text).split())


def _resolve_model(model: str | Path | None) -> Path:
    folder = Path(model).expanduser() if model is not None else DEFAULT_ASR_MODEL
    if not folder.is_dir():
        raise ConfigError(
            f"speech recognition model folder not found: {folder}",
            hint="pass --asr-model DIR (a local Whisper or Wav2Vec2 checkpoint folder); the installed package ships one in autoglm_agent/model/asr",
        )
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{folder} is not a transformers checkpoint (no config.json)",
            hint="pass a local Whisper or Wav2Vec2 checkpoint folder",
        )
    return folder.resolve()


@lru_cache(maxsize=4)
def _load(folder: str) -> _Recognizer:
    return _Recognizer(Path(folder))


def load_recognizer(model: str | Path | None = None) -> Any:
    """The (cached) transformers ASR pipeline for a model folder (default: the repo's ``model/asr``)."""
    return _load(str(_resolve_model(model))).pipe


def transcribe(
    audio: str | Path | bytes, *, model: str | Path | None = None, snap: bool | None = None
) -> str:
    """The text of a spoken command.

    ``audio``: a wav/mp3 path or the file's bytes. ``model``: a local transformers ASR folder
    (default: the repo's ``model/asr``). ``snap``: replace the transcript with the closest known
    command (see the module docs); ``None`` snaps when the model folder has a ``commands.txt``.
    Raises :class:`~autoglm_agent.errors.ConfigError` for a missing/unreadable file or model.
    """
    samples, rate = read_audio(audio)
    rec = _load(str(_resolve_model(model)))
    text = rec(samples, rate)
    if snap is None:
        snap = rec.commands is not None
    if snap:
        return snap_to_command(text, rec.commands)
    return text


__all__ = [
    "COMMAND_APPS",
    "DEFAULT_ASR_MODEL",
    "command_phrases",
    "edit_distance",
    "load_recognizer",
    "normalize_transcript",
    "read_audio",
    "resample",
    "snap_distance",
    "snap_to_command",
    "transcribe",
]
