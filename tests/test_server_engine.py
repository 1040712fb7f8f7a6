"""The model server's parts without HTTP: tiny checkpoints, loading, the batching engine, reasoning
splitting, media decoding, speech recognition and the vLLM command."""

from __future__ import annotations

import base64
import io
import itertools
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from autoglm_agent.errors import AutoGLMError
from autoglm_agent.server.config import ServerConfig
from autoglm_agent.server.engine import PER_TOKEN_KEYS, Engine, PreparedPrompt, SamplingParams
from autoglm_agent.server.errors import APIError, EngineClosedError, ModelLoadError, QueueFullError
from autoglm_agent.server.loading import LoadedModel, load_model
from autoglm_agent.server.media import decode_audio, load_image_url, resample
from autoglm_agent.server.reasoning import ReasoningSplitter, prompt_opens_reasoning, split_reasoning
from autoglm_agent.server.tiny import build_tiny_asr, build_tiny_glm4v
from autoglm_agent.server.vllm import build_vllm_command, mask_secrets, vllm_readme_text

# transformers' glm4v processor trips a numpy 2 deprecation warning on every call: not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_glm4v(tmp_path_factory.mktemp("tiny-glm4v"))


@pytest.fixture(scope="module")
def lm(tiny_path: Path) -> LoadedModel:
    return load_model(ServerConfig(model=tiny_path, device="cpu"))


@pytest.fixture()
def engine(lm: LoadedModel):
    eng = Engine(lm, max_batch_size=8, max_queue_size=16, batch_window_ms=5).start()
    yield eng
    eng.stop()


def screenshot(
    color: tuple[int, int, int] = (30, 120, 200), size: tuple[int, int] = (1080, 2400)
) -> Image.Image:
    img = Image.new("RGB", size, color)
    for y in range(0, size[1], 200):  # some structure, so images differ inside
        img.paste((255, 255, 255), (40, y, size[0] - 40, y + 60))
    return img


def prepare(
    lm: LoadedModel, text: str, image: Image.Image | None = None, **template: object
) -> PreparedPrompt:
    content: list[dict[str, object]] = [{"type": "image"}] if image is not None else []
    content.append({"type": "text", "text": text})
    prompt = lm.processor.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True, **template
    )
    out = lm.processor(
        text=[prompt],
        images=[image] if image is not None else None,
        return_tensors="pt",
        add_special_tokens=False,
    )
    per_token = {
        k: out[k][0] for k in out if k in PER_TOKEN_KEYS and k not in ("input_ids", "attention_mask")
    }
    per_item = {k: out[k] for k in out if k not in PER_TOKEN_KEYS}
    return PreparedPrompt(
        input_ids=out["input_ids"][0],
        per_token=per_token,
        per_item=per_item,
        prompt_text=prompt,
        num_images=int(image is not None),
    )


def reference_greedy(lm: LoadedModel, p: PreparedPrompt, n: int) -> list[int]:
    """transformers' own generate(), one request at a time."""
    kwargs = {"input_ids": p.input_ids[None], "attention_mask": torch.ones_like(p.input_ids)[None]}
    kwargs.update({k: v[None] for k, v in p.per_token.items()})
    kwargs.update(p.per_item)
    out = lm.model.generate(**kwargs, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, p.num_tokens :].tolist()


# ----- tiny checkpoint and loading -----


def test_tiny_glm4v_is_small_and_loads_through_the_server_path(tiny_path: Path, lm: LoadedModel) -> None:
    assert (tiny_path / "model.safetensors").is_file()
    assert (tiny_path / "chat_template.jinja").is_file()
    n_params = sum(p.numel() for p in lm.model.parameters())
    assert 500_000 < n_params < 5_000_000
    cfg = lm.model.config
    assert cfg.model_type == "glm4v"
    text = cfg.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    rope = text.rope_parameters
    assert sum(rope["mrope_section"]) == head_dim * rope["partial_rotary_factor"] / 2
    assert type(lm.model).__name__ == "Glm4vForConditionalGeneration"
    assert lm.supports_images
    # torchvision is absent here, so the processor is built image-only; with it, AutoProcessor loads
    try:
        import torchvision  # noqa: F401
    except ImportError:
        assert lm.image_only_processor
    # the GLM stop tokens end generation; <think>/<answer> stay in decoded text
    tok = lm.tokenizer
    assert {
        tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")
    } <= lm.eos_token_ids
    assert tok.convert_tokens_to_ids("<think>") not in lm.skip_token_ids
    assert tok.convert_tokens_to_ids("<|assistant|>") in lm.skip_token_ids


def test_image_budget_in_28px_units(lm: LoadedModel) -> None:
    p = prepare(lm, "open settings", screenshot())
    grid = p.per_item["image_grid_thw"][0].tolist()
    assert grid[1] * 14 == 476 and grid[2] * 14 == 224  # 1080x2400 -> 224x476 px
    image_tokens = int((p.input_ids == lm.model.config.image_token_id).sum())
    assert image_tokens == 136


def test_chat_template_thinking_switch(lm: LoadedModel) -> None:
    off = prepare(lm, "hi", enable_thinking=False).prompt_text
    on = prepare(lm, "hi", enable_thinking=True).prompt_text
    default = prepare(lm, "hi").prompt_text
    assert off.startswith("[gMASK]<sop><|user|>\nhi<|assistant|>")
    assert off.endswith("<|assistant|>\n<think></think>\n")
    assert on.endswith("<|assistant|>\n") and "<think>" not in on
    assert default == on


def test_image_budget_override_from_config(tiny_path: Path) -> None:
    small = load_model(ServerConfig(model=tiny_path, device="cpu", max_pixels=100_000))
    p = prepare(small, "x", screenshot(size=(1080, 2400)))
    assert int((p.input_ids == small.model.config.image_token_id).sum()) == 55  # 140x308 px


def test_missing_or_broken_model_path_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        load_model(ServerConfig(model=tmp_path / "nope"))
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, AutoGLMError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_model(ServerConfig(model=tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "glm4v"}')
    with pytest.raises(ModelLoadError) as err2:
        load_model(ServerConfig(model=broken))
    assert str(broken) in str(err2.value) and "\n" not in str(err2.value)


def test_int8_dynamic_quantization_generates(tiny_path: Path) -> None:
    q = load_model(ServerConfig(model=tiny_path, device="cpu", quantize="int8"))
    assert q.quantized
    assert "quantized" in type(q.model.lm_head).__module__
    eng = Engine(q, max_batch_size=4).start()
    try:
        res = eng.generate(
            prepare(q, "open settings", screenshot()),
            SamplingParams(max_tokens=8, temperature=0, ignore_eos=True),
        )
    finally:
        eng.stop()
    assert res.completion_tokens == 8 and res.finish_reason == "length"


def test_server_config_reads_api_key_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTOGLM_API_KEY", "sekrit")
    assert ServerConfig(model=tmp_path).api_key == "sekrit"
    monkeypatch.delenv("AUTOGLM_API_KEY")
    cfg = ServerConfig(model=tmp_path)
    assert cfg.api_key is None and cfg.host == "127.0.0.1" and cfg.served_model_name == "autoglm-phone-9b"


# ----- the engine -----


def test_continuous_batching_matches_transformers_generate(lm: LoadedModel, engine: Engine) -> None:
    prompts = [
        prepare(lm, "open settings", screenshot((200, 30, 30))),
        prepare(lm, "打开微信给张三发消息", screenshot((30, 200, 30))),
        prepare(lm, "hi"),
        prepare(lm, "take a photo", screenshot((0, 0, 200), size=(640, 480))),
        prepare(lm, "search for coffee nearby " * 4, screenshot((90, 90, 90))),
    ]
    n = 12
    refs = [reference_greedy(lm, p, n) for p in prompts]
    params = SamplingParams(max_tokens=n, temperature=0, ignore_eos=True)
    with engine.paused():  # three arrive together and are prefilled as one batch
        handles = [engine.submit(p, params) for p in prompts[:3]]
        while engine.stats().waiting < 3:
            time.sleep(0.001)
    for ev in handles[0].iter_events(timeout=60):  # the first batch is decoding; two more join it
        if ev.token_ids:
            break
    handles += [engine.submit(p, params) for p in prompts[3:]]
    got = []
    for h in handles:
        ids: list[int] = []
        for ev in h.iter_events(timeout=60):
            ids += ev.token_ids
        got.append(ids)
    # the first handle's first event was consumed above
    got[0] = refs[0][: n - len(got[0])] + got[0]
    assert got == refs
    stats = engine.stats()
    assert stats.prefill_batch_sizes.get(3) == 1
    assert stats.max_batch_size_seen >= 4
    assert len(stats.decode_batch_sizes) >= 2  # rows joined and left between steps
    assert stats.requests_finished == 5


def test_greedy_is_deterministic_and_counts_tokens(lm: LoadedModel, engine: Engine) -> None:
    p = prepare(lm, "turn on wifi", screenshot())
    params = SamplingParams(max_tokens=10, temperature=0, ignore_eos=True)
    a, b = engine.generate(p, params), engine.generate(p, params)
    assert a.token_ids == b.token_ids and a.text == b.text
    assert a.completion_tokens == 10 and a.prompt_tokens == p.num_tokens
    assert a.finish_reason == "length"
    assert a.text == lm.tokenizer.decode([t for t in a.token_ids if t not in lm.skip_token_ids])


def test_seeded_sampling_is_reproducible(lm: LoadedModel, engine: Engine) -> None:
    p = prepare(lm, "play some music")
    s1 = SamplingParams(max_tokens=16, temperature=1.0, top_p=0.9, top_k=50, seed=7, ignore_eos=True)
    a, b = engine.generate(p, s1), engine.generate(p, s1)
    c = engine.generate(p, s1.model_copy(update={"seed": 8}))
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids


def test_forced_output_stop_strings_and_multibyte_text(lm: LoadedModel, engine: Engine) -> None:
    text = '<think>当前在桌面</think><answer>do(action="Launch", app="设置")</answer>'
    engine.set_forced_output(text)
    try:
        full = engine.generate(prepare(lm, "打开设置"), SamplingParams(max_tokens=200))
        assert full.text == text and full.finish_reason == "stop"
        h = engine.submit(
            prepare(lm, "打开设置"), SamplingParams(max_tokens=200, stop=["</answer>", "never"])
        )
        pieces = [ev.text for ev in h.iter_events(timeout=30)]
        assert "".join(pieces) == text[: text.index("</answer>")]
        assert all("\ufffd" not in piece for piece in pieces)
        assert not any("</" in piece for piece in pieces[-2:])
    finally:
        engine.set_forced_output(None)


def test_cancel_drops_the_running_row(lm: LoadedModel, engine: Engine) -> None:
    h = engine.submit(prepare(lm, "hello"), SamplingParams(max_tokens=4000, temperature=0, ignore_eos=True))
    events = h.iter_events(timeout=30)
    got = 0
    for ev in events:
        got += len(ev.token_ids)
        if got >= 3:
            break
    h.cancel()
    final = list(events)[-1]
    assert final.finish_reason == "cancelled"
    assert final.completion_tokens < 4000
    stats = engine.stats()
    assert stats.rows_dropped == 1 and stats.requests_cancelled == 1 and stats.running == 0
    assert engine.recent_requests()[-1].cancelled


def test_queue_full_and_closed_engine(lm: LoadedModel) -> None:
    eng = Engine(lm, max_batch_size=2, max_queue_size=2).start()
    p = prepare(lm, "hi")
    try:
        with eng.paused():
            a = eng.submit(p, SamplingParams(max_tokens=2))
            b = eng.submit(p, SamplingParams(max_tokens=2))
            with pytest.raises(QueueFullError) as err:
                eng.submit(p, SamplingParams(max_tokens=2))
            assert err.value.status_code == 429
            assert eng.stats().rejected_queue_full == 1
        assert list(a.iter_events(timeout=30))[-1].finish_reason in ("stop", "length")
        assert list(b.iter_events(timeout=30))[-1].finish_reason in ("stop", "length")
    finally:
        eng.stop()
    with pytest.raises(EngineClosedError) as closed:
        eng.submit(p, SamplingParams(max_tokens=2))
    assert closed.value.status_code == 503


def test_prompt_longer_than_context_is_a_400(tiny_path: Path) -> None:
    small = load_model(ServerConfig(model=tiny_path, device="cpu", max_model_len=64))
    eng = Engine(small).start()
    try:
        with pytest.raises(APIError) as err:
            eng.submit(prepare(small, "a long prompt " * 40), SamplingParams(max_tokens=4))
        assert err.value.status_code == 400 and err.value.code == "context_length_exceeded"
        # max_tokens is capped by what is left of the context
        res = eng.generate(
            prepare(small, "hi"), SamplingParams(max_tokens=1000, temperature=0, ignore_eos=True)
        )
        assert res.prompt_tokens + res.completion_tokens == 64
    finally:
        eng.stop()


# ----- reasoning splitting -----


def test_split_reasoning_whole_text() -> None:
    assert split_reasoning('<think>look</think>\n<answer>do(action="Back")</answer>') == (
        "look",
        '<answer>do(action="Back")</answer>',
    )
    assert split_reasoning("no tags here") == (None, "no tags here")
    assert split_reasoning("still thinking", in_reasoning=True) == ("still thinking", "")
    assert split_reasoning("thought</think>answer", in_reasoning=True) == ("thought", "answer")
    assert split_reasoning("answer</think> tail") == (None, "answer tail")  # stray close tag dropped
    assert prompt_opens_reasoning("<|assistant|>\n<think>\n")
    assert not prompt_opens_reasoning("<|assistant|>\n<think></think>\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_streaming_split_is_independent_of_chunking(cuts: list[int]) -> None:
    text = (
        '<think>I see 设置 icon.</think>\n<answer>do(action="Tap", element=[1,2])</answer><think>x</think>y'
    )
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    s = ReasoningSplitter()
    reasoning = content = ""
    for a, b in itertools.pairwise(bounds):
        d = s.feed(text[a:b])
        reasoning += d.reasoning
        content += d.content
    d = s.finish()
    reasoning += d.reasoning
    content += d.content
    assert reasoning == "I see 设置 icon.x"
    assert content == '<answer>do(action="Tap", element=[1,2])</answer>y'


# ----- media -----


def wav_bytes(samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
        else:
            pcm = ((np.clip(samples, -1, 1) * 127) + 128).astype(np.uint8)
        if channels == 2:
            pcm = np.repeat(pcm, 2)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def test_decode_wav_formats_and_resample() -> None:
    t = np.arange(22050) / 22050
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    for width, channels in ((2, 1), (2, 2), (1, 1)):
        data = base64.b64encode(wav_bytes(tone, 22050, width, channels)).decode()
        x, rate = decode_audio(data, "wav", param="a", max_bytes=10**7, max_seconds=60)
        assert rate == 22050 and x.shape == (22050,) and x.dtype == np.float32
        assert abs(float(np.abs(x).max()) - 0.5) < 0.02
    y = resample(tone.astype(np.float32), 22050, 16000)
    assert y.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(int(spectrum.argmax()) - 440) <= 1  # the tone survives resampling


def test_bad_media_give_client_errors() -> None:
    with pytest.raises(APIError) as e1:
        decode_audio("not base64!!", "wav", param="p", max_bytes=10**6, max_seconds=10)
    assert e1.value.status_code == 400 and e1.value.code == "invalid_base64"
    with pytest.raises(APIError) as e2:
        decode_audio(
            base64.b64encode(b"RIFFjunk").decode(), "wav", param="p", max_bytes=10**6, max_seconds=10
        )
    assert e2.value.status_code == 400
    tone = base64.b64encode(wav_bytes(np.zeros(16000 * 3), 16000)).decode()
    with pytest.raises(APIError) as e3:
        decode_audio(tone, "wav", param="p", max_bytes=10**7, max_seconds=1)
    assert e3.value.status_code == 413
    if shutil.which("ffmpeg") is None:
        with pytest.raises(APIError, match="mp3 needs ffmpeg"):
            decode_audio(
                base64.b64encode(b"ID3xxxx").decode(), "mp3", param="p", max_bytes=10**6, max_seconds=10
            )
    png = io.BytesIO()
    Image.new("RGB", (3000, 2000)).save(png, "PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    with pytest.raises(APIError) as e4:
        load_image_url(url, param="p", max_bytes=10**7, max_pixels=1_000_000, allow_remote=False)
    assert e4.value.status_code == 413
    with pytest.raises(APIError) as e5:
        load_image_url(url, param="p", max_bytes=1000, max_pixels=10**8, allow_remote=False)
    assert e5.value.status_code == 413
    with pytest.raises(APIError, match="remote image URLs are refused"):
        load_image_url(
            "https://example.com/a.png", param="p", max_bytes=10**6, max_pixels=10**6, allow_remote=False
        )
    with pytest.raises(APIError, match="cannot be decoded"):
        load_image_url(
            "data:image/png;base64," + base64.b64encode(b"not a png").decode(),
            param="p",
            max_bytes=10**6,
            max_pixels=10**6,
            allow_remote=False,
        )
    assert load_image_url(url, param="p", max_bytes=10**7, max_pixels=10**7, allow_remote=False).size == (
        3000,
        2000,
    )


@pytest.mark.parametrize("kind", ["wav2vec2", "whisper"])
def test_tiny_asr_transcribes_espeak_speech(tmp_path: Path, kind: str) -> None:
    from autoglm_agent.server.asr import SpeechRecognizer

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "open settings"], check=True, capture_output=True)
    samples, rate = decode_audio(
        base64.b64encode(wav.read_bytes()).decode(), "wav", param="a", max_bytes=10**7, max_seconds=30
    )
    asr = SpeechRecognizer(build_tiny_asr(tmp_path / kind, kind=kind), device="cpu")
    text = asr.transcribe(samples, rate)
    assert isinstance(text, str) and text.strip()  # random weights: garbage, but a real transcript
    with pytest.raises(ModelLoadError):
        SpeechRecognizer(tmp_path / "missing")


# ----- vLLM / SGLang commands -----


def test_build_vllm_command() -> None:
    cmd = build_vllm_command(
        "/models/AutoGLM-Phone-9B",
        tensor_parallel_size=2,
        max_model_len=25480,
        port=8100,
        allowed_local_media_path="/data/screens",
    )
    assert cmd[:3] == ["vllm", "serve", "/models/AutoGLM-Phone-9B"]

    def flag(name: str) -> str:
        return cmd[cmd.index(name) + 1]

    assert flag("--served-model-name") == "autoglm-phone-9b"
    assert flag("--max-model-len") == "25480"
    assert flag("--port") == "8100"
    assert flag("--tensor-parallel-size") == "2"
    # the official client's serving recipe
    assert flag("--chat-template-content-format") == "string"
    assert flag("--limit-mm-per-prompt") == '{"image":10}'
    assert flag("--mm-processor-kwargs") == '{"max_pixels":5000000}'
    assert flag("--host") == "0.0.0.0"  # serving another machine is the point
    assert flag("--allowed-local-media-path") == "/data/screens"
    assert flag("--reasoning-parser") == "glm45"
    assert "--trust-remote-code" not in cmd
    sg = build_vllm_command("/m", engine="sglang", port=30000)
    assert sg[:3] == ["python", "-m", "sglang.launch_server"] and sg[sg.index("--port") + 1] == "30000"
    # the official client's SGLang recipe
    assert "--mm-enable-dp-encoder" in sg and sg[sg.index("--context-length") + 1] == "25480"
    assert sg[sg.index("--mm-process-config") + 1] == '{"image":{"max_pixels":5000000}}'
    with pytest.raises(AutoGLMError):
        build_vllm_command("/m", tensor_parallel_size=0)
    assert "--reasoning-parser glm45" in vllm_readme_text()
    with_key = build_vllm_command("/m", api_key="s3cret")
    assert with_key[with_key.index("--api-key") + 1] == "s3cret"
    assert "s3cret" not in mask_secrets(with_key) and "****" in mask_secrets(with_key)


def test_serve_dry_run_masks_the_key_and_says_where_it_listens() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "serve", "--engine", "vllm", "--model", "/models/glm",
         "--api-key", "s3cret", "--dry-run"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr
    assert "--api-key '****'" in proc.stdout or "--api-key ****" in proc.stdout
    assert "--host 0.0.0.0" in proc.stdout and "all interfaces" in proc.stderr
    local = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.cli", "serve", "--engine", "sglang", "--model", "/m",
         "--host", "127.0.0.1", "--dry-run"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert (
        local.returncode == 0 and "--host 127.0.0.1" in local.stdout and "all interfaces" not in local.stderr
    )


def test_fast_image_resize_matches_the_processor(lm: LoadedModel) -> None:
    from autoglm_agent.server.media import decode_image_bytes, image_shrinker

    shrink = image_shrinker(lm.processor.image_processor)
    assert shrink is not None and shrink(1080, 2400) == (224, 476)
    img = screenshot((200, 80, 40))
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        fast = decode_image_bytes(buf.getvalue(), param="p", max_pixels=10**8, shrink=shrink)
        slow = decode_image_bytes(buf.getvalue(), param="p", max_pixels=10**8)
        assert fast.size == (224, 476) and slow.size == (1080, 2400)
        a = lm.processor.image_processor(images=[fast], return_tensors="pt")
        b = lm.processor.image_processor(images=[slow], return_tensors="pt")
        assert a["image_grid_thw"].tolist() == b["image_grid_thw"].tolist()
        assert float((a["pixel_values"] - b["pixel_values"]).abs().mean()) < 0.05  # normalized units
    # small images are left to the processor (it grows them)
    small = io.BytesIO()
    Image.new("RGB", (50, 50)).save(small, "PNG")
    assert decode_image_bytes(small.getvalue(), param="p", max_pixels=10**8, shrink=shrink).size == (50, 50)


def test_port_in_use_and_cli_errors_are_one_line(tmp_path: Path) -> None:
    import socket
    import sys

    from autoglm_agent.server.app import EmbeddedServer
    from autoglm_agent.server.errors import ServerError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            EmbeddedServer(ServerConfig(model=tmp_path, port=port)).start()
    proc = subprocess.run(
        [sys.executable, "-m", "autoglm_agent.server", "--model", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
