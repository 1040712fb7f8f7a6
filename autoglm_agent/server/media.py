"""Decoding of request media: images (data URLs, optional http(s)) and audio (wav, mp3)."""

from __future__ import annotations

import base64
import binascii
import inspect
import io
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from autoglm_agent.errors import ConfigError
from autoglm_agent.server.errors import APIError, bad_request, exc_text, too_large
from autoglm_agent.voice import read_audio, resample

#: Image formats the server decodes: what screenshots are. All three are read lazily by Pillow
#: (``Image.open`` parses the header only), so their size is checked before any pixel is decoded;
#: formats Pillow decodes while opening (ICO, CUR, ICNS...) could bypass that check.
ACCEPTED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")

#: Audio sampling rates accepted (Hz): below 4 kHz is not speech audio, and a tiny declared rate
#: turns a few bytes into hours of audio once resampled for the speech model.
MIN_AUDIO_RATE = 4000
MAX_AUDIO_RATE = 384_000


class MediaBudget:
    """What one request may still decode, in total over all its parts: audio seconds and image pixels.

    Each part is charged from its header, before it is decoded or resampled, so a request of many
    small parts cannot cost more than one large one.
    """

    def __init__(self, *, audio_seconds: float, pixels: int) -> None:
        self.audio_limit = float(audio_seconds)
        self.pixel_limit = int(pixels)
        self.audio_seconds = 0.0
        self.pixels = 0

    def take_audio(self, seconds: float, *, param: str) -> None:
        if self.audio_seconds + seconds > self.audio_limit:
            so_far = f" (with {self.audio_seconds:.1f} s before it)" if self.audio_seconds else ""
            raise too_large(
                f"the audio is {seconds:.1f} s long{so_far}, over the server's limit of "
                f"{self.audio_limit:g} s of audio a request",
                param=param,
            )
        self.audio_seconds += seconds

    def take_pixels(self, pixels: int, *, param: str) -> None:
        if self.pixels + pixels > self.pixel_limit:
            raise too_large(
                f"the images of this request add up to more than the server's limit of "
                f"{self.pixel_limit} pixels a request",
                param=param,
            )
        self.pixels += pixels


def _b64decode(data: str, *, param: str, max_bytes: int, what: str) -> bytes:
    data = data.strip()
    # base64 grows 4/3: refuse before decoding what would be too large anyway
    if len(data) * 3 // 4 > max_bytes + 3:
        raise too_large(f"the {what} is larger than the server's limit of {max_bytes} bytes", param=param)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(
            f"the {what} is not valid base64 ({exc})", param=param, code="invalid_base64"
        ) from exc
    if not raw:
        raise bad_request(f"the {what} is empty", param=param)
    if len(raw) > max_bytes:
        raise too_large(f"the {what} is larger than the server's limit of {max_bytes} bytes", param=param)
    return raw


#: Maps an image's (width, height) to the (width, height) the model will see.
Shrinker = Callable[[int, int], tuple[int, int]]


def image_shrinker(image_processor: Any) -> Shrinker | None:
    """The processor's own target-size rule (GLM-4.1V's ``smart_resize``), when it has one.

    Knowing the target size before decoding lets the server decode JPEGs at reduced scale and
    shrink large screenshots with PIL's fast two-step resize; the processor then gets an image
    already at its final size. Returns None for processors without such a rule.
    """
    module = sys.modules.get(type(image_processor).__module__)
    fn = getattr(module, "smart_resize", None)
    if fn is None:
        return None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    if not {"num_frames", "height", "width", "factor", "min_pixels", "max_pixels"} <= set(params):
        return None

    def target(width: int, height: int) -> tuple[int, int]:
        ip = image_processor
        size = ip.size
        get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
        temporal = int(getattr(ip, "temporal_patch_size", 2) or 2)
        h, w = fn(
            num_frames=temporal,
            height=height,
            width=width,
            factor=int(ip.patch_size) * int(ip.merge_size),
            min_pixels=int(get("shortest_edge")),
            max_pixels=int(get("longest_edge")),
            temporal_factor=temporal,
        )
        return int(w), int(h)

    return target


def sniff_image_format(raw: bytes) -> str | None:
    """The image format named by ``raw``'s magic bytes (PNG, JPEG, WEBP, or another name), or None."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if raw[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if raw[:2] == b"BM":
        return "BMP"
    if raw[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):
        return "ICO"
    if raw[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if raw[:4] == b"icns":
        return "ICNS"
    return None


def decode_image_bytes(
    raw: bytes,
    *,
    param: str,
    max_pixels: int,
    shrink: Shrinker | None = None,
    budget: MediaBudget | None = None,
) -> Image.Image:
    """Decode (and, with ``shrink``, scale down to the model's size) an RGB image.

    Only PNG, JPEG and WebP are accepted; their declared size is checked against ``max_pixels`` and
    the request's ``budget`` before any pixel is decoded.
    """
    fmt = sniff_image_format(raw)
    if fmt is None:
        raise bad_request(
            "the image cannot be decoded: it is not a PNG, JPEG or WebP image",
            param=param,
            code="invalid_image",
        )
    if fmt not in ACCEPTED_IMAGE_FORMATS:
        raise bad_request(
            f"{fmt} images are not accepted; send PNG, JPEG or WebP", param=param, code="invalid_image"
        )
    try:
        img = Image.open(io.BytesIO(raw), formats=[fmt])  # lazy: reads the header only
        width, height = img.size
    except Image.DecompressionBombError as exc:
        raise too_large(
            f"the image is larger than the server's limit of {max_pixels} pixels", param=param
        ) from exc
    except Exception as exc:
        raise bad_request(
            f"the image cannot be decoded ({exc_text(exc)})", param=param, code="invalid_image"
        ) from exc
    if width * height > max_pixels:
        raise too_large(
            f"the image is {width}x{height} pixels, over the server's limit of {max_pixels} pixels",
            param=param,
        )
    if budget is not None:
        budget.take_pixels(width * height, param=param)
    try:
        target: tuple[int, int] | None = None
        if shrink is not None:
            try:
                target = shrink(width, height)
            except ValueError as exc:  # e.g. an absurd aspect ratio
                raise bad_request(
                    f"the image cannot be used: {exc}", param=param, code="invalid_image"
                ) from exc
            if target[0] * target[1] >= width * height:
                target = None  # growing: the processor does it
        if target is not None and img.format == "JPEG":
            img.draft("RGB", target)  # DCT-domain downscale while decoding, never below target
        img.load()
        if img.mode != "RGB":
            img = img.convert("RGB")
        if target is not None and img.size != target:
            # integer box reduction first, then bicubic: the fast path PIL documents as barely
            # distinguishable from a full-size antialiased resize
            img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
        return img
    except APIError:
        raise
    except Exception as exc:
        raise bad_request(
            f"the image cannot be decoded ({exc_text(exc)})", param=param, code="invalid_image"
        ) from exc


def load_image_url(
    url: str,
    *,
    param: str,
    max_bytes: int,
    max_pixels: int,
    allow_remote: bool,
    shrink: Shrinker | None = None,
    timeout: float = 15.0,
    budget: MediaBudget | None = None,
) -> Image.Image:
    """An image from a ``data:`` URL (or an http(s) URL when the server allows remote images)."""
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        if not sep:
            raise bad_request("the image data URL has no ',' before its data", param=param)
        if ";base64" not in header:
            raise bad_request("the image data URL must be base64 (data:image/png;base64,...)", param=param)
        raw = _b64decode(data, param=param, max_bytes=max_bytes, what="image")
        return decode_image_bytes(raw, param=param, max_pixels=max_pixels, shrink=shrink, budget=budget)
    if url.startswith(("http://", "https://")):
        if not allow_remote:
            raise bad_request(
                "remote image URLs are refused by this server; send the image as a data URL "
                "(or start the server with --allow-remote-images)",
                param=param,
                code="remote_images_disabled",
            )
        return _fetch_image(
            url,
            param=param,
            max_bytes=max_bytes,
            max_pixels=max_pixels,
            shrink=shrink,
            timeout=timeout,
            budget=budget,
        )
    raise bad_request("an image_url must be a data: URL (or http(s) when allowed)", param=param)


def _fetch_image(
    url: str,
    *,
    param: str,
    max_bytes: int,
    max_pixels: int,
    shrink: Shrinker | None,
    timeout: float,
    budget: MediaBudget | None = None,
) -> Image.Image:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code != 200:
                raise bad_request(f"fetching the image failed with HTTP {resp.status_code}", param=param)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(f"the image is larger than {max_bytes} bytes", param=param)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise bad_request(f"fetching the image failed: {exc_text(exc)}", param=param) from exc
    return decode_image_bytes(
        b"".join(chunks), param=param, max_pixels=max_pixels, shrink=shrink, budget=budget
    )


def wav_header(raw: bytes) -> tuple[int, int, int, int] | None:
    """(channels, bytes per frame, sampling rate, frames present) from a RIFF/WAVE header, or None.

    Reads the chunk headers only. The frame count is what the bytes hold: a header that claims more
    data than follows (a streamed recording) counts what is there.
    """
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: tuple[int, int, int] | None = None
    while pos + 8 <= len(raw):
        cid = raw[pos : pos + 4]
        size = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(raw):
                return None
            _tag, channels, rate, _byte_rate, block, _bits = struct.unpack_from("<HHIIHH", raw, body)
            fmt = (channels, block, rate)
        elif cid == b"data":
            if fmt is None:
                return None
            channels, block, rate = fmt
            if channels < 1 or block < 1:
                return None
            frames = min(size, len(raw) - body) // block
            return channels, block, rate, frames
        pos = body + size + (size & 1)
    return None


def _check_rate(rate: int, *, param: str) -> None:
    if not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE:
        raise bad_request(
            f"the audio's sampling rate of {rate} Hz is not supported; "
            f"send {MIN_AUDIO_RATE} to {MAX_AUDIO_RATE} Hz audio (16000 Hz is best)",
            param=param,
            code="invalid_audio",
        )


def _decode_mp3_bounded(raw: bytes, *, param: str, max_seconds: float, rate: int = 16000) -> np.ndarray:
    """Mono 16 kHz samples of an mp3, decoding at most ``max_seconds`` (+1 s to notice longer ones)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise bad_request(
            "cannot decode the audio: mp3 needs ffmpeg on the server; send wav audio",
            param=param,
            code="invalid_audio",
        )
    cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-i", "pipe:0", "-t", f"{max_seconds + 1.0:.3f}"]
    cmd += ["-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"]
    try:
        proc = subprocess.run(cmd, input=raw, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise bad_request("decoding the mp3 audio timed out", param=param, code="invalid_audio") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise bad_request(
            f"the audio cannot be decoded as mp3 ({exc_text(Exception(lines[-1] if lines else 'ffmpeg failed'))})",
            param=param,
            code="invalid_audio",
        )
    pcm = proc.stdout[: len(proc.stdout) - len(proc.stdout) % 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def decode_audio(
    data: str,
    fmt: str,
    *,
    param: str,
    max_bytes: int,
    max_seconds: float,
    budget: MediaBudget | None = None,
) -> tuple[np.ndarray, int]:
    """Base64 wav/mp3 -> (mono float32 samples in [-1, 1], sampling rate).

    The length is charged to ``budget`` (the request's total, by default ``max_seconds`` for this part
    alone) from the wav header before anything is decoded; mp3 is decoded only up to what is left.
    """
    budget = budget or MediaBudget(audio_seconds=max_seconds, pixels=0)
    raw = _b64decode(data, param=param, max_bytes=max_bytes, what="audio")
    fmt = (fmt or "wav").lower()
    if fmt not in ("wav", "mp3"):
        raise bad_request(f"audio format {fmt!r} is not supported; use wav or mp3", param=param)
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        header = wav_header(raw)
        if header is None:
            raise bad_request(
                "the audio cannot be read as a wav file (no fmt and data chunks)",
                param=param,
                code="invalid_audio",
            )
        _channels, _block, rate, frames = header
        _check_rate(rate, param=param)
        if frames == 0:
            raise bad_request("the audio has no samples", param=param, code="invalid_audio")
        budget.take_audio(frames / rate, param=param)  # before decoding or resampling anything
        try:  # the same decoder as the CLI's --voice (stdlib wave + numpy)
            samples, rate = read_audio(raw)
        except ConfigError as exc:
            raise bad_request(exc_text(exc), param=param, code="invalid_audio") from None
        except Exception as exc:
            raise bad_request(
                f"the audio cannot be decoded ({exc_text(exc)})", param=param, code="invalid_audio"
            ) from None
    elif raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and (raw[1] & 0xE0) == 0xE0):
        rate = 16000
        left = budget.audio_limit - budget.audio_seconds
        samples = _decode_mp3_bounded(raw, param=param, max_seconds=max(left, 0.0))
        budget.take_audio(samples.size / rate, param=param)
    else:
        raise bad_request(
            "the audio is not a wav or mp3 file (use 16-bit PCM wav)", param=param, code="invalid_audio"
        )
    if samples.size == 0:
        raise bad_request("the audio has no samples", param=param, code="invalid_audio")
    _check_rate(int(rate), param=param)
    return samples, int(rate)


__all__ = [
    "ACCEPTED_IMAGE_FORMATS",
    "MediaBudget",
    "decode_audio",
    "decode_image_bytes",
    "image_shrinker",
    "load_image_url",
    "resample",
    "sniff_image_format",
    "wav_header",
]
