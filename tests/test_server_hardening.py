"""Hardening of the embedded server against hostile media, auth and parameters.

Audio is budgeted per request from its headers (before decoding or resampling), text-only requests
never wait on the media preprocessing slots, images are limited to lazily-decoded formats and a
per-request pixel budget, the API key is checked before the body is read, parameters the server
cannot honour are refused with a 400, and errors never echo large inputs or object reprs.
Hostile inputs are generated with hypothesis where the class of input allows it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import struct
import threading
import time
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile
from pydantic import ValidationError

from autoglm_agent.server import EmbeddedServer, ServerConfig
from autoglm_agent.server import media as media_mod
from autoglm_agent.server.app import _authorized, listen_line
from autoglm_agent.server.engine import Engine, SamplingParams
from autoglm_agent.server.errors import APIError
from autoglm_agent.server.loading import LoadedModel, load_model
from autoglm_agent.server.media import MediaBudget, decode_audio, decode_image_bytes
from autoglm_agent.server.tiny import build_tiny_asr, build_tiny_glm4v

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning"),
]

MODEL = "autoglm-phone-9b"
CHAT = "/v1/chat/completions"
AUDIO_BUDGET = 3.0  # seconds of audio a request (test server)
IMAGE_PIXELS = 1_000_000  # one image (test server)
REQUEST_PIXELS = 1_500_000  # all the images of a request (test server)
FUZZ = settings(
    max_examples=int(os.environ.get("AUTOGLM_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


# ----- fixtures and helpers -----


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hardening")
    return {"model": build_tiny_glm4v(root / "glm4v"), "asr": build_tiny_asr(root / "asr")}


@pytest.fixture(scope="module")
def lm(paths: dict[str, Path]) -> LoadedModel:
    return load_model(ServerConfig(model=paths["model"], device="cpu"))


def _config(paths: dict[str, Path], lm: LoadedModel, **overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {
        "model": lm.path,
        "port": 0,
        "api_key": None,
        "device": "cpu",
        "asr_model": paths["asr"],
        "max_new_tokens": 64,
        "max_image_pixels": IMAGE_PIXELS,
        "max_request_pixels": REQUEST_PIXELS,
        "max_request_bytes": 2 * 1024 * 1024,
        "max_audio_seconds": AUDIO_BUDGET,
        "preprocess_workers": 2,
    }
    base.update(overrides)
    return ServerConfig(**base)


@pytest.fixture(scope="module")
def server(paths: dict[str, Path], lm: LoadedModel) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(_config(paths, lm), lm=lm) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def body(content: Any = "open settings", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 2, **extra}


def post(http: httpx.Client, data: Any, **kw: Any) -> httpx.Response:
    return http.post(CHAT, content=json.dumps(data), headers={"content-type": "application/json"}, **kw)


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"] and "\n" not in err["message"]
    assert len(err["message"]) <= 500
    assert not re.search(r"object at 0x|<_io\.", err["message"]), err["message"]
    return err


def wav(frames: int, rate: int, *, channels: int = 1, declared: int | None = None) -> bytes:
    """A 16-bit PCM wav of ``frames`` zero frames; ``declared`` overrides the data chunk's size."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * frames * channels)
    raw = bytearray(buf.getvalue())
    if declared is not None:
        pos = raw.index(b"data")
        raw[pos + 4 : pos + 8] = struct.pack("<I", declared)
    return bytes(raw)


def audio_part(raw: bytes) -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(raw).decode(), "format": "wav"}}


def image_part(raw: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": f"data:{mime};base64," + base64.b64encode(raw).decode()},
    }


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def zero_png(width: int, height: int) -> bytes:
    """A valid grayscale PNG of zeros (cheap to build and tiny, costly to decode when large)."""
    raw = (b"\x00" + b"\x00" * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw, 9))
        + png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))


def ico_holding(png: bytes) -> bytes:
    """An ICO file whose single entry is ``png`` (Pillow decodes ICO while opening it)."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def pillow_bytes(fmt: str, size: tuple[int, int] = (32, 32), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else 0).save(buf, fmt)
    return buf.getvalue()


# ----- 1. audio -----


def test_audio_budget_is_checked_from_the_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example: 10 tiny parts declaring 1 Hz; and parts under the per-part limit that add up over it."""
    decoded: list[int] = []
    real = media_mod.read_audio

    def counting(raw: bytes) -> Any:
        decoded.append(len(raw))
        return real(raw)

    monkeypatch.setattr(media_mod, "read_audio", counting)
    one_hz = base64.b64encode(wav(120, 1)).decode()  # 120 s at 1 Hz: 1.9 M samples once resampled
    with pytest.raises(APIError) as e:
        decode_audio(one_hz, "wav", param="p", max_bytes=10**6, max_seconds=120)
    assert e.value.status_code == 400 and "sampling rate" in e.value.message
    assert decoded == []
    budget = MediaBudget(audio_seconds=2.0, pixels=0)
    part = base64.b64encode(wav(12000, 8000)).decode()  # 1.5 s
    decode_audio(part, "wav", param="p0", max_bytes=10**6, max_seconds=2.0, budget=budget)
    assert len(decoded) == 1
    with pytest.raises(APIError) as e2:
        decode_audio(part, "wav", param="p1", max_bytes=10**6, max_seconds=2.0, budget=budget)
    assert e2.value.status_code == 413 and e2.value.param == "p1"
    assert len(decoded) == 1  # refused from its header: never decoded
    # a header claiming an hour over 100 samples counts the samples that are there
    hour = base64.b64encode(wav(100, 16000, declared=3600 * 16000 * 2)).decode()
    samples, rate = decode_audio(hour, "wav", param="p", max_bytes=10**6, max_seconds=1.0)
    assert samples.size == 100 and rate == 16000


@FUZZ
@given(
    parts=st.lists(
        st.tuples(
            st.integers(0, 3000),  # frames
            st.sampled_from([1, 2, 100, 3999, 4000, 8000, 11025, 16000, 22050, 48000, 400_000])
            | st.integers(1, 500_000),
            st.integers(1, 2),  # channels
        ),
        min_size=1,
        max_size=10,
    )
)
def test_audio_parts_fuzz(http: httpx.Client, parts: list[tuple[int, int, int]]) -> None:
    """Whatever wav parts a request has: 400 for a bad rate or no samples, 413 once the request's
    total goes over the budget (in order), else 200 (short clips included); never a 500."""
    expected = 200
    total = 0.0
    for frames, rate, _ in parts:
        if not 4000 <= rate <= 384_000 or frames == 0:
            expected = 400
            break
        total += frames / rate
        if total > AUDIO_BUDGET:
            expected = 413
            break
    content = [audio_part(wav(f, r, channels=c)) for f, r, c in parts]
    resp = post(http, body(content))
    if expected == 200:
        assert resp.status_code == 200, resp.text[:500]
    else:
        error_of(resp, expected)


def test_short_audio_is_transcribed_and_asr_failures_are_400(
    http: httpx.Client, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for frames in (1, 50, 100, 399, 400):  # under the speech model's window (400 samples at 16 kHz)
        resp = post(http, body([audio_part(wav(frames, 16000))]))
        assert resp.status_code == 200, resp.text
    resp = post(http, body([audio_part(wav(100, 16000, declared=3600 * 16000 * 2))]))
    assert resp.status_code == 200, resp.text
    assert server.state is not None and server.state.asr is not None

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError(
            "Calculated padded input size per channel: (3).\nKernel size: (10). <x object at 0x1>"
        )

    monkeypatch.setattr(server.state.asr, "_pipe", broken)
    err = error_of(post(http, body([audio_part(wav(8000, 16000))])), 400)
    assert err["param"] == "messages.0.content.0" and "transcribe" in err["message"]


def test_text_requests_do_not_wait_on_media_slots(
    http: httpx.Client, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both media slots held by slow audio requests: a text-only request still answers at once."""
    assert server.state is not None and server.state.asr is not None
    release = threading.Event()
    entered = threading.Semaphore(0)
    real = server.state.asr.transcribe

    def slow(*a: Any, **k: Any) -> str:
        entered.release()
        release.wait(30)
        return real(*a, **k)

    monkeypatch.setattr(server.state.asr, "transcribe", slow)
    results: list[int] = []

    def media_request() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            results.append(post(c, body([audio_part(wav(8000, 16000))])).status_code)

    threads = [threading.Thread(target=media_request) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        assert entered.acquire(timeout=20) and entered.acquire(timeout=20)  # both slots are taken
        started = time.monotonic()
        resp = post(http, body("hello"), timeout=15)
        assert resp.status_code == 200, resp.text
        assert time.monotonic() - started < 15
        assert not results  # the media requests are all still waiting
    finally:
        release.set()
        for t in threads:
            t.join(60)
    assert results == [200, 200, 200]


# ----- 2. images -----


def test_formats_decoded_while_opening_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    real_open = Image.open

    def spy(*a: Any, **k: Any) -> Any:
        opened.append(a)
        return real_open(*a, **k)

    monkeypatch.setattr(media_mod.Image, "open", spy)
    ico = ico_holding(png_header_only(13000, 13000))
    with pytest.raises(APIError) as e:
        decode_image_bytes(ico, param="p", max_pixels=64_000_000)
    assert e.value.status_code == 400 and "ICO" in e.value.message and "PNG" in e.value.message
    assert opened == []  # never handed to Pillow


def test_pixel_limits_are_checked_before_any_pixel_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Any) -> Any:
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(APIError) as e:
        decode_image_bytes(png_header_only(8000, 8000), param="p", max_pixels=64_000_000 - 1)
    assert e.value.status_code == 413
    budget = MediaBudget(audio_seconds=1, pixels=100_000_000)
    budget.take_pixels(64_000_000, param="p0")
    with pytest.raises(APIError) as e2:
        decode_image_bytes(png_header_only(8000, 8000), param="p1", max_pixels=64_000_000, budget=budget)
    assert e2.value.status_code == 413 and e2.value.param == "p1"


@FUZZ
@given(
    fmt=st.sampled_from(["GIF", "BMP", "ICO", "TIFF", "TGA", "PPM", "PCX", "IM", "SGI", "DDS", "QOI"]),
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
)
def test_other_image_formats_fuzz(http: httpx.Client, fmt: str, size: tuple[int, int]) -> None:
    try:
        raw = pillow_bytes(fmt, size)
    except (OSError, KeyError, ValueError):
        return  # this Pillow cannot write it
    err = error_of(post(http, body([image_part(raw), {"type": "text", "text": "hi"}])), 400)
    assert err["code"] == "invalid_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_screenshot_formats_are_accepted(http: httpx.Client, fmt: str) -> None:
    resp = post(http, body([image_part(pillow_bytes(fmt, (64, 64))), {"type": "text", "text": "hi"}]))
    assert resp.status_code == 200, resp.text


@FUZZ
@given(
    sizes=st.lists(
        st.tuples(st.integers(1, 1300), st.integers(1, 1300))
        | st.tuples(st.integers(700, 1000), st.integers(700, 1000)),  # each fits, two do not
        min_size=1,
        max_size=5,
    )
)
def test_image_pixel_budget_fuzz(http: httpx.Client, sizes: list[tuple[int, int]]) -> None:
    """413 as soon as one image is over the per-image limit or the request's total is over budget.

    Parts are taken in order, each checked from its header before it is decoded: an earlier image
    the model cannot use (an aspect ratio over 200) ends the request first, with a 400.
    """
    expected = 200
    total = 0
    for w, h in sizes:
        if w * h > IMAGE_PIXELS:
            expected = 413
            break
        total += w * h
        if total > REQUEST_PIXELS:
            expected = 413
            break
        if max(w, h) / min(w, h) > 200:
            expected = 400
            break
    content = [image_part(zero_png(w, h)) for w, h in sizes] + [{"type": "text", "text": "hi"}]
    resp = post(http, body(content))
    if expected == 200:
        # the model's processor may still refuse an absurd aspect ratio, as a 400
        assert resp.status_code in (200, 400), resp.text[:500]
        if resp.status_code == 400:
            error_of(resp, 400)
    else:
        error_of(resp, expected)


def test_api_key_is_checked_before_the_body_is_read(paths: dict[str, Path], lm: LoadedModel) -> None:
    with EmbeddedServer(_config(paths, lm, api_key="s3cret-KEY"), lm=lm) as srv:
        assert srv.port is not None
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            # announces a 1.5 MB body but sends 10 bytes: the 401 must not wait for the rest
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1500000\r\n\r\n{"model":'
            )
            s.settimeout(10)
            head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 401"), head[:200]
        ok = httpx.post(
            srv.base_url + "/chat/completions",
            json=body(),
            headers={"Authorization": "Bearer s3cret-KEY"},
            timeout=60,
        )
        assert ok.status_code == 200, ok.text
        assert httpx.get(srv.url + "/health", timeout=10).status_code == 200


@FUZZ
@given(key=st.text(min_size=1, max_size=20))
def test_api_keys_that_cannot_match_are_refused_at_startup(key: str) -> None:
    usable = all(33 <= ord(c) <= 126 for c in key)
    if usable:
        config = ServerConfig(model="m", api_key=key)
        assert config.api_key == key and _authorized(f"Bearer {key}", key)
    else:
        with pytest.raises(ValidationError) as e:
            ServerConfig(model="m", api_key=key)
        err = e.value.errors()[0]
        assert err["loc"] == ("api_key",) and "\n" not in err["msg"] and key not in err["msg"]


# ----- 3. parameters, usage, errors, serve -----


def test_the_agents_own_request_is_accepted(http: httpx.Client) -> None:
    """What autoglm_agent.llm + the autoglm profile send."""
    resp = post(
        http,
        body(
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.0,
            top_p=0.85,
            frequency_penalty=0.2,
            max_tokens=3000,
            enable_thinking=True,
            return_reasoning=True,
            chat_template_kwargs={"enable_thinking": True},
        )
        | {"max_tokens": 3},
    )
    assert resp.status_code == 200, resp.text
    resp = post(http, body(temperature=0.0, frequency_penalty=0.2, presence_penalty=0.1, max_tokens=3000))
    assert resp.status_code == 200, resp.text


OFF = {
    "tools": [None, []],
    "tool_choice": [None, "none", "auto"],
    "response_format": [None, {"type": "text"}],
    "logprobs": [None, False],
    "top_logprobs": [None, 0],
    "logit_bias": [None, {}],
    "modalities": [None, ["text"]],
}
ON = {
    "tools": [[{"type": "function", "function": {"name": "f", "parameters": {}}}]],
    "tool_choice": ["required", {"type": "function", "function": {"name": "f"}}],
    "response_format": [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "json",
    ],
    "logprobs": [True],
    "top_logprobs": [3],
    "logit_bias": [{"50256": -100}],
    "modalities": [["text", "audio"]],
}


@FUZZ
@given(
    choice=st.fixed_dictionaries(
        {},
        optional={k: st.sampled_from(OFF[k] + ON[k]) for k in OFF},
    )
)
def test_unsupported_parameters_fuzz(http: httpx.Client, choice: dict[str, Any]) -> None:
    """Off values are accepted; anything asking for tools, JSON output, logprobs... is a 400 naming it."""
    on = {k for k, v in choice.items() if v in ON[k]}
    if "tools" in on and choice.get("tool_choice") == "none":
        on.discard("tools")
    resp = post(http, body(**choice))
    if on:
        err = error_of(resp, 400)
        assert err["param"] in on, (err, on)
    else:
        assert resp.status_code == 200, resp.text


@FUZZ
@given(
    value=st.sampled_from([True, False, 8193, 10**6, 2**62]) | st.integers(8193, 2**63),
    key=st.sampled_from(["max_tokens", "max_completion_tokens"]),
)
def test_max_tokens_beyond_the_context_or_boolean_is_400(http: httpx.Client, value: Any, key: str) -> None:
    data = body()
    del data["max_tokens"]
    err = error_of(post(http, data | {key: value}), 400)
    assert err["param"] == key


def _sample_with(params: SamplingParams, generated: list[int], logits: list[float]) -> int:
    row = SimpleNamespace(
        handle=SimpleNamespace(params=params), generated=list(generated), counts=None, generator=None
    )
    fake = SimpleNamespace(lm=SimpleNamespace(eos_token_ids=[]), _forced=None)
    return Engine._sample(fake, [row], torch.tensor([logits]))[0]  # type: ignore[arg-type]


def test_frequency_and_presence_penalties_change_greedy_choices() -> None:
    logits = [5.0, 4.9, 0.0, 0.0]
    assert _sample_with(SamplingParams(temperature=0), [0, 0], logits) == 0
    assert _sample_with(SamplingParams(temperature=0, frequency_penalty=0.2), [0], logits) == 1
    assert _sample_with(SamplingParams(temperature=0, frequency_penalty=0.04), [0, 0], logits) == 0
    assert _sample_with(SamplingParams(temperature=0, frequency_penalty=0.06), [0, 0], logits) == 1
    assert _sample_with(SamplingParams(temperature=0, presence_penalty=0.2), [0, 0, 0], logits) == 1
    assert _sample_with(SamplingParams(temperature=0, frequency_penalty=-2), [1], logits) == 1


@FUZZ
@given(
    counts=st.lists(st.integers(0, 5), min_size=6, max_size=6),
    freq=st.floats(-2, 2),
    pres=st.floats(-2, 2),
)
def test_penalties_match_the_openai_formula(counts: list[int], freq: float, pres: float) -> None:
    base = [0.7, -1.3, 2.2, 0.0, 1.1, -0.4]
    generated = [t for t, c in enumerate(counts) for _ in range(c)]
    want = [b - c * freq - (1 if c else 0) * pres for b, c in zip(base, counts, strict=True)]
    got = _sample_with(
        SamplingParams(temperature=0, frequency_penalty=freq, presence_penalty=pres), generated, base
    )
    assert want[got] == pytest.approx(max(want), abs=1e-5)


def test_usage_counts_reasoning_tokens(http: httpx.Client, server: EmbeddedServer) -> None:
    server.engine.set_forced_output(
        "<think>I see the home screen and open Settings now.</think><answer>ok</answer>"
    )
    try:
        data = post(http, body(max_tokens=60)).json()
        usage = data["usage"]
        reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        assert 0 < reasoning < usage["completion_tokens"]
        resp = post(http, body(max_tokens=60, stream=True, stream_options={"include_usage": True}))
        events = [json.loads(ln[6:]) for ln in resp.text.splitlines() if ln.startswith("data: {")]
        assert events[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == reasoning
    finally:
        server.engine.set_forced_output(None)


@FUZZ
@given(name=st.text(min_size=1, max_size=300) | st.just("x" * 1_000_000))
def test_errors_do_not_echo_large_inputs(http: httpx.Client, name: str) -> None:
    if name == MODEL:
        return
    resp = post(http, body() | {"model": name})
    err = error_of(resp, 404)
    assert len(err["message"]) < 300


def test_errors_carry_no_object_reprs(http: httpx.Client) -> None:
    for raw in (b"\x89PNG\r\n\x1a\nbroken", b"\xff\xd8\xffbroken", b"RIFF\x00\x00\x00\x00WEBPbroken"):
        error_of(post(http, body([image_part(raw), {"type": "text", "text": "hi"}])), 400)


def test_listen_line_names_the_url_never_the_key() -> None:
    config = ServerConfig(model="m", host="0.0.0.0", port=8123, api_key="top-secret")
    line = listen_line(config, 8123)
    assert "http://0.0.0.0:8123/v1" in line and "top-secret" not in line and "key is required" in line
    assert "\n" not in line
    assert "no API key" in listen_line(ServerConfig(model="m", api_key=None), 8000)


def test_serve_command_options(monkeypatch: pytest.MonkeyPatch, paths: dict[str, Path]) -> None:
    from typer.testing import CliRunner

    import autoglm_agent.server as server_pkg
    from autoglm_agent.cli import app

    seen: list[ServerConfig] = []
    monkeypatch.setattr(server_pkg, "serve", lambda config: seen.append(config))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "serve",
            "--model",
            str(paths["model"]),
            "--log-level",
            "info",
            "--no-access-log",
            "--max-batch-size",
            "4",
            "--max-audio-seconds",
            "30",
            "--max-request-pixels",
            "9000000",
            "--preprocess-workers",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.log_level == "info" and config.access_log is False and config.max_batch_size == 4
    assert config.max_audio_seconds == 30 and config.max_request_pixels == 9_000_000
    assert config.preprocess_workers == 3
    bad = runner.invoke(app, ["serve", "--model", str(paths["model"]), "--api-key", "cl\u00e9"])
    assert bad.exit_code != 0 and len(seen) == 1
    shown = bad.output + str(bad.exception)
    assert "ASCII" in shown and "cl\u00e9" not in shown
