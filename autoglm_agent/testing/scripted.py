"""A real OpenAI-compatible HTTP endpoint that answers from a script (standard library only).

Tests, examples and notebooks use it in place of a model server::

    with ScriptedEndpoint(['<think>I see the home screen</think><answer>do(action="Home")</answer>']) as ep:
        llm = ChatAutoGLM(base_url=ep.base_url)
        llm.invoke("...")
        ep.requests[-1]   # the request body the client sent

Each chat completion request takes the next reply from the script: a string (the full model
output, ``<think>`` and ``<answer>`` tags included), a callable that receives the request body
and returns such a string (or a ``ScriptedError``), or a ``ScriptedError`` that makes the endpoint
fail with that HTTP status. Out of replies, the endpoint answers 500 "script exhausted".

``reasoning_mode="field"`` acts like vLLM / SGLang with a reasoning parser: when the request asks
for thinking (``enable_thinking``, ``return_reasoning`` or ``chat_template_kwargs.enable_thinking``)
the ``<think>`` block is returned in ``reasoning_content`` and the rest in ``content``.
``reasoning_mode="tags"`` leaves everything in ``content``, like a server without a parser.
``reasoning_field="reasoning"`` names the field the way newer vLLM builds and OpenRouter do.

Supported: ``POST /v1/chat/completions`` (non-streaming and SSE streaming with
``stream_options.include_usage``, ``stop`` sequences), ``GET /v1/models``, ``GET /health``, bearer
API-key checking (401), OpenAI-shaped error bodies. Token counts are estimates (4 UTF-8 bytes a
token, a fixed 256 per image), good enough for tests of usage plumbing.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["Reply", "ScriptedEndpoint", "ScriptedError"]

_IMAGE_TOKENS = 256
_AUDIO_TOKENS = 128
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


@dataclass(frozen=True)
class ScriptedError:
    """A scripted failure: the endpoint answers ``status`` with an OpenAI error body."""

    status: int
    message: str
    #: Send ``retry-after-ms`` so that OpenAI clients retry after this long instead of backing off.
    retry_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"ScriptedError status must be an HTTP error (400-599), not {self.status}")


Reply = str | ScriptedError | Callable[[dict[str, Any]], "str | ScriptedError"]


def _split_think(text: str) -> tuple[str | None, str]:
    """Server-side reasoning parser: ``(reasoning, content)`` the way vLLM's parsers split it."""
    match = re.search(r"<think>(.*?)</think>", text, re.DOTALL)
    if match:
        return match.group(1).strip(), (text[: match.start()] + text[match.end() :]).strip()
    if "<think>" in text:  # cut off while thinking
        start = text.index("<think>")
        return text[start + len("<think>") :].strip(), text[:start].strip()
    if "</think>" in text:  # the template opened the think block in the prompt
        before, _, after = text.partition("</think>")
        return before.strip(), after.strip()
    return None, text


def _count(text: str) -> int:
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4) if text else 0


def _json_bytes(payload: Any) -> bytes:
    """``payload`` as UTF-8 JSON. A lone surrogate in a scripted reply goes out as its ``\\uXXXX``
    escape (text outside strings is ASCII, so ``backslashreplace`` yields exactly that escape), the
    way a Python server with ``ensure_ascii=True`` would send it, instead of failing the request."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        total += 4
        content = message.get("content")
        if isinstance(content, str):
            total += _count(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind == "text":
                    total += _count(str(part.get("text", "")))
                elif kind == "image_url":
                    total += _IMAGE_TOKENS
                elif kind == "input_audio":
                    total += _AUDIO_TOKENS
    return total


def _thinking_requested(body: dict[str, Any]) -> bool:
    template_kwargs = body.get("chat_template_kwargs")
    return bool(
        body.get("enable_thinking") is True
        or body.get("return_reasoning") is True
        or (isinstance(template_kwargs, dict) and template_kwargs.get("enable_thinking") is True)
    )


def _apply_stop(text: str, stop: Any) -> str:
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    cut = min((i for s in stops if (i := text.find(s)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]


def _pieces(text: str, size: int) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that replies from a script.

    A context manager; ``start()`` picks a free port and serves from a daemon thread.
    ``requests`` holds every chat completion request body received, in order.
    """

    def __init__(
        self,
        replies: Iterable[Reply] | None = None,
        *,
        model: str = "autoglm-phone-9b",
        reasoning_mode: Literal["tags", "field"] = "field",
        api_key: str | None = None,
        chunk_size: int = 8,
        delay_s: float = 0.0,
        reasoning_field: Literal["reasoning_content", "reasoning"] = "reasoning_content",
    ) -> None:
        if reasoning_mode not in ("tags", "field"):
            raise ValueError(f"reasoning_mode must be 'tags' or 'field', not {reasoning_mode!r}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.model = model
        self.reasoning_mode = reasoning_mode
        self.api_key = api_key
        self.chunk_size = chunk_size
        self.delay_s = delay_s
        self.reasoning_field = reasoning_field
        self.requests: list[dict[str, Any]] = []
        #: One line per reply callable that raised (the client got a 500 for it).
        self.failures: list[str] = []
        self._script: deque[Reply] = deque(replies or ())
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedEndpoint is not started; call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedEndpoint:
        if self._server is not None:
            return self
        endpoint = self

        class Handler(_Handler):
            owner = endpoint

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- script
    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        with self._lock:
            return len(self._script)

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            if not self.requests:
                raise LookupError("the scripted endpoint has received no request yet")
            return self.requests[-1]

    def _record(self, body: dict[str, Any]) -> int:
        with self._lock:
            self.requests.append(body)
            self._counter += 1
            return self._counter

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection (or timing out) is normal, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedEndpoint
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedEndpoint/1.0"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ----------------------------------------------------------------- plumbing
    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = _json_bytes(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self, status: int, message: str, *, code: str | None = None, retry_after_s: float | None = None
    ) -> None:
        error = {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": None,
            "code": code if code is not None else status,
        }
        headers = {}
        if retry_after_s is not None:
            headers["retry-after-ms"] = str(int(retry_after_s * 1000))
        self._send_json(status, {"error": error}, headers)

    def _authorized(self) -> bool:
        key = self.owner.api_key
        if key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._send_error(
            401,
            "Incorrect API key provided; pass the endpoint's key as api_key",
            code="invalid_api_key",
        )
        return False

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ----------------------------------------------------------------- routes
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send_json(200, {"status": "ok"})
            return
        if path in ("/v1/models", "/models"):
            if not self._authorized():
                return
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "autoglm-agent"}
                    ],
                },
            )
            return
        self._send_error(404, f"no route for GET {path}", code="not_found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"no route for POST {path}", code="not_found")
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            self._send_error(400, f"request body is not JSON: {exc}")
            return
        if not isinstance(body, dict):
            self._send_error(400, "request body must be a JSON object")
            return
        number = self.owner._record(body)
        if not self._authorized():
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send_error(400, "'messages' must be a non-empty list", code="invalid_messages")
            return

        reply = self.owner._next_reply()
        if reply is None:
            self._send_error(
                500,
                f"script exhausted: no scripted reply left for request #{number}; add more with ScriptedEndpoint.add()",
                code="script_exhausted",
            )
            return
        if callable(reply) and not isinstance(reply, ScriptedError):
            try:
                reply = reply(body)
            except Exception as exc:
                line = f"reply callable for request #{number} raised {type(exc).__name__}: {exc}"
                self.owner.failures.append(line)
                print(f"ScriptedEndpoint: {line}", file=sys.stderr)
                self._send_error(500, line, code="reply_callable_failed")
                return
        if isinstance(reply, ScriptedError):
            self._send_error(reply.status, reply.message, retry_after_s=reply.retry_after_s)
            return
        if not isinstance(reply, str):
            self._send_error(
                500, f"scripted reply #{number} is {type(reply).__name__}, not str", code="bad_reply"
            )
            return
        self._answer(body, reply, number)

    # ----------------------------------------------------------------- answers
    def _answer(self, body: dict[str, Any], text: str, number: int) -> None:
        owner = self.owner
        text = _apply_stop(text, body.get("stop"))
        reasoning: str | None = None
        content = text
        if owner.reasoning_mode == "field" and _thinking_requested(body):
            reasoning, content = _split_think(text)
        prompt_tokens = _prompt_tokens(body)
        completion_tokens = _count(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        model = body.get("model") or owner.model
        base = {"id": f"chatcmpl-scripted-{number}", "created": int(time.time()), "model": model}
        if body.get("stream"):
            self._stream(body, base, reasoning, content, usage)
            return
        if owner.delay_s:
            time.sleep(owner.delay_s)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning is not None:
            message[owner.reasoning_field] = reasoning
        self._send_json(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": usage,
            },
        )

    def _stream(
        self,
        body: dict[str, Any],
        base: dict[str, Any],
        reasoning: str | None,
        content: str,
        usage: dict[str, int],
    ) -> None:
        owner = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({owner.reasoning_field: p}) for p in _pieces(reasoning or "", owner.chunk_size)]
        events += [chunk({"content": p}) for p in _pieces(content, owner.chunk_size)]
        events.append(chunk({}, "stop"))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        try:
            for i, event in enumerate(events):
                if owner.delay_s and i:
                    time.sleep(owner.delay_s)
                self._write_chunk(b"data: " + _json_bytes(event) + b"\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-stream
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
