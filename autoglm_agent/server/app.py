"""The OpenAI-compatible HTTP server (FastAPI + uvicorn) over the batching engine.

Endpoints: ``POST /v1/chat/completions`` (SSE streaming or JSON), ``GET /v1/models``,
``GET /health`` and ``GET /stats`` (engine counters). Every error is an OpenAI error object; bad
input never gives a 500.

``serve(config)`` blocks; ``EmbeddedServer(config)`` runs uvicorn in a thread on a free port for
the CLI, notebooks and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from autoglm_agent.server.asr import SpeechRecognizer
from autoglm_agent.server.config import ServerConfig
from autoglm_agent.server.engine import (
    PER_TOKEN_KEYS,
    Engine,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
)
from autoglm_agent.server.errors import APIError, ServerError, bad_request, clip, exc_text
from autoglm_agent.server.loading import LoadedModel, load_model
from autoglm_agent.server.media import (
    MediaBudget,
    Shrinker,
    decode_audio,
    image_shrinker,
    load_image_url,
)
from autoglm_agent.server.reasoning import ReasoningSplitter, prompt_opens_reasoning, split_reasoning
from autoglm_agent.server.schemas import (
    AudioPart,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    CompletionTokensDetails,
    Delta,
    ImagePart,
    ModelCard,
    ModelList,
    ResponseMessage,
    TextPart,
    Usage,
)

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    """What the request handlers share."""

    config: ServerConfig
    lm: LoadedModel
    engine: Engine
    asr: SpeechRecognizer | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    shrink: Shrinker | None = None
    preprocess_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    #: The checkpoint's ``agent.json`` (opaque to the server), advertised in its model card so
    #: that clients use the request format the checkpoint was trained on.
    agent_profile: dict[str, Any] | None = None


def model_shrinker(lm: LoadedModel, config: ServerConfig) -> Shrinker | None:
    """The fast screenshot resizer for ``lm``'s image processor, when the config asks for it."""
    ip = getattr(lm.processor, "image_processor", None)
    return image_shrinker(ip) if (ip is not None and config.fast_image_resize) else None


def build_state(config: ServerConfig, *, lm: LoadedModel | None = None) -> ServerState:
    """Load the model (and the ASR model) and start the engine; raises ``ModelLoadError``."""
    lm = lm or load_model(config)
    asr = SpeechRecognizer(config.asr_model, device=config.device) if config.asr_model else None
    engine = Engine(
        lm,
        max_batch_size=config.max_batch_size,
        max_queue_size=config.max_queue_size,
        batch_window_ms=config.batch_window_ms,
        max_prefill_tokens=config.max_prefill_tokens,
        max_new_tokens=config.max_new_tokens,
        torch_threads=config.torch_threads or lm.torch_threads,
    ).start()
    agent_profile = read_agent_file(lm.path)
    return ServerState(
        config=config,
        lm=lm,
        engine=engine,
        asr=asr,
        shrink=model_shrinker(lm, config),
        preprocess_slots=asyncio.Semaphore(config.preprocess_workers),
        agent_profile=agent_profile,
    )


def read_agent_file(path: Any) -> dict[str, Any] | None:
    """The JSON object in ``path/agent.json``, or None (absent or unreadable: a warning, no failure)."""
    file = Path(path) / "agent.json"
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", file, exc)
        return None
    if not isinstance(data, dict):
        log.warning("ignoring %s: not a JSON object", file)
        return None
    return data


def _error_response(err: APIError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status_code == 401 else None
    return JSONResponse(err.to_dict(), status_code=err.status_code, headers=headers)


class BodyLimitMiddleware:
    """413 for request bodies over the limit (by Content-Length, or counted while reading)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = APIError(
            413,
            f"the request body is larger than the server's limit of {self.max_bytes} bytes",
            code="request_too_large",
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = 0
                if size > self.max_bytes:
                    await _error_response(too_big)(scope, receive, send)
                    return
        # No (or a small) Content-Length, e.g. a chunked upload: read the body here, counting, so that
        # an oversized one is answered 413 before the app sees it, then replay it to the app.
        messages: list[dict[str, Any]] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await _error_response(too_big)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


def _authorized(header: str, api_key: str) -> bool:
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("latin-1", "replace"), api_key.encode("ascii")
    )


def _auth_error() -> APIError:
    return APIError(
        401,
        "missing or wrong API key: send 'Authorization: Bearer KEY'",
        type="invalid_request_error",
        code="invalid_api_key",
    )


class AuthMiddleware:
    """401 for ``/v1`` and ``/stats`` requests without the API key, before any body is read or parsed."""

    def __init__(self, app: ASGIApp, api_key: str | None):
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api_key and scope["type"] == "http":
            path = str(scope.get("path", ""))
            if path != "/health":
                header = ""
                for name, value in scope.get("headers", []):
                    if name == b"authorization":
                        header = value.decode("latin-1")
                        break
                if not _authorized(header, self.api_key):
                    await _error_response(_auth_error())(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "the request body is not valid JSON", None
    if not errors:
        return "the request body is invalid", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing":
        msg = "this field is required"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return (f"{param}: {msg}{more}" if param else f"{msg}{more}"), param


def create_app(state: ServerState) -> FastAPI:
    """The FastAPI application over a ready ``ServerState``."""
    config = state.config
    app = FastAPI(title="autoglm-agent model server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _error_response(APIError(400, message, param=param, code="invalid_request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return _error_response(APIError(exc.status_code, str(exc.detail), code=code))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error_response(
            APIError(500, f"internal server error: {type(exc).__name__}", type="server_error")
        )

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_request_bytes)
    # added last, so outermost: a request without the key is refused before its body is read
    app.add_middleware(AuthMiddleware, api_key=config.api_key)

    def check_auth(request: Request) -> None:
        if config.api_key and not _authorized(request.headers.get("authorization", ""), config.api_key):
            raise _auth_error()

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = state.engine.running
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "model": config.served_model_name},
            status_code=200 if ok else 503,
        )

    @app.get("/stats")
    async def stats(request: Request) -> JSONResponse:
        check_auth(request)
        return JSONResponse(state.engine.stats().model_dump())

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        check_auth(request)
        card = ModelCard(
            id=config.served_model_name,
            created=state.created,
            root=str(state.lm.path),
            max_model_len=state.lm.max_model_len,
            agent_profile=state.agent_profile,
        )
        return JSONResponse(ModelList(data=[card]).model_dump(exclude_none=True))

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str, request: Request) -> JSONResponse:
        check_auth(request)
        if model_id != config.served_model_name:
            raise _unknown_model(model_id, config.served_model_name)
        card = ModelCard(
            id=model_id,
            created=state.created,
            root=str(state.lm.path),
            max_model_len=state.lm.max_model_len,
            agent_profile=state.agent_profile,
        )
        return JSONResponse(card.model_dump(exclude_none=True))

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatCompletionRequest, request: Request
    ) -> JSONResponse | StreamingResponse:
        check_auth(request)
        if body.model != config.served_model_name:
            raise _unknown_model(body.model, config.served_model_name)
        if body.n != 1:
            raise bad_request("this server generates one choice per request (n must be 1)", param="n")
        refused = body.unsupported()
        if refused is not None:
            raise bad_request(refused[1], param=refused[0], code="unsupported_parameter")
        params = _sampling_params(state, body)
        if has_media(body):
            # bounded: decoding images and audio must not starve the engine thread
            async with state.preprocess_slots:
                prompt = await run_in_threadpool(prepare_prompt, state, body)
        else:  # text only: never queued behind media decoding
            prompt = await run_in_threadpool(prepare_prompt, state, body)
        loop = asyncio.get_running_loop()
        handle = state.engine.submit(prompt, params, loop)
        in_reasoning = prompt_opens_reasoning(prompt.prompt_text)
        request_id = f"chatcmpl-{handle.id}"
        if body.stream:
            return StreamingResponse(
                _stream(state, body, handle.events(), request_id, in_reasoning),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await _complete(state, body, handle, request, request_id, in_reasoning)

    return app


def has_media(body: ChatCompletionRequest) -> bool:
    """Whether a request has image or audio parts (text-only requests skip the media slots)."""
    return any(
        isinstance(part, ImagePart | AudioPart)
        for msg in body.messages
        if isinstance(msg.content, list)
        for part in msg.content
    )


def _unknown_model(name: str, served: str) -> APIError:
    return APIError(
        404,
        f"the model {clip(name)!r} does not exist on this server; it serves {served!r}",
        code="model_not_found",
        param="model",
    )


def _sampling_params(state: ServerState, body: ChatCompletionRequest) -> SamplingParams:
    gen = getattr(state.lm.model, "generation_config", None)
    temperature = body.temperature
    top_p = body.top_p
    top_k = body.top_k
    if temperature is None:
        # the checkpoint's own default: greedy unless its generation config samples
        temperature = (
            float(getattr(gen, "temperature", 1.0) or 1.0) if getattr(gen, "do_sample", False) else 0.0
        )
        if top_p is None and getattr(gen, "do_sample", False):
            top_p = getattr(gen, "top_p", None)
        if top_k is None and getattr(gen, "do_sample", False):
            top_k = getattr(gen, "top_k", None)
    asked = body.max_completion_tokens or body.max_tokens
    context = state.lm.max_model_len
    if asked is not None and context and asked > context:
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise bad_request(
            f"{param} is {asked}, more than this model's context of {context} tokens", param=param
        )
    max_tokens = asked or state.config.max_new_tokens
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=float(top_p or 1.0),
        top_k=int(top_k or 0),
        seed=body.seed,
        stop=body.stop_list(),
        stop_token_ids=body.stop_token_ids or [],
        ignore_eos=body.ignore_eos,
        min_tokens=body.min_tokens,
        frequency_penalty=body.frequency_penalty or 0.0,
        presence_penalty=body.presence_penalty or 0.0,
    )


@dataclass
class PromptContext:
    """What ``prepare_prompt`` reads, without an engine: for building model inputs offline (the demo
    model's training pipeline) exactly as the server does. ``ServerState`` has the same fields."""

    config: ServerConfig
    lm: LoadedModel
    asr: SpeechRecognizer | None = None
    shrink: Shrinker | None = None


def prepare_prompt(state: ServerState | PromptContext, body: ChatCompletionRequest) -> PreparedPrompt:
    """Messages -> chat template -> processor tensors (runs in a worker thread)."""
    cfg, lm = state.config, state.lm
    images: list[Any] = []
    audios: list[Any] = []
    messages: list[dict[str, Any]] = []
    budget = MediaBudget(audio_seconds=cfg.max_audio_seconds, pixels=cfg.max_request_pixels)
    for i, msg in enumerate(body.messages):
        if msg.content is None or isinstance(msg.content, str):
            messages.append({"role": msg.role, "content": msg.content or ""})
            continue
        parts: list[dict[str, Any]] = []
        for j, part in enumerate(msg.content):
            param = f"messages.{i}.content.{j}"
            if isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                if not lm.supports_images:
                    raise bad_request("this model takes no images", param=param, code="images_unsupported")
                if len(images) >= cfg.max_images_per_request:
                    raise bad_request(
                        f"too many images: this server takes at most {cfg.max_images_per_request} a request",
                        param=param,
                    )
                images.append(
                    load_image_url(
                        part.image_url.url,
                        param=f"{param}.image_url",
                        max_bytes=cfg.max_image_bytes,
                        max_pixels=cfg.max_image_pixels,
                        allow_remote=cfg.allow_remote_images,
                        shrink=state.shrink,
                        budget=budget,
                    )
                )
                parts.append({"type": "image"})
            elif isinstance(part, AudioPart):
                samples, rate = decode_audio(
                    part.input_audio.data,
                    part.input_audio.format,
                    param=f"{param}.input_audio",
                    max_bytes=cfg.max_image_bytes,
                    max_seconds=cfg.max_audio_seconds,
                    budget=budget,
                )
                if lm.supports_audio:
                    audios.append(samples)
                    parts.append({"type": "audio"})
                elif state.asr is not None:
                    parts.append({"type": "text", "text": state.asr.transcribe(samples, rate, param=param)})
                else:
                    raise bad_request(
                        "audio input needs a speech model: start the server with --asr-model PATH",
                        param=param,
                        code="audio_unsupported",
                    )
        if not images and not audios and all(p["type"] == "text" for p in parts) and not lm.supports_images:
            messages.append({"role": msg.role, "content": "".join(p["text"] for p in parts)})
        else:
            messages.append({"role": msg.role, "content": parts})

    template_kwargs: dict[str, Any] = dict(body.chat_template_kwargs or {})
    if body.enable_thinking is not None:
        template_kwargs["enable_thinking"] = body.enable_thinking
    for reserved in ("tokenize", "add_generation_prompt", "conversation", "messages", "return_dict"):
        template_kwargs.pop(reserved, None)
    renderer = lm.processor if hasattr(lm.processor, "apply_chat_template") else lm.tokenizer
    try:
        prompt_text = renderer.apply_chat_template(
            messages,
            chat_template=lm.chat_template,
            tokenize=False,
            add_generation_prompt=True,
            **template_kwargs,
        )
    except Exception as exc:
        raise bad_request(
            f"the chat template cannot render these messages: {exc_text(exc)}", param="messages"
        ) from exc
    if isinstance(prompt_text, list):
        prompt_text = prompt_text[0]

    try:
        if lm.processor is lm.tokenizer:
            out = lm.tokenizer([prompt_text], add_special_tokens=False, return_tensors="pt")
        else:
            kwargs: dict[str, Any] = {
                "text": [prompt_text],
                "return_tensors": "pt",
                "add_special_tokens": False,
            }
            if images:
                kwargs["images"] = images
            if audios:
                kwargs["audio"] = audios
            out = lm.processor(**kwargs)
    except Exception as exc:
        raise bad_request(
            f"the processor cannot encode this request: {exc_text(exc)}", param="messages"
        ) from exc
    per_token = {
        k: out[k][0] for k in out if k in PER_TOKEN_KEYS and k not in ("input_ids", "attention_mask")
    }
    per_item = {k: out[k] for k in out if k not in PER_TOKEN_KEYS and hasattr(out[k], "shape")}
    return PreparedPrompt(
        input_ids=out["input_ids"][0],
        per_token=per_token,
        per_item=per_item,
        prompt_text=prompt_text,
        num_images=len(images),
    )


async def _watch_disconnect(request: Request, interval: float = 0.2) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(interval)


async def _complete(
    state: ServerState,
    body: ChatCompletionRequest,
    handle: Any,
    request: Request,
    request_id: str,
    in_reasoning: bool,
) -> JSONResponse:
    async def collect() -> tuple[str, GenerationEvent]:
        text: list[str] = []
        final = GenerationEvent()
        async for ev in handle.events():
            text.append(ev.text)
            final = ev
        return "".join(text), final

    task = asyncio.ensure_future(collect())
    watcher = asyncio.ensure_future(_watch_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task not in done:  # the client went away: stop generating
        handle.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return _error_response(APIError(499, "client disconnected", code="client_closed"))
    text, final = task.result()
    if final.error is not None:
        raise final.error
    reasoning, content = split_reasoning(text, in_reasoning=in_reasoning)
    message = ResponseMessage(content=content, reasoning_content=reasoning if body.return_reasoning else None)
    usage = _usage(state, final, reasoning or "")
    resp = ChatCompletion(
        id=request_id,
        model=state.config.served_model_name,
        choices=[Choice(message=message, finish_reason=final.finish_reason)],
        usage=usage,
    )
    data = resp.model_dump()
    if data["choices"][0]["message"]["reasoning_content"] is None:
        del data["choices"][0]["message"]["reasoning_content"]
    return JSONResponse(data)


def _usage(state: ServerState, final: GenerationEvent, reasoning: str) -> Usage:
    """Token counts, with ``completion_tokens_details.reasoning_tokens``: the tokens of the reasoning
    text (re-tokenized, at most the completion's tokens)."""
    reasoning_tokens = 0
    if reasoning:
        try:
            ids = state.lm.tokenizer(reasoning, add_special_tokens=False)["input_ids"]
            reasoning_tokens = min(len(ids), final.completion_tokens)
        except Exception:  # a count is not worth failing a finished request for
            log.debug("cannot count reasoning tokens", exc_info=True)
    return Usage(
        prompt_tokens=final.prompt_tokens,
        completion_tokens=final.completion_tokens,
        total_tokens=final.prompt_tokens + final.completion_tokens,
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning_tokens),
    )


def _sse(obj: Any) -> str:
    data = obj if isinstance(obj, dict) else obj.model_dump(exclude_none=True)
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _stream(
    state: ServerState,
    body: ChatCompletionRequest,
    events: AsyncIterator[GenerationEvent],
    request_id: str,
    in_reasoning: bool,
) -> AsyncIterator[str]:
    created = int(time.time())
    name = state.config.served_model_name
    splitter = ReasoningSplitter(in_reasoning=in_reasoning)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    # chunks are built by hand (one json.dumps of the delta): this runs once per token per stream
    head = (
        'data: {"id":'
        + json.dumps(request_id)
        + ',"object":"chat.completion.chunk","created":'
        + str(created)
        + ',"model":'
        + json.dumps(name)
        + ',"choices":[{"index":0,"delta":'
    )

    def chunk(delta: Delta, finish: str | None = None) -> str:
        payload = json.dumps(delta.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":"))
        return f'{head}{payload},"finish_reason":{json.dumps(finish)}}}]}}\n\n'

    def deltas(reasoning: str, content: str) -> list[str]:
        out: list[str] = []
        if reasoning and body.return_reasoning:
            out.append(chunk(Delta(reasoning_content=reasoning)))
        if content:
            out.append(chunk(Delta(content=content)))
        return out

    yield chunk(Delta(role="assistant", content=""))
    final = GenerationEvent()
    reasoning_text: list[str] = []
    try:
        async for ev in events:
            final = ev
            if ev.error is not None:
                break
            part = splitter.feed(ev.text)
            reasoning_text.append(part.reasoning or "")
            for s in deltas(part.reasoning, part.content):
                yield s
    finally:
        # reached when the client disconnects too: ``events`` cancels the request on close
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]
    if final.error is not None:
        yield _sse(final.error.to_dict())
        yield "data: [DONE]\n\n"
        return
    rest = splitter.finish()
    reasoning_text.append(rest.reasoning or "")
    for s in deltas(rest.reasoning, rest.content):
        yield s
    yield chunk(Delta(), final.finish_reason or "stop")
    if include_usage:
        usage = _usage(state, final, "".join(reasoning_text))
        yield _sse(
            ChatCompletionChunk(
                id=request_id, created=created, model=name, choices=[], usage=usage
            ).model_dump(exclude_none=True)
        )
    yield "data: [DONE]\n\n"


# ----- running it -----


def _uvicorn_config(app: FastAPI, config: ServerConfig, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=config.host,
        port=port,
        log_level=config.log_level,
        access_log=config.access_log
        if config.access_log is not None
        else config.log_level in ("info", "debug"),
        timeout_graceful_shutdown=5,
        lifespan="off",
    )


def check_port_free(host: str, port: int) -> None:
    """Raise ``ServerError`` (one line) when ``host:port`` cannot be bound; port 0 always can."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServerError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="pick another port with --port"
            ) from exc


def listen_line(config: ServerConfig, port: int) -> str:
    """The one line ``serve`` prints once it listens: where, which model, whether a key is needed
    (never the key itself)."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    key = "an API key is required (Authorization: Bearer KEY)" if config.api_key else "no API key required"
    return f"serving {clip(config.served_model_name)} at http://{host}:{port}/v1; {key}"


def serve(config: ServerConfig, *, announce: Any = None) -> None:
    """Load the model and serve until interrupted (blocking).

    Once listening it calls ``announce(line)`` (default: print to stdout) with ``listen_line``.
    """
    import uvicorn

    say = announce or (lambda line: print(line, flush=True))

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                bound = [s for srv in getattr(self, "servers", []) for s in srv.sockets]
                port = int(bound[0].getsockname()[1]) if bound else config.port
                say(listen_line(config, port))

    check_port_free(config.host, config.port)
    state = build_state(config)
    try:
        server = _Server(_uvicorn_config(create_app(state), config, config.port))
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            raise ServerError(
                f"the server could not listen on {config.host}:{config.port}",
                hint="pick another port with --port",
            ) from exc
    finally:
        state.engine.stop()


class EmbeddedServer:
    """The server in a background thread of this process.

    ``with EmbeddedServer(ServerConfig(model=path, port=0)) as srv: OpenAI(base_url=srv.base_url)``.
    Binds ``config.host`` (127.0.0.1 by default); port 0 picks a free port.
    """

    def __init__(self, config: ServerConfig, *, lm: LoadedModel | None = None):
        self.config = config
        self._lm = lm
        self.state: ServerState | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def engine(self) -> Engine:
        if self.state is None:
            raise ServerError("the embedded server is not started", hint="call start() first")
        return self.state.engine

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServerError("the embedded server is not started", hint="call start() first")
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self, timeout: float = 60.0) -> EmbeddedServer:
        import uvicorn

        if self._thread is not None:
            return self
        check_port_free(self.config.host, self.config.port)
        self.state = build_state(self.config, lm=self._lm)
        self._server = uvicorn.Server(_uvicorn_config(create_app(self.state), self.config, self.config.port))
        self._thread = threading.Thread(target=self._server.run, name="autoglm-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"the embedded server did not start on {self.config.host}:{self.config.port}",
                    hint="is the port in use?",
                )
            time.sleep(0.01)
        sockets = [s for srv in getattr(self._server, "servers", []) for s in srv.sockets]
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        return self

    def stop(self) -> None:
        if self.state is not None:
            self.state.engine.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._thread = None
        self._server = None
        self.port = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "EmbeddedServer",
    "ServerState",
    "build_state",
    "check_port_free",
    "create_app",
    "listen_line",
    "prepare_prompt",
    "serve",
]
