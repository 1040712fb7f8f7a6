"""Configuration of the embedded model server (importable without torch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_SERVED_MODEL_NAME = "autoglm-phone-9b"
API_KEY_ENV = "AUTOGLM_API_KEY"


class ServerConfig(BaseModel):
    """Everything ``serve()`` and ``EmbeddedServer`` need.

    ``api_key`` defaults to the ``AUTOGLM_API_KEY`` environment variable; with a key set every
    ``/v1`` request needs ``Authorization: Bearer KEY``. ``port=0`` picks a free port.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: Path = Field(description="local folder of a transformers image-text-to-text checkpoint")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    served_model_name: str = DEFAULT_SERVED_MODEL_NAME
    api_key: str | None = Field(
        default_factory=lambda: os.environ.get(API_KEY_ENV) or None, validate_default=True
    )

    # loading
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8: torch dynamic INT8 quantization of Linear layers (CPU only)"
    )
    min_pixels: int | None = Field(
        None, ge=1, description="image processor size.shortest_edge (None: the checkpoint's own)"
    )
    max_pixels: int | None = Field(
        None, ge=1, description="image processor size.longest_edge (None: the checkpoint's own)"
    )
    asr_model: Path | None = Field(None, description="local ASR checkpoint (Whisper or Wav2Vec2 CTC)")
    allow_remote_images: bool = False
    fast_image_resize: bool = Field(
        True,
        description="shrink large images to the model's size while decoding (JPEG draft + PIL two-step "
        "resize); False leaves all resizing to the image processor",
    )

    # generation
    max_new_tokens: int = Field(1024, ge=1, description="cap on tokens generated per request")
    max_model_len: int | None = Field(None, ge=16, description="context length (None: the model's)")

    # engine
    max_batch_size: int = Field(16, ge=1, le=512)
    max_queue_size: int = Field(64, ge=0, description="requests waiting for a batch slot before 429")
    batch_window_ms: float = Field(
        10.0, ge=0, description="how long an idle engine waits to gather a burst of requests"
    )
    max_prefill_tokens: int = Field(16384, ge=64, description="token budget of one prefill batch")
    preprocess_workers: int = Field(
        2, ge=1, description="requests decoded/tokenized at once (images, audio) beside the engine thread"
    )
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads of the engine (None: 1 for models under 100M parameters on CPU, "
        "where OpenMP barriers cost more than they give, else torch's default)",
    )

    # input limits
    max_request_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(
        64_000_000, ge=1, description="width*height above which an image is refused"
    )
    max_images_per_request: int = Field(16, ge=0)
    max_request_pixels: int = Field(
        64_000_000,
        ge=1,
        description="total width*height of all the images of one request, checked from their headers "
        "before any is decoded",
    )
    max_audio_seconds: float = Field(
        120.0,
        gt=0,
        description="total length of all the audio of one request, checked from each header before decoding",
    )

    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    access_log: bool | None = Field(
        None, description="log one line per HTTP request (None: only at log level info or debug)"
    )

    @field_validator("model", "asr_model")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return None if v is None else Path(v).expanduser()

    @field_validator("api_key")
    @classmethod
    def _empty_key(cls, v: str | None) -> str | None:
        if not v:
            return None
        # The Authorization header is decoded as latin-1 and compared byte for byte: a key with
        # characters outside printable ASCII (or with spaces) could never match any request.
        if not all(33 <= ord(c) <= 126 for c in v):
            raise ValueError(
                "the API key must be printable ASCII without spaces (letters, digits, punctuation)"
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> ServerConfig:
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError("min_pixels must not exceed max_pixels")
        return self
