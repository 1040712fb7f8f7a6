"""Build OpenAI-style multimodal message parts (images, audio) for LangChain messages.

``image_part`` downsizes a screenshot to a pixel budget before encoding it. The budget matters:
AutoGLM's vision tower (GLM-4.1V: 14 px patches merged 2x2) spends one image token per 28x28 px,
so a full 1080x2400 phone screenshot costs about 3,300 tokens. ``DEFAULT_IMAGE_MAX_PIXELS``
(1,280 tokens' worth) brings that to ~1,270 tokens (672x1484 px): 2.6x less prefill time and
upload, while standard 14sp UI text is still ~25 px tall and legible. Resized images are snapped
to multiples of 28 px so the server's own resize is a no-op (no second, blurring resample).
The model's coordinates are on a 0-999 grid over whatever image it saw, so resizing never
changes where a tap lands.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from PIL import Image, UnidentifiedImageError

from autoglm_agent.errors import ConfigError

__all__ = [
    "DEFAULT_IMAGE_MAX_PIXELS",
    "IMAGE_UNIT_PX",
    "audio_part",
    "fit_to_budget",
    "image_part",
    "sniff_audio_format",
    "user_message",
]

#: Side of the square of pixels that becomes one image token (patch 14, 2x2 merge).
IMAGE_UNIT_PX = 28
#: Default pixel budget for a screenshot: 1,280 image tokens (see the module docstring).
DEFAULT_IMAGE_MAX_PIXELS = 1280 * IMAGE_UNIT_PX * IMAGE_UNIT_PX

AudioFormat = Literal["wav", "mp3"]


def fit_to_budget(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """The size an image of ``width`` x ``height`` is sent at under ``max_pixels``.

    Unchanged when it already fits (never upscaled); otherwise scaled down keeping the aspect
    ratio, both sides snapped to multiples of 28 px (at least 28) without exceeding the budget.
    """
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    if max_pixels < IMAGE_UNIT_PX * IMAGE_UNIT_PX:
        raise ConfigError(
            f"max_pixels={max_pixels} is below one image token ({IMAGE_UNIT_PX}x{IMAGE_UNIT_PX} px)",
            hint=f"use at least {IMAGE_UNIT_PX * IMAGE_UNIT_PX}, or None for full size",
        )
    scale = math.sqrt(max_pixels / (width * height))
    unit = IMAGE_UNIT_PX
    w = max(unit, round(width * scale / unit) * unit)
    h = max(unit, round(height * scale / unit) * unit)
    if w * h > max_pixels:  # rounding to the nearest multiple overshot: round down instead
        w = max(unit, math.floor(width * scale / unit) * unit)
        h = max(unit, math.floor(height * scale / unit) * unit)
    while w * h > max_pixels:  # only possible when one side hit the 28 px floor
        if w >= h and w > unit:
            w -= unit
        elif h > unit:
            h -= unit
        else:
            break
    return w, h


def _load_image(image: Image.Image | bytes | str | Path) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    try:
        img = Image.open(io.BytesIO(image) if isinstance(image, bytes) else Path(image))
        img.load()
    except FileNotFoundError:
        raise ConfigError(f"image file not found: {image}", hint="check the path") from None
    except (UnidentifiedImageError, OSError) as exc:
        what = "image bytes" if isinstance(image, bytes) else f"image file {image}"
        raise ConfigError(f"cannot read {what}: {exc}", hint="pass a PNG or JPEG image") from None
    return img


def image_part(
    image: Image.Image | bytes | str | Path,
    *,
    max_pixels: int | None = DEFAULT_IMAGE_MAX_PIXELS,
    format: Literal["jpeg", "png"] = "jpeg",
    quality: int = 85,
) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part holding ``image`` as a base64 data URL.

    The image (a PIL image, or encoded bytes, or a file path) is downscaled to at most
    ``max_pixels`` pixels (``None``: full size), never upscaled, then encoded as JPEG (default,
    ``quality`` 1-95) or PNG.
    """
    if format not in ("jpeg", "png"):
        raise ConfigError(f"unsupported image format {format!r}", hint="use 'jpeg' or 'png'")
    if not 1 <= quality <= 95:
        raise ConfigError(f"JPEG quality {quality} is out of range", hint="use 1-95 (85 is a good default)")
    img = _load_image(image)
    size = fit_to_budget(img.width, img.height, max_pixels)
    if size != (img.width, img.height):
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    if format == "jpeg":
        if img.mode != "RGB":
            img = img.convert("RGB")
        img.save(buf, format="JPEG", quality=quality)
        mime = "image/jpeg"
    else:
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            img = img.convert("RGBA")
        img.save(buf, format="PNG", compress_level=1)
        mime = "image/png"
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def sniff_audio_format(data: bytes) -> AudioFormat | None:
    """``"wav"`` (RIFF/WAVE), ``"mp3"`` (ID3 tag or MPEG audio frame sync) or ``None``."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3":
        return "mp3"
    # MPEG audio frame header: 11 sync bits, a valid version, layer III, a valid bitrate index
    if len(data) >= 4 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        version = (data[1] >> 3) & 0x3
        layer = (data[1] >> 1) & 0x3
        bitrate = data[2] >> 4
        if version != 1 and layer == 1 and bitrate not in (0, 15):
            return "mp3"
    return None


def audio_part(data: bytes | str | Path, format: str | None = None) -> dict[str, Any]:
    """An OpenAI ``input_audio`` content part: ``{"data": base64, "format": "wav" | "mp3"}``.

    ``data`` is the audio bytes or a file path; the format is sniffed from the header unless
    given. Raises ``ConfigError`` for a missing, unreadable, empty or unsupported file.
    """
    source = "audio data"
    if isinstance(data, str | Path):
        path = Path(data)
        source = f"audio file {path}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"audio file not found: {path}", hint="check the path") from None
        except OSError as exc:
            raise ConfigError(f"cannot read audio file {path}: {exc.strerror or exc}") from None
    if not isinstance(data, bytes | bytearray):
        raise ConfigError(f"audio must be bytes or a file path, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ConfigError(f"{source} is empty", hint="record or synthesize some audio first")
    sniffed = sniff_audio_format(data)
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt == "mpeg":
            fmt = "mp3"
        if fmt not in ("wav", "mp3"):
            raise ConfigError(
                f"unsupported audio format {format!r}",
                hint="OpenAI-style input_audio takes wav or mp3; convert with sox or ffmpeg",
            )
        if sniffed is not None and sniffed != fmt:
            raise ConfigError(f"{source} looks like {sniffed}, not {fmt}", hint="drop the format argument")
    elif sniffed is None:
        raise ConfigError(
            f"{source} is neither WAV nor MP3 (header {data[:4]!r})",
            hint="convert it with `sox in.flac out.wav` or ffmpeg, or pass format= if you are sure",
        )
    else:
        fmt = sniffed
    return {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": fmt},
    }


def user_message(
    text: str,
    image: Image.Image | bytes | str | Path | None = None,
    audio: bytes | str | Path | None = None,
    **image_opts: Any,
) -> HumanMessage:
    """A ``HumanMessage`` with an optional image (``image_part(image, **image_opts)``) and audio.

    Media parts come first and the text last (the order GLM-4.1V was trained on). Without media
    the content is the plain text.
    """
    if image is None and audio is None:
        return HumanMessage(content=text)
    parts: list[str | dict[str, Any]] = []
    if image is not None:
        parts.append(image_part(image, **image_opts))
    if audio is not None:
        parts.append(audio_part(audio))
    parts.append({"type": "text", "text": text})
    return HumanMessage(content=parts)
