"""Split a model's ``<think>...</think>`` reasoning from its answer, whole or while streaming.

Only the thinking goes out of the content: ``<answer>`` tags and everything else stay as the model
wrote them. The splitter starts in reasoning mode when the prompt itself opened a ``<think>``
block (templates that pre-fill it), and takes out any ``<think>`` block the model writes.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass
class SplitDelta:
    reasoning: str = ""
    content: str = ""


def prompt_opens_reasoning(prompt_text: str) -> bool:
    """True when the rendered prompt ends inside an open ``<think>`` block."""
    tail = prompt_text.rstrip()
    return tail.rfind(THINK_OPEN) > tail.rfind(THINK_CLOSE)


class ReasoningSplitter:
    """Feed text pieces, get (reasoning, content) pieces; tags split across pieces are handled."""

    def __init__(self, *, in_reasoning: bool = False):
        self.in_reasoning = in_reasoning
        self._buf = ""
        self._strip_content_start = False  # drop the newline(s) a model puts after </think>
        self._reasoning_start = in_reasoning  # drop the newline(s) a model puts after <think>

    def feed(self, text: str) -> SplitDelta:
        self._buf += text
        out = SplitDelta()
        while self._buf:
            tag = THINK_CLOSE if self.in_reasoning else THINK_OPEN
            idx = self._buf.find(tag)
            if idx >= 0:
                self._add(out, self._buf[:idx])
                self._buf = self._buf[idx + len(tag) :]
                self.in_reasoning = not self.in_reasoning
                if self.in_reasoning:
                    self._reasoning_start = True
                else:
                    self._strip_content_start = True
                continue
            if not self.in_reasoning and THINK_CLOSE in self._buf:
                # a stray closing tag (no opening one): drop the tag, keep the text around it
                i = self._buf.find(THINK_CLOSE)
                self._buf = self._buf[:i] + self._buf[i + len(THINK_CLOSE) :]
                continue
            hold = _partial_suffix(self._buf, (tag, THINK_CLOSE))
            ready = self._buf[: len(self._buf) - hold]
            self._buf = self._buf[len(self._buf) - hold :]
            self._add(out, ready)
            break
        return out

    def finish(self) -> SplitDelta:
        out = SplitDelta()
        rest, self._buf = self._buf, ""
        self._add(out, rest)
        return out

    def _add(self, out: SplitDelta, text: str) -> None:
        if not text:
            return
        if self.in_reasoning:
            if self._reasoning_start:
                text = text.lstrip("\n")
                if not text:
                    return
                self._reasoning_start = False
            out.reasoning += text
        else:
            if self._strip_content_start:
                text = text.lstrip()
                if not text:
                    return
                self._strip_content_start = False
            out.content += text


def _partial_suffix(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that begins one of ``tags``."""
    best = 0
    for tag in tags:
        for n in range(min(len(tag) - 1, len(text)), 0, -1):
            if text.endswith(tag[:n]):
                best = max(best, n)
                break
    return best


def split_reasoning(text: str, *, in_reasoning: bool = False) -> tuple[str | None, str]:
    """Whole-text split: (reasoning or None, content)."""
    s = ReasoningSplitter(in_reasoning=in_reasoning)
    a = s.feed(text)
    b = s.finish()
    reasoning = (a.reasoning + b.reasoning).rstrip()
    content = a.content + b.content
    saw_reasoning = in_reasoning or THINK_OPEN in text
    return (reasoning if saw_reasoning else None), content
