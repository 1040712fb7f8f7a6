"""``ChatAutoGLM``: a LangChain ``ChatOpenAI`` for AutoGLM-style models, with the thinking exposed.

AutoGLM-Phone answers ``<think>reasoning</think><answer>ACTION</answer>``. Depending on the
server, the reasoning arrives in one of three shapes:

* a separate ``reasoning_content`` field (vLLM / SGLang with a reasoning parser, DeepSeek, the
  embedded server with ``return_reasoning``),
* a separate ``reasoning`` field (newer vLLM, OpenRouter),
* left in the text as ``<think>...</think>`` (servers without a reasoning parser, hosted APIs).

``ChatAutoGLM`` normalises all three, in ``invoke``, ``stream``, ``ainvoke`` and ``astream``:
``AIMessage.content`` holds only the answer (``<think>`` blocks removed, ``<answer>`` kept for the
action parser) and the thinking goes to ``additional_kwargs["reasoning_content"]``, which
``AIMessage.content_blocks`` also shows as a standard ``{"type": "reasoning"}`` block. When
streaming, tags split across chunks are handled by a small state machine, so no content chunk
ever shows ``<think>`` and the reasoning chunks carry the thinking as it is generated.

The request carries ``enable_thinking``, ``return_reasoning`` and
``chat_template_kwargs={"enable_thinking": ...}`` (what vLLM and SGLang read) in the body, merged
with any ``extra_body`` of your own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Literal

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.content import ReasoningContentBlock
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field, model_validator

from autoglm_agent.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "MODEL_PROVIDER",
    "ChatAutoGLM",
    "ThinkSplitter",
    "check_api_key",
    "default_api_key",
    "get_reasoning",
    "split_thinking",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_MODEL = "autoglm-phone-9b"
#: ``response_metadata["model_provider"]`` of the messages ChatAutoGLM returns; a content-block
#: translator registered under this name adds the reasoning block to ``content_blocks``.
MODEL_PROVIDER = "autoglm"
#: Reading a 3,000-token thinking answer from a busy server can take minutes; connecting must not.
#: The openai client's own timeout type: openai hands it to the HTTP library it is built on (httpx
#: before 3.0, httpx2 since), which rejects another library's timeout object.
DEFAULT_TIMEOUT = openai.Timeout(180.0, connect=10.0)
DEFAULT_MAX_RETRIES = 2

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_ANSWER_OPEN = "<answer>"
_REASONING_KEY = "reasoning_content"


def default_api_key(api_key: str | None) -> str:
    """The key a request carries: the one given, else ``$AUTOGLM_API_KEY``, ``$OPENAI_API_KEY``,
    else ``"EMPTY"`` (what OpenAI-compatible servers without a key accept).

    Raises ``ConfigError`` for a key an HTTP header cannot carry (see :func:`check_api_key`)."""
    if api_key:
        return check_api_key(api_key, "--api-key")
    for var in ("AUTOGLM_API_KEY", "OPENAI_API_KEY"):
        if value := os.environ.get(var):
            return check_api_key(value, f"${var}")
    return "EMPTY"


def check_api_key(key: str, source: str | None = None) -> str:
    """``key`` when it can travel in an ``Authorization`` header (printable ASCII), else a
    ``ConfigError`` naming ``source`` (never the key): a non-ASCII key would fail inside the HTTP
    client with a ``UnicodeEncodeError``, a line break would end the header."""
    for i, ch in enumerate(key):
        if not " " <= ch <= "~":
            what = "a non-ASCII character" if ord(ch) > 0x7E else "a control character"
            raise ConfigError(
                f"the API key{f' from {source}' if source else ''} contains {what} (character {i + 1}), which an HTTP header "
                "cannot carry",
                hint="copy the key again: API keys are printable ASCII",
            )
    return key


# --------------------------------------------------------------------------- <think> splitting
def _partial_tag_len(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of one of ``tags``."""
    best = 0
    for tag in tags:
        for n in range(min(len(tag) - 1, len(text)), best, -1):
            if text.endswith(tag[:n]):
                best = n
                break
    return best


class ThinkSplitter:
    """Incremental ``<think>`` splitter: feed text pieces, get ``(reasoning, content)`` pieces back.

    Rules (the same for a whole string and for a stream cut anywhere, even inside a tag):

    * ``<think>...</think>`` blocks go to reasoning, everything else to content;
    * an unclosed ``<think>`` runs to the end (a model cut off while thinking), unless an
      ``<answer>`` tag starts first, which then ends the thinking and stays in the content;
    * a doubled ``<think>`` inside a think block and a stray ``</think>`` in the content are dropped
      (``split_thinking``, which sees the whole text, instead makes the text before a ``</think>``
      that was never opened reasoning; a stream has already sent that text out as content);
    * whitespace around the reasoning and around the content is trimmed; several think blocks
      are joined with a newline.

    A partial tag at the end of a piece (``"<thi"``) and trailing whitespace are held back until
    the next piece shows what they are; ``flush()`` releases what is left at the end.
    """

    def __init__(self) -> None:
        self._mode: Literal["start", "think", "answer"] = "start"
        self._buf = ""
        self._fresh_think = False  # at the start of a think block: skip leading whitespace
        self._reasoning_emitted = False
        self._separator_due = False  # a second think block starts: prefix a newline
        self._content_emitted = False

    def feed(self, text: str) -> tuple[str, str]:
        """Process one piece of model output; return the reasoning and content it released."""
        self._buf += text
        reasoning: list[str] = []
        content: list[str] = []
        while self._step(reasoning, content):
            pass
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        """End of output: release what was held back (partial tags become plain text)."""
        rest, self._buf = self._buf, ""
        if self._mode == "think":
            return self._reasoning_piece(rest.rstrip()), ""
        if self._mode == "start" and not self._content_emitted:
            rest = rest.lstrip()
        return "", self._content_piece(rest.rstrip())

    # one transition of the state machine; returns False when it must wait for more text
    def _step(self, reasoning: list[str], content: list[str]) -> bool:
        buf = self._buf
        if self._mode == "start":
            s = buf if self._content_emitted else buf.lstrip()
            if not s:
                self._buf = ""
                return False
            for tag in (_THINK_OPEN, _THINK_CLOSE):
                if s.startswith(tag):
                    self._buf = s[len(tag) :]
                    if tag == _THINK_OPEN:
                        self._enter_think()
                    return True
                if tag.startswith(s):  # could still become this tag
                    self._buf = s
                    return False
            self._buf = s
            self._mode = "answer"
            return True

        if self._mode == "think":
            if self._fresh_think:
                buf = buf.lstrip()
                self._buf = buf
                if not buf:
                    return False
            tags = (_THINK_CLOSE, _ANSWER_OPEN, _THINK_OPEN)
            hit = _first_tag(buf, tags)
            if hit is not None:
                index, tag = hit
                reasoning.append(self._reasoning_piece(buf[:index].rstrip()))
                if tag == _THINK_CLOSE:
                    self._buf = buf[index + len(tag) :]
                    self._mode = "start"
                elif tag == _ANSWER_OPEN:
                    self._buf = buf[index:]
                    self._mode = "answer"
                else:  # doubled <think>: drop it, keep thinking
                    self._buf = buf[index + len(tag) :]
                return True
            keep = self._held(buf, tags)
            reasoning.append(self._reasoning_piece(buf[: len(buf) - keep]))
            self._buf = buf[len(buf) - keep :]
            return False

        # answer
        tags = (_THINK_OPEN, _THINK_CLOSE)
        hit = _first_tag(buf, tags)
        if hit is not None:
            index, tag = hit
            content.append(self._content_piece(buf[:index].rstrip()))
            self._buf = buf[index + len(tag) :]
            if tag == _THINK_OPEN:
                self._enter_think()
            else:  # a stray </think>: drop it
                self._mode = "start"
            return True
        keep = self._held(buf, tags)
        content.append(self._content_piece(buf[: len(buf) - keep]))
        self._buf = buf[len(buf) - keep :]
        return False

    @staticmethod
    def _held(buf: str, tags: tuple[str, ...]) -> int:
        """How many trailing characters to hold back: a partial tag and the whitespace before it."""
        partial = _partial_tag_len(buf, tags)
        head = buf[: len(buf) - partial]
        return partial + (len(head) - len(head.rstrip()))

    def _enter_think(self) -> None:
        self._mode = "think"
        self._fresh_think = True
        self._separator_due = self._reasoning_emitted

    def _reasoning_piece(self, text: str) -> str:
        if not text:
            return ""
        self._fresh_think = False
        if self._separator_due:
            self._separator_due = False
            text = "\n" + text
        self._reasoning_emitted = True
        return text

    def _content_piece(self, text: str) -> str:
        if not self._content_emitted:
            text = text.lstrip()
        if text:
            self._content_emitted = True
        return text


def _first_tag(text: str, tags: tuple[str, ...]) -> tuple[int, str] | None:
    found: tuple[int, str] | None = None
    for tag in tags:
        index = text.find(tag)
        if index >= 0 and (found is None or index < found[0]):
            found = (index, tag)
    return found


def split_thinking(text: str) -> tuple[str | None, str]:
    """Split model output into ``(reasoning or None, content)``; tolerant of broken tags.

    ``"<think>a</think><answer>b</answer>"`` gives ``("a", "<answer>b</answer>")``; an unclosed
    ``<think>`` is reasoning to the end (or to an ``<answer>`` tag); text without tags is all
    content; a ``</think>`` with no opening tag (templates that open the think block in the prompt)
    makes everything before it reasoning.
    """
    close = text.find(_THINK_CLOSE)
    if close >= 0 and _THINK_OPEN not in text[:close]:
        text = _THINK_OPEN + text
    splitter = ThinkSplitter()
    r1, c1 = splitter.feed(text)
    r2, c2 = splitter.flush()
    return (r1 + r2) or None, c1 + c2


def get_reasoning(message: BaseMessage) -> str | None:
    """The model's reasoning carried by a message (``AIMessage`` or merged ``AIMessageChunk``).

    Looks at ``additional_kwargs["reasoning_content"]`` / ``["reasoning"]``, then at reasoning
    content blocks, then at ``<think>`` tags left in the text. ``None`` when there is none.
    """
    kwargs = message.additional_kwargs or {}
    for key in (_REASONING_KEY, "reasoning"):
        value = kwargs.get(key)
        if isinstance(value, str) and value.strip():
            return value
    content = message.content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") in ("reasoning", "thinking"):
                value = block.get("reasoning", block.get("thinking"))
                if isinstance(value, str):
                    parts.append(value)
                elif isinstance(summary := block.get("summary"), list):  # OpenAI Responses shape
                    parts.extend(s.get("text", "") for s in summary if isinstance(s, dict))
        text = "".join(parts)
        return text if text.strip() else None
    if isinstance(content, str) and (_THINK_OPEN in content or _THINK_CLOSE in content):
        return split_thinking(content)[0]
    return None


def _raw_reasoning(fields: Mapping[str, Any] | None) -> str:
    """Reasoning text from a message or delta dict (``reasoning_content`` first, then ``reasoning``)."""
    if not fields:
        return ""
    for key in (_REASONING_KEY, "reasoning"):
        value = fields.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- content blocks
def _register_block_translator() -> None:
    """Make ``content_blocks`` of our messages start with the reasoning block.

    Messages are tagged ``model_provider="autoglm"``; the translator is OpenAI's Chat Completions
    one plus the reasoning found in ``additional_kwargs``.
    """
    try:
        from langchain_core.messages.block_translators import register_translator
        from langchain_core.messages.block_translators.openai import (
            translate_content as openai_translate,
        )
        from langchain_core.messages.block_translators.openai import (
            translate_content_chunk as openai_translate_chunk,
        )
    except ImportError:  # an older langchain-core without standard content blocks
        return

    def with_reasoning(blocks: list[Any], message: BaseMessage) -> list[Any]:
        if not any(isinstance(b, dict) and b.get("type") == "reasoning" for b in blocks):
            reasoning = _raw_reasoning(message.additional_kwargs)
            if reasoning:
                blocks = [ReasoningContentBlock(type="reasoning", reasoning=reasoning), *blocks]
        return blocks

    def translate(message: AIMessage) -> list[Any]:
        return with_reasoning(list(openai_translate(message)), message)

    def translate_chunk(message: AIMessageChunk) -> list[Any]:
        return with_reasoning(list(openai_translate_chunk(message)), message)

    register_translator(MODEL_PROVIDER, translate, translate_chunk)


_register_block_translator()


# --------------------------------------------------------------------------- the chat model
class ChatAutoGLM(ChatOpenAI):
    """``ChatOpenAI`` for AutoGLM-Phone (or any OpenAI-compatible VLM) with thinking mode.

    ``ChatAutoGLM(base_url="http://127.0.0.1:8000/v1").invoke("你是谁?")`` returns an
    ``AIMessage`` whose ``content`` is the answer and whose reasoning is in
    ``additional_kwargs["reasoning_content"]`` (see ``get_reasoning``) and in ``content_blocks``.

    Defaults suit a local server: ``base_url`` from ``AUTOGLM_BASE_URL`` or
    ``http://127.0.0.1:8000/v1``; ``api_key`` from ``AUTOGLM_API_KEY``, ``OPENAI_API_KEY`` or
    ``"EMPTY"``; ``model="autoglm-phone-9b"``; a 10 s connect / 180 s read timeout; 2 retries.
    Per call, ``enable_thinking=`` and ``return_reasoning=`` override the fields
    (``llm.invoke(msgs, enable_thinking=False)`` or ``llm.bind(enable_thinking=False)``), and
    ``send_thinking_params=False`` leaves the thinking fields out of that request.
    """

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    openai_api_base: str | None = Field(
        default_factory=lambda: os.environ.get("AUTOGLM_BASE_URL") or DEFAULT_BASE_URL, alias="base_url"
    )
    request_timeout: float | tuple[float, float] | Any | None = Field(
        default=DEFAULT_TIMEOUT, alias="timeout"
    )
    max_retries: int | None = DEFAULT_MAX_RETRIES
    stream_usage: bool | None = True

    enable_thinking: bool = True
    """Ask the model to think before answering (``enable_thinking`` + ``chat_template_kwargs``)."""
    return_reasoning: bool = True
    """Ask the server to return the thinking (separately when it can)."""
    send_thinking_params: bool = True
    """Send the three thinking fields at all; turn off for a hosted API that rejects unknown fields."""

    @model_validator(mode="before")
    @classmethod
    def _default_api_key(cls, values: Any) -> Any:
        if (
            isinstance(values, dict)
            and values.get("api_key") is None
            and values.get("openai_api_key") is None
        ):
            values = {k: v for k, v in values.items() if k not in ("api_key", "openai_api_key")}
            values["api_key"] = default_api_key(None)
        elif isinstance(values, dict):
            for field in ("api_key", "openai_api_key"):
                key = values.get(field)
                if isinstance(key, str):
                    check_api_key(key)
        return values

    @property
    def _llm_type(self) -> str:
        return "autoglm-chat"

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["autoglm_agent", "llm"]

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = MODEL_PROVIDER
        return params

    # ----------------------------------------------------------------- request
    def _thinking_body(self, enable_thinking: bool, return_reasoning: bool) -> dict[str, Any]:
        if not self.send_thinking_params:
            return {}
        return {
            "enable_thinking": enable_thinking,
            "return_reasoning": return_reasoning,
            "chat_template_kwargs": {"enable_thinking": enable_thinking},
        }

    @property
    def _default_params(self) -> dict[str, Any]:
        params = super()._default_params
        body = _deep_merge(self._thinking_body(self.enable_thinking, self.return_reasoning), self.extra_body)
        if body:
            params["extra_body"] = body
        return params

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict:
        enable = kwargs.pop("enable_thinking", None)
        ret = kwargs.pop("return_reasoning", None)
        send = kwargs.pop("send_thinking_params", None)
        call_body = kwargs.pop("extra_body", None)
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        body = dict(payload.get("extra_body") or {})
        if send is False:  # this request carries no thinking fields (what some models were trained with)
            for key in self._thinking_body(True, True):
                if key not in (self.extra_body or {}):
                    body.pop(key, None)
        if enable is not None or ret is not None:
            body = _deep_merge(
                body,
                self._thinking_body(
                    self.enable_thinking if enable is None else bool(enable),
                    self.return_reasoning if ret is None else bool(ret),
                ),
            )
        body = _deep_merge(body, call_body)
        if body:
            payload["extra_body"] = body
        else:
            payload.pop("extra_body", None)
        # ``max_tokens`` is what every OpenAI-compatible server knows; ChatOpenAI renames it to
        # ``max_completion_tokens``, which older vLLM / SGLang builds ignore.
        if "max_completion_tokens" in payload and "max_tokens" not in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    # ----------------------------------------------------------------- non-streaming
    def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        if isinstance(response, dict):
            raw_choices = response.get("choices") or []
        else:
            raw_choices = [
                choice.model_dump() if hasattr(choice, "model_dump") else {}
                for choice in (getattr(response, "choices", None) or [])
            ]
        for index, generation in enumerate(result.generations):
            message = generation.message
            if not isinstance(message, AIMessage):
                continue
            raw = raw_choices[index].get("message") if index < len(raw_choices) else None
            field_reasoning = _raw_reasoning(raw)
            tag_reasoning: str | None = None
            if isinstance(message.content, str):
                tag_reasoning, message.content = split_thinking(message.content)
            reasoning = "\n".join(r for r in (field_reasoning, tag_reasoning) if r)
            if reasoning:
                message.additional_kwargs[_REASONING_KEY] = reasoning
            message.response_metadata["model_provider"] = MODEL_PROVIDER
        if result.llm_output is not None:
            result.llm_output["model_provider"] = MODEL_PROVIDER
        return result

    # ----------------------------------------------------------------- streaming
    def _convert_chunk_to_generation_chunk(
        self, chunk: dict, default_chunk_class: type, base_generation_info: dict | None
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation is None or not isinstance(generation.message, AIMessageChunk):
            return generation
        choices = chunk.get("choices") or chunk.get("chunk", {}).get("choices") or []
        delta = choices[0].get("delta") if choices else None
        if reasoning := _raw_reasoning(delta):
            generation.message.additional_kwargs[_REASONING_KEY] = reasoning
        return generation

    @staticmethod
    def _split_chunk(generation: ChatGenerationChunk, splitter: ThinkSplitter) -> ChatGenerationChunk:
        message = generation.message
        if not isinstance(message, AIMessageChunk):
            return generation
        reasoning = message.additional_kwargs.pop(_REASONING_KEY, "") or ""
        if isinstance(message.content, str):
            tag_reasoning, message.content = splitter.feed(message.content)
            reasoning += tag_reasoning
        if reasoning:
            message.additional_kwargs[_REASONING_KEY] = reasoning
        message.response_metadata["model_provider"] = MODEL_PROVIDER
        # ChatGenerationChunk caches the text of its message when built
        return ChatGenerationChunk(message=message, generation_info=generation.generation_info)

    @staticmethod
    def _flush_chunk(splitter: ThinkSplitter) -> ChatGenerationChunk | None:
        reasoning, content = splitter.flush()
        if not reasoning and not content:
            return None
        kwargs = {_REASONING_KEY: reasoning} if reasoning else {}
        message = AIMessageChunk(
            content=content, additional_kwargs=kwargs, response_metadata={"model_provider": MODEL_PROVIDER}
        )
        return ChatGenerationChunk(message=message)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The parent would report raw tokens (with <think>) to the callbacks: report ours instead.
        splitter = ThinkSplitter()
        for raw in super()._stream(messages, stop=stop, run_manager=None, **kwargs):
            generation = self._split_chunk(raw, splitter)
            if run_manager:
                run_manager.on_llm_new_token(generation.text, chunk=generation)
            yield generation
        if (last := self._flush_chunk(splitter)) is not None:
            if run_manager:
                run_manager.on_llm_new_token(last.text, chunk=last)
            yield last

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        splitter = ThinkSplitter()
        async for raw in super()._astream(messages, stop=stop, run_manager=None, **kwargs):
            generation = self._split_chunk(raw, splitter)
            if run_manager:
                await run_manager.on_llm_new_token(generation.text, chunk=generation)
            yield generation
        if (last := self._flush_chunk(splitter)) is not None:
            if run_manager:
                await run_manager.on_llm_new_token(last.text, chunk=last)
            yield last
