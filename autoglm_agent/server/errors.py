"""Errors of the model server.

``ServerError`` (an ``AutoGLMError``) is what a user of ``serve()``/``EmbeddedServer`` sees: a model
path that does not load, a port in use. ``APIError`` is an HTTP error answered to a client in the
OpenAI error shape (``{"error": {"message", "type", "param", "code"}}``).
"""

from __future__ import annotations

import re
from typing import Any

from autoglm_agent.errors import AutoGLMError

#: Longest error message answered to a client (longer ones are cut, never echoed whole).
MAX_MESSAGE_CHARS = 500
#: Longest piece of client input (a model name, a value) quoted in an error message.
MAX_ECHO_CHARS = 80

_OBJECT_REPR = re.compile(r"<[\w.]+(?: [\w.]+)* (?:object )?at 0x[0-9a-fA-F]+>")


def clip(text: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (an ellipsis marks a cut)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def one_line(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A client-safe message: one line, no ``<... object at 0x...>`` reprs, at most ``limit`` characters."""
    return clip(_OBJECT_REPR.sub("<data>", str(text)), limit) or "error"


def exc_text(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, cleaned for a client (its type name when empty)."""
    lines = str(exc).strip().splitlines()
    return one_line(lines[0] if lines else type(exc).__name__, limit)


class ServerError(AutoGLMError):
    """The server cannot start or run (bad model path, port in use, missing packages)."""


class ModelLoadError(ServerError):
    """A model or speech checkpoint could not be loaded."""

    exit_code = 2


class APIError(Exception):
    """An error answered to an HTTP client as an OpenAI error object."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        message = one_line(message)
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.code = code
        self.param = None if param is None else clip(param, 200)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def too_large(message: str, *, param: str | None = None) -> APIError:
    return APIError(413, message, param=param, code="request_too_large")


class QueueFullError(APIError):
    """The engine's waiting queue is full (HTTP 429)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(
            429,
            f"the server's request queue is full ({capacity} waiting); retry later",
            type="rate_limit_error",
            code="queue_full",
        )


class EngineClosedError(APIError):
    """The engine is shutting down or has stopped (HTTP 503)."""

    def __init__(self, reason: str = "the server is shutting down") -> None:
        super().__init__(503, reason, type="server_error", code="unavailable")
