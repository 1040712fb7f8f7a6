"""ChatAutoGLM and the multimodal helpers against the scripted endpoint (real HTTP, real openai client)."""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from PIL import Image

from autoglm_agent.errors import ConfigError
from autoglm_agent.llm import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    ChatAutoGLM,
    ThinkSplitter,
    get_reasoning,
    split_thinking,
)
from autoglm_agent.multimodal import (
    DEFAULT_IMAGE_MAX_PIXELS,
    audio_part,
    fit_to_budget,
    image_part,
    sniff_audio_format,
    user_message,
)
from autoglm_agent.testing import ScriptedEndpoint, ScriptedError

THINKING = "I see the home screen; Settings is not open yet."
ANSWER = '<answer>do(action="Launch", app="Settings")</answer>'
REPLY = f"<think>{THINKING}</think>{ANSWER}"
MODES = ["field", "tags"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "AUTOGLM_API_KEY",
        "AUTOGLM_BASE_URL",
        "OPENAI_API_BASE",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def llm_for(ep: ScriptedEndpoint, **kwargs: Any) -> ChatAutoGLM:
    return ChatAutoGLM(base_url=ep.base_url, max_retries=0, **kwargs)


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def assert_clean_chunks(chunks: list[AIMessageChunk]) -> None:
    for chunk in chunks:
        assert isinstance(chunk.content, str)
        assert "<think>" not in chunk.content
        assert "</think>" not in chunk.content
        reasoning = chunk.additional_kwargs.get("reasoning_content", "")
        assert "<think>" not in reasoning
        assert "</think>" not in reasoning


# --------------------------------------------------------------------------- split_thinking
@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        (REPLY, THINKING, ANSWER),
        ("  <think>\n a \n</think>\n\n<answer>x</answer>\n", "a", "<answer>x</answer>"),
        ("<think>cut off while thin", "cut off while thin", ""),
        (
            '<think>no close<answer>do(action="Back")</answer>',
            "no close",
            '<answer>do(action="Back")</answer>',
        ),
        ("plain answer", None, "plain answer"),
        ("opened in the prompt</think><answer>x</answer>", "opened in the prompt", "<answer>x</answer>"),
        ("<think><think>doubled</think></think>ans</answer>", "doubled", "ans</answer>"),
        ("<think>a</think>b<think>c</think>d", "a\nc", "bd"),
        ("<think></think>answer", None, "answer"),
        ("<thi", None, "<thi"),
        ("", None, ""),
    ],
)
def test_split_thinking(text: str, reasoning: str | None, content: str) -> None:
    assert split_thinking(text) == (reasoning, content)


_ALPHABET = st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "<", ">", "/", "t", "hi", "nk", " ", "\n", "x", "中"]
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_ALPHABET, max_size=30), cuts=st.lists(st.integers(1, 6), min_size=1, max_size=40))
def test_think_splitter_gives_the_same_split_however_the_stream_is_cut(
    parts: list[str], cuts: list[int]
) -> None:
    text = "".join(parts)
    whole = ThinkSplitter()
    r1, c1 = whole.feed(text)
    r2, c2 = whole.flush()
    streamed = ThinkSplitter()
    reasoning, content = [], []
    pos, i = 0, 0
    while pos < len(text):
        piece = text[pos : pos + cuts[i % len(cuts)]]
        pos += len(piece)
        i += 1
        r, c = streamed.feed(piece)
        reasoning.append(r)
        content.append(c)
        assert "<think>" not in c and "</think>" not in c
        assert "<think>" not in r and "</think>" not in r
    r, c = streamed.flush()
    reasoning.append(r)
    content.append(c)
    assert ("".join(reasoning), "".join(content)) == (r1 + r2, c1 + c2)


def test_get_reasoning_shapes() -> None:
    assert get_reasoning(AIMessage(content="x", additional_kwargs={"reasoning_content": "r"})) == "r"
    assert get_reasoning(AIMessage(content="x", additional_kwargs={"reasoning": "r2"})) == "r2"
    blocks = AIMessage(content=[{"type": "reasoning", "reasoning": "r3"}, {"type": "text", "text": "x"}])
    assert get_reasoning(blocks) == "r3"
    assert get_reasoning(AIMessage(content=REPLY)) == THINKING
    assert get_reasoning(AIMessage(content="no thinking")) is None
    assert get_reasoning(AIMessage(content="x", additional_kwargs={"reasoning_content": "  "})) is None
    assert get_reasoning(HumanMessage(content="hi")) is None


# --------------------------------------------------------------------------- defaults and request body
def test_defaults_suit_a_local_server() -> None:
    llm = ChatAutoGLM()
    assert llm.openai_api_base == DEFAULT_BASE_URL == "http://127.0.0.1:8000/v1"
    assert llm.model_name == DEFAULT_MODEL == "autoglm-phone-9b"
    assert llm.openai_api_key is not None
    assert llm.openai_api_key.get_secret_value() == "EMPTY"  # type: ignore[union-attr]
    assert isinstance(llm.request_timeout, openai.Timeout)
    assert llm.request_timeout.connect == 10.0
    assert llm.request_timeout.read == 180.0
    assert llm.max_retries == 2
    assert llm.enable_thinking is True
    assert llm.return_reasoning is True


def test_environment_supplies_base_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGLM_BASE_URL", "http://10.0.0.2:30000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-env")
    llm = ChatAutoGLM()
    assert llm.openai_api_base == "http://10.0.0.2:30000/v1"
    assert llm.openai_api_key.get_secret_value() == "from-openai-env"  # type: ignore[union-attr]
    monkeypatch.setenv("AUTOGLM_API_KEY", "from-autoglm-env")
    assert ChatAutoGLM().openai_api_key.get_secret_value() == "from-autoglm-env"  # type: ignore[union-attr]
    assert ChatAutoGLM(api_key="explicit").openai_api_key.get_secret_value() == "explicit"  # type: ignore[union-attr]


def test_thinking_fields_are_sent_and_user_extra_body_is_preserved() -> None:
    with ScriptedEndpoint([REPLY] * 5) as ep:
        llm = llm_for(ep, extra_body={"top_k": 5, "chat_template_kwargs": {"custom": 1}}, max_tokens=300)
        llm.invoke("hi")
        body = ep.requests[-1]
        assert body["enable_thinking"] is True
        assert body["return_reasoning"] is True
        assert body["chat_template_kwargs"] == {"enable_thinking": True, "custom": 1}
        assert body["top_k"] == 5
        assert body["max_tokens"] == 300
        assert "max_completion_tokens" not in body
        assert body["model"] == "autoglm-phone-9b"

        # per call: thinking switched off, and a call-level extra_body merged on top
        message = llm.invoke("hi", enable_thinking=False, extra_body={"repetition_penalty": 1.1})
        body = ep.requests[-1]
        assert body["enable_thinking"] is False
        assert body["chat_template_kwargs"] == {"enable_thinking": False, "custom": 1}
        assert body["repetition_penalty"] == 1.1
        assert body["top_k"] == 5
        # the server no longer splits, ChatAutoGLM still does
        assert message.content == ANSWER
        assert get_reasoning(message) == THINKING

        llm.bind(return_reasoning=False).invoke("hi")
        assert ep.requests[-1]["return_reasoning"] is False
        assert ep.requests[-1]["enable_thinking"] is True

        llm_for(ep, enable_thinking=False).invoke("hi")
        assert ep.requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}

        llm_for(ep, send_thinking_params=False).invoke("hi")
        body = ep.requests[-1]
        assert not {"enable_thinking", "return_reasoning", "chat_template_kwargs"} & body.keys()


# --------------------------------------------------------------------------- invoke / stream / async
@pytest.mark.parametrize("mode", MODES)
def test_invoke_splits_reasoning_from_content(mode: str) -> None:
    with ScriptedEndpoint([REPLY], reasoning_mode=mode) as ep:  # type: ignore[arg-type]
        message = llm_for(ep).invoke("你是谁?")
    assert isinstance(message, AIMessage)
    assert message.content == ANSWER
    assert message.additional_kwargs["reasoning_content"] == THINKING
    assert get_reasoning(message) == THINKING
    assert message.content_blocks == [
        {"type": "reasoning", "reasoning": THINKING},
        {"type": "text", "text": ANSWER},
    ]
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] > 0
    assert message.response_metadata["model_name"] == "autoglm-phone-9b"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_stream_never_shows_tags_and_streams_the_reasoning(mode: str, chunk_size: int) -> None:
    with ScriptedEndpoint([REPLY], reasoning_mode=mode, chunk_size=chunk_size) as ep:  # type: ignore[arg-type]
        chunks = list(llm_for(ep).stream("open settings"))
    assert_clean_chunks(chunks)
    pieces = [
        c.additional_kwargs["reasoning_content"]
        for c in chunks
        if c.additional_kwargs.get("reasoning_content")
    ]
    assert len(pieces) >= len(THINKING) // (2 * chunk_size)  # the reasoning arrives piece by piece
    total = merged(chunks)
    assert total.content == ANSWER
    assert get_reasoning(total) == THINKING
    assert total.content_blocks[0] == {"type": "reasoning", "reasoning": THINKING}
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("mode", MODES)
def test_streaming_invoke_and_async_paths(mode: str) -> None:
    with ScriptedEndpoint([REPLY] * 3, reasoning_mode=mode, chunk_size=2) as ep:  # type: ignore[arg-type]
        streamed_invoke = llm_for(ep, streaming=True).invoke("x")

        async def run() -> tuple[BaseMessage, list[AIMessageChunk]]:
            llm = llm_for(ep)
            message = await llm.ainvoke("x")
            chunks = [chunk async for chunk in llm.astream("x")]
            return message, chunks

        amessage, achunks = asyncio.run(run())
    for message in (streamed_invoke, amessage, merged(achunks)):
        assert message.content == ANSWER
        assert get_reasoning(message) == THINKING
    assert_clean_chunks(achunks)
    assert [b["type"] for b in streamed_invoke.content_blocks] == ["reasoning", "text"]


def test_reasoning_field_named_reasoning_is_understood() -> None:
    with ScriptedEndpoint([REPLY, REPLY], reasoning_field="reasoning", chunk_size=4) as ep:
        llm = llm_for(ep)
        assert get_reasoning(llm.invoke("x")) == THINKING
        assert get_reasoning(merged(list(llm.stream("x")))) == THINKING


def test_tolerant_outputs_through_the_model() -> None:
    replies = [
        "<think>unclosed thinking",
        "just an answer",
        '<think>a</think>\n<answer>do(action="Back")</answer>',
    ]
    with ScriptedEndpoint(replies * 2, reasoning_mode="tags", chunk_size=3) as ep:
        llm = llm_for(ep)
        results = [llm.invoke("x") for _ in replies]
        streamed = [merged(list(llm.stream("x"))) for _ in replies]
    for got in (results, streamed):
        assert [(get_reasoning(m), m.content) for m in got] == [
            ("unclosed thinking", ""),
            (None, "just an answer"),
            ("a", '<answer>do(action="Back")</answer>'),
        ]


def test_callbacks_see_clean_tokens() -> None:
    class Collect(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

    collect = Collect()
    with ScriptedEndpoint([REPLY], reasoning_mode="tags", chunk_size=2) as ep:
        list(llm_for(ep).stream("x", config={"callbacks": [collect]}))
    assert "".join(collect.tokens) == ANSWER
    assert all("<" + "think" not in t and "think>" not in t for t in collect.tokens)


def test_history_round_trip_sends_the_answer_without_reasoning() -> None:
    with ScriptedEndpoint([REPLY, REPLY]) as ep:
        llm = llm_for(ep)
        first = llm.invoke("step 1")
        llm.invoke([HumanMessage("step 1"), first, HumanMessage("step 2")])
    sent = ep.requests[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": ANSWER}


def test_output_version_v1_gives_standard_blocks_and_replays_cleanly() -> None:
    with ScriptedEndpoint([REPLY] * 3, reasoning_mode="tags", chunk_size=3) as ep:
        llm = llm_for(ep, output_version="v1")
        message = llm.invoke("step 1")
        streamed = merged(list(llm.stream("step 1")))
        llm.invoke([HumanMessage("step 1"), message, HumanMessage("step 2")])
    assert message.content == [
        {"type": "reasoning", "reasoning": THINKING},
        {"type": "text", "text": ANSWER},
    ]
    assert get_reasoning(message) == THINKING
    assert get_reasoning(streamed) == THINKING
    assert [b["type"] for b in streamed.content_blocks] == ["reasoning", "text"]
    # the reasoning block is not sent back to the model
    assert ep.requests[-1]["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": ANSWER}],
    }


# --------------------------------------------------------------------------- errors
def test_api_key_enforcement() -> None:
    with ScriptedEndpoint([REPLY, REPLY], api_key="sekrit") as ep:
        with pytest.raises(openai.AuthenticationError) as info:
            llm_for(ep).invoke("x")  # default key "EMPTY"
        assert info.value.status_code == 401
        assert llm_for(ep, api_key="sekrit").invoke("x").content == ANSWER
    with ScriptedEndpoint([REPLY], api_key="EMPTY") as ep:
        assert llm_for(ep).invoke("x").content == ANSWER


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("streaming", [False, True])
def test_server_errors_surface_after_the_retries(status: int, streaming: bool) -> None:
    errors = [ScriptedError(status, f"backend failed with {status}", retry_after_s=0.01)] * 2
    with ScriptedEndpoint(errors) as ep:
        llm = ChatAutoGLM(base_url=ep.base_url, max_retries=1, streaming=streaming)
        with pytest.raises(openai.APIStatusError, match=f"backend failed with {status}") as info:
            llm.invoke("x")
    assert info.value.status_code == status
    assert len(ep.requests) == 2  # one try + one retry


def test_a_transient_error_is_retried_to_success() -> None:
    with ScriptedEndpoint([ScriptedError(503, "loading"), REPLY]) as ep:  # the client's own backoff
        message = ChatAutoGLM(base_url=ep.base_url, max_retries=1).invoke("x")
    assert message.content == ANSWER
    assert len(ep.requests) == 2


def test_unreachable_endpoint_fails_fast() -> None:
    with ScriptedEndpoint() as ep:
        url = ep.base_url
    with pytest.raises(openai.APIConnectionError):
        ChatAutoGLM(base_url=url, max_retries=0).invoke("x")


# --------------------------------------------------------------------------- multimodal
def _screenshot(width: int = 1080, height: int = 2400) -> Image.Image:
    img = Image.new("RGBA", (width, height), (30, 120, 200, 255))
    for y in range(0, height, 100):
        img.paste((250, 250, 250, 255), (0, y, width, y + 20))
    return img


def _decode(part: dict[str, Any]) -> Image.Image:
    url = part["image_url"]["url"]
    header, data = url.split(",", 1)
    assert header in ("data:image/jpeg;base64", "data:image/png;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_image_part_fits_a_phone_screenshot_into_the_budget() -> None:
    part = image_part(_screenshot())
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    img = _decode(part)
    assert img.format == "JPEG"
    assert img.size == (672, 1484)
    assert img.width % 28 == 0 and img.height % 28 == 0
    assert img.width * img.height <= DEFAULT_IMAGE_MAX_PIXELS
    assert abs(img.width / img.height - 1080 / 2400) < 0.01


def test_image_part_never_upscales_and_honours_options(tmp_path: Path) -> None:
    small = _screenshot(300, 200)
    assert _decode(image_part(small)).size == (300, 200)
    png = _decode(image_part(small, format="png"))
    assert png.format == "PNG"
    assert png.size == (300, 200)
    assert _decode(image_part(_screenshot(), max_pixels=None)).size == (1080, 2400)
    tiny = _decode(image_part(_screenshot(), max_pixels=140 * 308))
    assert tiny.size == (140, 308)
    path = tmp_path / "shot.png"
    small.save(path)
    assert _decode(image_part(path)).size == (300, 200)
    assert _decode(image_part(path.read_bytes())).size == (300, 200)
    assert fit_to_budget(28, 5000, 28 * 28 * 10) == (28, 280)  # a side at the 28 px floor
    with pytest.raises(ConfigError, match="below one image token"):
        image_part(_screenshot(), max_pixels=100)
    with pytest.raises(ConfigError, match="quality"):
        image_part(small, quality=0)
    with pytest.raises(ConfigError, match="cannot read image"):
        image_part(b"not an image")
    with pytest.raises(ConfigError, match="not found"):
        image_part(tmp_path / "missing.png")


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("audio") / "hello.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "open the settings"], check=True, capture_output=True, timeout=30
    )
    return path


def test_audio_part_sniffs_and_rejects(speech_wav: Path, tmp_path: Path) -> None:
    data = speech_wav.read_bytes()
    part = audio_part(speech_wav)
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "wav"
    assert base64.b64decode(part["input_audio"]["data"]) == data
    assert audio_part(data) == part
    assert audio_part(str(speech_wav), format="WAV") == part

    mp3_frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(100)
    assert sniff_audio_format(mp3_frame) == "mp3"
    assert sniff_audio_format(b"ID3\x04\x00\x00\x00\x00\x00\x00" + mp3_frame) == "mp3"
    assert audio_part(mp3_frame)["input_audio"]["format"] == "mp3"
    assert sniff_audio_format(b"fLaC\x00\x00\x00\x22") is None

    with pytest.raises(ConfigError, match="not found"):
        audio_part(tmp_path / "missing.wav")
    with pytest.raises(ConfigError, match="cannot read"):
        audio_part(tmp_path)  # a directory
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        audio_part(tmp_path / "empty.wav")
    (tmp_path / "voice.flac").write_bytes(b"fLaC" + bytes(64))
    with pytest.raises(ConfigError, match="neither WAV nor MP3"):
        audio_part(tmp_path / "voice.flac")
    with pytest.raises(ConfigError, match="unsupported audio format"):
        audio_part(data, format="ogg")
    with pytest.raises(ConfigError, match="looks like wav"):
        audio_part(data, format="mp3")


def test_image_and_audio_arrive_intact(speech_wav: Path) -> None:
    shot = _screenshot()
    message = user_message("Open the settings", image=shot, audio=speech_wav, max_pixels=224 * 476)
    assert user_message("text only").content == "text only"
    assert isinstance(message.content, list)
    image, audio, text = message.content
    assert text == {"type": "text", "text": "Open the settings"}
    with ScriptedEndpoint([REPLY]) as ep:
        assert llm_for(ep).invoke([message]).content == ANSWER
    sent = ep.requests[-1]["messages"][-1]
    assert sent["role"] == "user"
    assert sent["content"] == [image, audio, text]
    assert _decode(sent["content"][0]).size == (224, 476)
    assert base64.b64decode(sent["content"][1]["input_audio"]["data"]) == speech_wav.read_bytes()


def test_a_stall_mid_stream_is_an_openai_timeout() -> None:
    """The agent classifies endpoint failures by the openai client's own exception types only
    (never by the HTTP library under it, which changed from httpx to httpx2 in openai 3)."""
    stalled = "<think>" + "thinking " * 30 + "</think><answer>finish(message='x')"
    with ScriptedEndpoint([stalled], delay_s=2.0) as ep:
        llm = ChatAutoGLM(base_url=ep.base_url, max_retries=0, timeout=1.0)
        with pytest.raises(openai.APITimeoutError):
            for _ in llm.stream("hi"):
                pass
