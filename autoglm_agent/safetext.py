"""Text from outside (the model, the phone, an endpoint, the command line) made safe to use.

* :func:`well_formed`: text that encodes to UTF-8. A Python ``str`` can hold lone surrogates
  (``"\\ud800"`` from a JSON escape a model or server sent; ``sys.argv`` holds undecodable bytes
  as ``"\\udcff"``); writing one to a file, a terminal or an HTTP body raises
  ``UnicodeEncodeError``. Surrogate pairs split apart are joined, lone ones become U+FFFD.
* :func:`for_terminal`: :func:`well_formed`, and every control character a terminal would act on
  shown as a visible escape instead (``\\x1b``): no clearing the screen, setting the title,
  hiding or overwriting text from a model's thinking or a phone's app label. Newlines and tabs
  stay; CJK, emoji (with their joiners and modifiers) and everything else printable stay as they
  are. The CLI passes everything model-, phone- or endpoint-derived through it before printing.
* :func:`undecodable_argument`: for command-line text, the bytes that were not valid UTF-8.
"""

from __future__ import annotations

import os
import re

__all__ = ["for_terminal", "undecodable_argument", "well_formed"]

_SURROGATE = re.compile("[\ud800-\udfff]")

#: What a terminal acts on: C0 controls but newline and tab, DEL, C1 controls (``\x9b`` is a CSI
#: on some terminals), and the bidirectional overrides/isolates that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def well_formed(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD (a no-op,
    returning ``text`` itself, for text that is already well-formed)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _escape(match: re.Match[str]) -> str:
    cp = ord(match.group())
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def for_terminal(text: object) -> str:
    """``str(text)`` safe to print: well-formed, control characters shown as ``\\xNN`` escapes
    (a ``\\r\\n`` line ending is kept as ``\\n``)."""
    s = well_formed(str(text))
    if "\r\n" in s:
        s = s.replace("\r\n", "\n")
    return _CONTROL.sub(_escape, s)


def undecodable_argument(text: str) -> bytes | None:
    """For text from ``sys.argv`` or the environment: the original bytes when they are not valid
    UTF-8 (Python keeps such bytes as ``\\udc80``-``\\udcff`` surrogates), else None."""
    if not _SURROGATE.search(text):
        return None
    try:
        os.fsencode(text).decode("utf-8")
    except UnicodeError:
        try:
            return os.fsencode(text)
        except UnicodeError:
            return text.encode("utf-8", "surrogatepass")
    return None
