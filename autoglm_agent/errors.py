"""Errors that reach users.

Every expected failure (no device, endpoint down, bad model output, bad input file) is an
``AutoGLMError``: its ``str()`` is one line that says what went wrong and what to do. The CLI
prints that line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class AutoGLMError(Exception):
    """Base class for every error this package raises on purpose."""

    #: Suggested exit status for the CLI.
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class ConfigError(AutoGLMError):
    """Bad user input: a missing file, a bad option value."""

    exit_code = 2
