"""The embedded OpenAI-compatible server over HTTP, with the real openai and langchain clients."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from autoglm_agent.server import EmbeddedServer, ServerConfig
from autoglm_agent.server.app import EmbeddedServer as _EmbeddedServer
from autoglm_agent.server.asr import SpeechRecognizer
from autoglm_agent.server.loading import LoadedModel, load_model
from autoglm_agent.server.tiny import build_tiny_asr, build_tiny_glm4v

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

MODEL = "autoglm-phone-9b"
FORCED = '<think>The home screen is visible, I open Settings.</think>\n<answer>do(action="Launch", app="Settings")</answer>'


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("server")
    return {"model": build_tiny_glm4v(root / "glm4v"), "asr": build_tiny_asr(root / "asr")}


@pytest.fixture(scope="module")
def lm(paths: dict[str, Path]) -> LoadedModel:
    return load_model(ServerConfig(model=paths["model"], device="cpu"))


@pytest.fixture(scope="module")
def server(paths: dict[str, Path], lm: LoadedModel) -> Iterator[EmbeddedServer]:
    config = ServerConfig(
        model=paths["model"],
        port=0,
        api_key=None,
        asr_model=paths["asr"],
        device="cpu",
        max_new_tokens=4096,
        max_image_pixels=4_000_000,
        max_request_bytes=4 * 1024 * 1024,
        max_queue_size=32,
    )
    with EmbeddedServer(config, lm=lm) as srv:
        yield srv


@pytest.fixture()
def client(server: EmbeddedServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=60)


@pytest.fixture()
def forced(server: EmbeddedServer) -> Iterator[str]:
    server.engine.set_forced_output(FORCED)
    try:
        yield FORCED
    finally:
        server.engine.set_forced_output(None)


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def screen(color: tuple[int, int, int] = (30, 120, 200)) -> Image.Image:
    img = Image.new("RGB", (1080, 2400), color)
    img.paste((250, 250, 250), (60, 300, 1020, 420))
    return img


def user(text: str, image: Image.Image | None = None) -> list[dict[str, object]]:
    content: list[dict[str, object]] = []
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": data_url(image)}})
    content.append({"type": "text", "text": text})
    return [{"role": "system", "content": "You operate a phone."}, {"role": "user", "content": content}]


def post(
    server: EmbeddedServer, body: object, *, raw: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body)
    return httpx.post(
        server.base_url + "/chat/completions",
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=60,
    )


def assert_openai_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"] and "\n" not in err["message"]
    if code is not None:
        assert err["code"] == code
    return err


# ----- real generation -----


def test_models_and_health(server: EmbeddedServer, client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    health = httpx.get(server.url + "/health").json()
    assert health == {"status": "ok", "model": MODEL}
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")


def test_real_generation_with_an_image(server: EmbeddedServer, client: openai.OpenAI) -> None:
    msgs = user("open settings", screen())
    a = client.chat.completions.create(
        model=MODEL, messages=msgs, temperature=0, max_tokens=16, extra_body={"ignore_eos": True}
    )
    b = client.chat.completions.create(
        model=MODEL, messages=msgs, temperature=0, max_tokens=16, extra_body={"ignore_eos": True}
    )
    assert a.choices[0].finish_reason == "length"
    assert a.usage is not None and a.usage.completion_tokens == 16
    assert a.usage.prompt_tokens > 136  # the screenshot's 136 image tokens reached the model
    assert a.usage.total_tokens == a.usage.prompt_tokens + 16
    assert a.choices[0].message.content == b.choices[0].message.content  # greedy: deterministic
    rec = server.engine.recent_requests()[-1]
    assert rec.num_images == 1 and rec.prompt_tokens == a.usage.prompt_tokens
    assert "<|begin_of_image|><|image|>" in rec.prompt_text and "open settings" in rec.prompt_text

    # the same request streamed gives the same text, then the usage chunk
    stream = client.chat.completions.create(
        model=MODEL,
        messages=msgs,
        temperature=0,
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    full = a.choices[0].message
    assert content == full.content
    assert reasoning.rstrip() == (getattr(full, "reasoning_content", None) or "")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_sampling_seed_and_stop(server: EmbeddedServer, client: openai.OpenAI) -> None:
    msgs = user("search for coffee nearby")
    kw = {"model": MODEL, "messages": msgs, "temperature": 1.0, "top_p": 0.95, "seed": 11, "max_tokens": 12}
    a = client.chat.completions.create(**kw, extra_body={"ignore_eos": True})
    b = client.chat.completions.create(**kw, extra_body={"ignore_eos": True})
    assert a.choices[0].message.content == b.choices[0].message.content


# ----- reasoning, thinking switch, clients -----


def test_reasoning_split_openai_client(server: EmbeddedServer, client: openai.OpenAI, forced: str) -> None:
    msgs = user("open settings", screen())
    r = client.chat.completions.create(
        model=MODEL, messages=msgs, extra_body={"enable_thinking": True, "return_reasoning": True}
    )
    msg = r.choices[0].message
    assert msg.content == '<answer>do(action="Launch", app="Settings")</answer>'
    assert msg.reasoning_content == "The home screen is visible, I open Settings."  # type: ignore[attr-defined]
    assert r.choices[0].finish_reason == "stop"
    assert not server.engine.recent_requests()[-1].prompt_text.endswith("<think></think>\n")

    # thinking off: the template pre-fills an empty think block; reasoning dropped on request
    r2 = client.chat.completions.create(
        model=MODEL,
        messages=msgs,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}, "return_reasoning": False},
    )
    assert server.engine.recent_requests()[-1].prompt_text.endswith("<|assistant|>\n<think></think>\n")
    assert r2.choices[0].message.content == '<answer>do(action="Launch", app="Settings")</answer>'
    assert getattr(r2.choices[0].message, "reasoning_content", None) is None

    # streaming: reasoning in delta.reasoning_content, answer in delta.content
    stream = client.chat.completions.create(
        model=MODEL, messages=msgs, stream=True, extra_body={"enable_thinking": True}
    )
    reasoning = content = ""
    for c in stream:
        if c.choices:
            reasoning += getattr(c.choices[0].delta, "reasoning_content", None) or ""
            content += c.choices[0].delta.content or ""
    assert reasoning == "The home screen is visible, I open Settings."
    assert content == '<answer>do(action="Launch", app="Settings")</answer>'

    # stop sequences cut the answer
    r3 = client.chat.completions.create(model=MODEL, messages=msgs, stop=["</answer>"])
    assert r3.choices[0].message.content == '<answer>do(action="Launch", app="Settings")'


def test_langchain_chat_openai(server: EmbeddedServer, forced: str) -> None:
    from langchain_openai import ChatOpenAI

    for streaming in (True, False):
        llm = ChatOpenAI(
            model=MODEL,
            base_url=server.base_url,
            api_key="EMPTY",
            extra_body={"enable_thinking": True, "return_reasoning": True},
            streaming=streaming,
            max_retries=0,
        )
        msg = llm.invoke([("system", "You operate a phone."), ("human", "open settings")])
        assert msg.content == '<answer>do(action="Launch", app="Settings")</answer>'
    pieces = [c.content for c in llm.stream("open settings")]
    assert "".join(pieces) == '<answer>do(action="Launch", app="Settings")</answer>'  # type: ignore[arg-type]


# ----- audio -----


def test_audio_is_transcribed_into_the_prompt(
    server: EmbeddedServer, client: openai.OpenAI, paths: dict[str, Path], tmp_path: Path
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "cmd.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "open settings"], check=True, capture_output=True)
    audio = base64.b64encode(wav.read_bytes()).decode()
    r = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}],
            }
        ],  # type: ignore[list-item]
        max_tokens=4,
    )
    assert r.usage is not None and r.usage.prompt_tokens > 0
    from autoglm_agent.server.media import decode_audio

    samples, rate = decode_audio(audio, "wav", param="a", max_bytes=10**7, max_seconds=60)
    transcript = SpeechRecognizer(paths["asr"], device="cpu").transcribe(samples, rate)
    assert transcript and transcript in server.engine.recent_requests()[-1].prompt_text


# ----- errors -----


def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(
    server: EmbeddedServer, client: openai.OpenAI
) -> None:
    ok = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert_openai_error(post(server, None, raw="{not json"), 400)
    assert_openai_error(post(server, {**ok, "model": "gpt-4o"}), 404, "model_not_found")
    err = assert_openai_error(post(server, {**ok, "max_tokens": "many"}), 400)
    assert err["param"] == "max_tokens"
    assert_openai_error(post(server, {**ok, "messages": "hi"}), 400)
    assert_openai_error(post(server, {**ok, "messages": []}), 400)
    assert_openai_error(post(server, {**ok, "temperature": -1}), 400)
    assert_openai_error(post(server, {**ok, "n": 3}), 400)
    assert_openai_error(post(server, {"messages": ok["messages"]}), 400)
    bad_part = {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}
    assert_openai_error(post(server, {**ok, "messages": [bad_part]}), 400)

    def image_msg(url: str) -> dict[str, object]:
        return {
            **ok,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
        }

    assert_openai_error(post(server, image_msg("data:image/png;base64,@@@notbase64")), 400, "invalid_base64")
    garbage = "data:image/png;base64," + base64.b64encode(b"this is not an image").decode()
    assert_openai_error(post(server, image_msg(garbage)), 400, "invalid_image")
    huge = Image.new("RGB", (3000, 2000), (1, 2, 3))  # 6 MP > this server's 4 MP limit
    assert_openai_error(post(server, image_msg(data_url(huge))), 413)
    assert_openai_error(
        post(server, image_msg("https://example.com/screen.png")), 400, "remote_images_disabled"
    )
    big_body = {**ok, "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    assert_openai_error(post(server, big_body), 413, "request_too_large")

    def chunked(data: bytes) -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        for i in range(0, len(data), 256 * 1024):
            yield data[i : i + 256 * 1024]

    resp = httpx.post(
        server.base_url + "/chat/completions",
        content=chunked(json.dumps(big_body).encode()),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert_openai_error(resp, 413, "request_too_large")
    small = httpx.post(
        server.base_url + "/chat/completions",
        content=chunked(json.dumps({**ok, "max_tokens": 2}).encode()),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert small.status_code == 200, small.text
    bad_audio = {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}],
    }
    assert_openai_error(post(server, {**ok, "messages": [bad_audio]}), 400)
    assert_openai_error(httpx.get(server.url + "/v1/nothing-here"), 404)

    # the real client raises the matching exceptions
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=0
        )

    # and it still serves
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert r.choices[0].finish_reason in ("stop", "length")
    assert server.engine.stats().requests_failed == 0


def test_api_key_and_audio_without_asr(
    paths: dict[str, Path], lm: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOGLM_API_KEY", "k-123")
    with _EmbeddedServer(ServerConfig(model=paths["model"], port=0, device="cpu"), lm=lm) as srv:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        assert_openai_error(post(srv, body), 401, "invalid_api_key")
        assert_openai_error(post(srv, body, headers={"authorization": "Bearer wrong"}), 401)
        assert httpx.get(srv.base_url + "/models").status_code == 401
        assert httpx.get(srv.url + "/health").status_code == 200  # health needs no key
        good = openai.OpenAI(base_url=srv.base_url, api_key="k-123", max_retries=0)
        assert good.chat.completions.create(model=MODEL, messages=body["messages"], max_tokens=2).usage  # type: ignore[arg-type]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.base_url, api_key="EMPTY", max_retries=0).models.list()
        audio = {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}],
        }
        resp = post(srv, {**body, "messages": [audio]}, headers={"authorization": "Bearer k-123"})
        err = assert_openai_error(resp, 400)
        assert "--asr-model" in str(err["message"]) or "wav" in str(err["message"])
        wav = io.BytesIO()
        import wave

        with wave.open(wav, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(b"\x00\x00" * 1600)
        audio["content"][0]["input_audio"]["data"] = base64.b64encode(wav.getvalue()).decode()  # type: ignore[index]
        resp = post(srv, {**body, "messages": [audio]}, headers={"authorization": "Bearer k-123"})
        assert assert_openai_error(resp, 400, "audio_unsupported")


# ----- concurrency -----


def test_concurrent_requests_are_batched(server: EmbeddedServer) -> None:
    engine = server.engine
    engine.reset_stats()
    body = {"model": MODEL, "max_tokens": 8, "temperature": 0, "ignore_eos": True}

    def one(i: int) -> httpx.Response:
        msgs = user(f"task {i}: open settings", screen((i * 20, 100, 50)))
        return post(server, {**body, "messages": msgs})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        with engine.paused():  # hold admission until all 8 are queued: batching without timing luck
            futures = [pool.submit(one, i) for i in range(8)]
            deadline = time.monotonic() + 30
            while engine.stats().waiting < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert engine.stats().waiting == 8
        results = [f.result() for f in futures]
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert all(r.json()["usage"]["completion_tokens"] == 8 for r in results)
    stats = engine.stats()
    assert stats.max_batch_size_seen == 8
    assert stats.prefill_batch_sizes == {8: 1}
    assert stats.decode_batch_sizes.get(8, 0) >= 7


def test_disconnect_mid_stream_stops_generation(server: EmbeddedServer) -> None:
    engine = server.engine
    engine.reset_stats()
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "count forever"}],
        "max_tokens": 4000,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
    }
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", server.base_url + "/chat/completions", json=body) as resp,
    ):
        assert resp.status_code == 200
        lines = 0
        for line in resp.iter_lines():
            if line.startswith("data: "):
                lines += 1
            if lines >= 4:
                break
    # the connection is closed: the engine drops the row long before 4000 tokens
    deadline = time.monotonic() + 20
    while engine.stats().rows_dropped < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = engine.stats()
    assert stats.rows_dropped == 1 and stats.running == 0
    rec = engine.recent_requests()[-1]
    assert rec.cancelled and rec.completion_tokens < 4000


def test_queue_full_gives_429(paths: dict[str, Path], lm: LoadedModel) -> None:
    cfg = ServerConfig(model=paths["model"], port=0, device="cpu", max_queue_size=1, api_key="")
    with _EmbeddedServer(cfg, lm=lm) as srv:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        result: dict[str, httpx.Response] = {}
        with srv.engine.paused():
            t = threading.Thread(target=lambda: result.setdefault("first", post(srv, body)))
            t.start()
            deadline = time.monotonic() + 20
            while srv.engine.stats().waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            err = assert_openai_error(post(srv, body), 429, "queue_full")
            assert err["type"] == "rate_limit_error"
        t.join(30)
        assert result["first"].status_code == 200
        assert srv.engine.stats().rejected_queue_full == 1
    # a stopped server refuses to start requests
    assert srv.port is None
