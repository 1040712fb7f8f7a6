"""Speech recognition for ``input_audio``: a local transformers ASR checkpoint (Whisper or Wav2Vec2 CTC)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from autoglm_agent.server.errors import APIError, ModelLoadError, exc_text
from autoglm_agent.server.loading import _check_folder, resolve_device
from autoglm_agent.server.media import resample


class SpeechRecognizer:
    """``transformers.pipeline("automatic-speech-recognition")`` over a local folder, thread-safe."""

    def __init__(self, path: str | Path, *, device: str = "auto"):
        path = Path(path).expanduser()
        _check_folder(path, "ASR model")
        try:
            from transformers import pipeline
        except ImportError as exc:  # pragma: no cover
            raise ModelLoadError(
                "speech recognition needs transformers", hint="pip install 'autoglm-agent[server]'"
            ) from exc
        dev = resolve_device(device)
        try:
            self._pipe: Any = pipeline(
                "automatic-speech-recognition",
                model=str(path),
                device=dev,
            )  # a checked local folder: nothing is looked up online
        except Exception as exc:
            raise ModelLoadError(f"cannot load the ASR model at {path}: {exc}") from exc
        fe = getattr(self._pipe, "feature_extractor", None)
        self.sampling_rate = int(getattr(fe, "sampling_rate", 16000) or 16000)
        self.path = path
        self._lock = threading.Lock()

    #: Audio shorter than this is padded with silence: speech models have a minimum window
    #: (Wav2Vec2's first convolution needs 400 samples at 16 kHz) and fail on less.
    MIN_SECONDS = 0.1

    def transcribe(self, samples: np.ndarray, rate: int, *, param: str | None = None) -> str:
        """Text of mono float32 ``samples`` at ``rate`` Hz (resampled to the model's rate).

        Raises ``APIError`` (400, one line) when the speech model cannot process the audio.
        """
        x = resample(samples, rate, self.sampling_rate)
        x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
        shortest = int(self.MIN_SECONDS * self.sampling_rate)
        if x.size < shortest:
            x = np.pad(x, (0, shortest - x.size))
        try:
            with self._lock:
                out = self._pipe({"raw": x, "sampling_rate": self.sampling_rate})
        except Exception as exc:
            raise APIError(
                400,
                f"the speech model cannot transcribe this audio ({exc_text(exc)})",
                param=param,
                code="invalid_audio",
            ) from exc
        text = out.get("text", "") if isinstance(out, dict) else str(out)
        return " ".join(str(text).split())
