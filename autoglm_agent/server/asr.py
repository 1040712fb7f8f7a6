"""Speech recognition for ``input_audio``: a local transformers ASR checkpoint (Whisper or Wav2Vec2 CTC)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from autoglm_agent.server.errors import ModelLoadError
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

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        """Text of mono float32 ``samples`` at ``rate`` Hz (resampled to the model's rate)."""
        x = resample(samples, rate, self.sampling_rate)
        with self._lock:
            out = self._pipe({"raw": x, "sampling_rate": self.sampling_rate})
        text = out.get("text", "") if isinstance(out, dict) else str(out)
        return " ".join(text.split())
