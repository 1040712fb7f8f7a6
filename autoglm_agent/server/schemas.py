"""OpenAI-compatible request and response models of ``/v1/chat/completions`` and ``/v1/models``."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Lenient(BaseModel):
    # Clients send fields this server does not use (logprobs, user, metadata...): accept and ignore.
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ImageURL(_Lenient):
    url: str
    detail: str | None = None


class ImagePart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageURL

    @field_validator("image_url", mode="before")
    @classmethod
    def _plain_string(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v


class InputAudio(_Lenient):
    data: str
    format: Literal["wav", "mp3"] = "wav"


class AudioPart(_Lenient):
    type: Literal["input_audio"]
    input_audio: InputAudio


ContentPart = Annotated[TextPart | ImagePart | AudioPart, Field(discriminator="type")]


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    """``POST /v1/chat/completions`` body. Beyond OpenAI: ``enable_thinking``, ``return_reasoning``,
    ``chat_template_kwargs``, ``top_k``, ``ignore_eos``, ``min_tokens``, ``stop_token_ids`` (vLLM names)."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    n: int = Field(1, ge=1)
    enable_thinking: bool | None = None
    return_reasoning: bool = True
    chat_template_kwargs: dict[str, Any] | None = None
    ignore_eos: bool = False
    min_tokens: int = Field(0, ge=0)
    stop_token_ids: list[int] | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    # OpenAI parameters this server cannot honour: accepted only at their "off" values (see
    # ``unsupported``), answered 400 otherwise rather than silently ignored
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: Any = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: Any = None

    @field_validator(
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "n",
        "min_tokens",
        "frequency_penalty",
        "presence_penalty",
        "top_logprobs",
        mode="before",
    )
    @classmethod
    def _no_booleans(cls, v: Any) -> Any:
        # JSON true/false is not a number (pydantic's lax mode would read true as 1)
        if isinstance(v, bool):
            raise ValueError("must be a number, not a boolean")
        return v

    @field_validator("stop_token_ids", mode="before")
    @classmethod
    def _no_boolean_ids(cls, v: Any) -> Any:
        if isinstance(v, list) and any(isinstance(x, bool) for x in v):
            raise ValueError("token ids must be integers, not booleans")
        return v

    def unsupported(self) -> tuple[str, str] | None:
        """(param, message) of the first parameter asking for something this server cannot do."""
        if self.tools and self.tool_choice != "none":
            return (
                "tools",
                "this server does not support tool calling (tools); describe actions in the prompt",
            )
        if self.functions and self.function_call != "none":
            return "functions", "this server does not support function calling (functions)"
        if self.tool_choice not in (None, "none", "auto"):
            return "tool_choice", "this server does not support tool calling (tool_choice)"
        if self.function_call not in (None, "none", "auto"):
            return "function_call", "this server does not support function calling (function_call)"
        if self.response_format is not None:
            kind = self.response_format.get("type") if isinstance(self.response_format, dict) else None
            if kind != "text":
                shown = kind if isinstance(kind, str) else "this value"
                return (
                    "response_format",
                    f"response_format {shown[:40]!r} is not supported: this server only answers plain text",
                )
        if self.logprobs:
            return "logprobs", "this server does not return logprobs"
        if self.top_logprobs:
            return "top_logprobs", "this server does not return logprobs (top_logprobs)"
        if self.logit_bias:
            return "logit_bias", "this server does not support logit_bias"
        if self.modalities is not None and any(m != "text" for m in self.modalities):
            return "modalities", 'this server only generates text (modalities must be ["text"])'
        if self.audio is not None:
            return "audio", "this server does not generate audio"
        return None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 16:
            raise ValueError("at most 16 stop sequences")
        return v

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails | None = None


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    reasoning_content: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "autoglm-agent"
    root: str | None = None
    max_model_len: int | None = None
    #: The checkpoint's own ``agent.json``: how clients should build requests for it.
    agent_profile: dict[str, Any] | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
