"""Decoding of request media: images (data URLs, optional http(s)) and audio (wav, mp3)."""

from __future__ import annotations

import base64
import binascii
import inspect
import io
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from autoglm_agent.errors import ConfigError
from autoglm_agent.server.errors import APIError, bad_request, too_large
from autoglm_agent.voice import read_audio, resample


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


def decode_image_bytes(
    raw: bytes, *, param: str, max_pixels: int, shrink: Shrinker | None = None
) -> Image.Image:
    """Decode (and, with ``shrink``, scale down to the model's size) an RGB image."""
    try:
        img = Image.open(io.BytesIO(raw))
        width, height = img.size
    except Exception as exc:
        raise bad_request(f"the image cannot be decoded ({exc})", param=param, code="invalid_image") from exc
    if width * height > max_pixels:
        raise too_large(
            f"the image is {width}x{height} pixels, over the server's limit of {max_pixels} pixels",
            param=param,
        )
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
        raise bad_request(f"the image cannot be decoded ({exc})", param=param, code="invalid_image") from exc


def load_image_url(
    url: str,
    *,
    param: str,
    max_bytes: int,
    max_pixels: int,
    allow_remote: bool,
    shrink: Shrinker | None = None,
    timeout: float = 15.0,
) -> Image.Image:
    """An image from a ``data:`` URL (or an http(s) URL when the server allows remote images)."""
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        if not sep:
            raise bad_request("the image data URL has no ',' before its data", param=param)
        if ";base64" not in header:
            raise bad_request("the image data URL must be base64 (data:image/png;base64,...)", param=param)
        raw = _b64decode(data, param=param, max_bytes=max_bytes, what="image")
        return decode_image_bytes(raw, param=param, max_pixels=max_pixels, shrink=shrink)
    if url.startswith(("http://", "https://")):
        if not allow_remote:
            raise bad_request(
                "remote image URLs are refused by this server; send the image as a data URL "
                "(or start the server with --allow-remote-images)",
                param=param,
                code="remote_images_disabled",
            )
        return _fetch_image(
            url, param=param, max_bytes=max_bytes, max_pixels=max_pixels, shrink=shrink, timeout=timeout
        )
    raise bad_request("an image_url must be a data: URL (or http(s) when allowed)", param=param)


def _fetch_image(
    url: str, *, param: str, max_bytes: int, max_pixels: int, shrink: Shrinker | None, timeout: float
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
                    raise too_large(f"the image at {url} is larger than {max_bytes} bytes", param=param)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise bad_request(f"fetching the image failed: {exc}", param=param) from exc
    return decode_image_bytes(b"".join(chunks), param=param, max_pixels=max_pixels, shrink=shrink)


def decode_audio(
    data: str, fmt: str, *, param: str, max_bytes: int, max_seconds: float
) -> tuple[np.ndarray, int]:
    """Base64 wav/mp3 -> (mono float32 samples in [-1, 1], sampling rate)."""
    raw = _b64decode(data, param=param, max_bytes=max_bytes, what="audio")
    fmt = (fmt or "wav").lower()
    if fmt not in ("wav", "mp3"):
        raise bad_request(f"audio format {fmt!r} is not supported; use wav or mp3", param=param)
    try:  # the same decoder as the CLI's --voice (stdlib wave + numpy; mp3 through ffmpeg)
        samples, rate = read_audio(raw)
    except ConfigError as exc:
        raise bad_request(str(exc), param=param) from None
    if samples.size == 0:
        raise bad_request("the audio has no samples", param=param)
    if samples.size / rate > max_seconds:
        raise too_large(
            f"the audio is {samples.size / rate:.1f} s long, over the server's limit of {max_seconds:.0f} s",
            param=param,
        )
    return samples, rate


__all__ = ["decode_audio", "decode_image_bytes", "image_shrinker", "load_image_url", "resample"]
