"""The model's action space, a tolerant parser for its answers, and grid <-> pixel mapping.

The model answers ``<think>reasoning</think><answer>ACTION</answer>`` where ACTION is one call in
the AutoGLM-Phone format, e.g. ``do(action="Tap", element=[500,320])`` or
``finish(message="Done")``. Real servers return that text with tags missing, doubled or left
over, so this module:

* splits reasoning from the answer tolerantly (:func:`split_response`);
* finds the last well-formed ``do(...)`` / ``finish(...)`` call in the answer and parses it with a
  small hand-written parser (no ``eval``): keyword arguments whose values are quoted strings with
  backslash escapes, numbers, ``[x, y]`` lists, or unquoted bare words (:func:`parse_action`);
* turns every failure into :class:`ActionParseError`, whose message is written for the model so
  the agent can send it back and ask again. A failure never becomes a :class:`Finish`: only an
  explicit, exactly spelled ``finish(`` call does.

Decisions worth knowing:

* **Coordinates** are integers on a 0-999 grid (0,0 is the top-left corner). Floats are rounded.
  ``1000`` is accepted and clamped to ``999`` (models trained on a 0-1000 grid touch that edge).
  Anything below 0 or above 1000 is rejected rather than clamped: such values usually mean the
  model answered in pixels, and clamping would tap a wrong place silently. Values that all lie in
  [0, 1] with a fractional part are rejected too (normalised coordinates, not grid ones).
* **Unescaped quotes** inside free text (``text="He said "hi""``, ``text='it's'``) are tolerated:
  a quote only closes the string if the rest of the call then parses, trying the earliest
  closing quote first; unquoted free text may likewise contain commas. Correctly escaped input is
  therefore read exactly as written. Names, points and durations (``action=``, ``element=``...)
  end at their first closing quote.
* A call that starts inside a string opened by an earlier, broken call (a ``finish(...)`` quoted
  in a ``Type`` text cut off by the token limit) is not taken as an action.
* **Tags** (``<think>``, ``</answer>``, GLM special tokens such as ``<|user|>``) are removed from
  the answer before it is parsed, so they can never end up in typed text. :meth:`to_call` escapes
  a ``<`` that would start such a tag as ``\\u003c``, so every action still round-trips.
* **Wait** accepts ``"2 seconds"``, ``"2s"``, ``2``, ``"1.5 秒"``, ``"500ms"``, ``"1 minute"``; the
  model's value is clamped to [0, 60] s (a longer wait is simply asked for again).
* Unknown extra keyword arguments are ignored; a keyword given twice is an error.
* **Pixels**: ``to_pixels`` maps grid value g to ``round(g * size / 1000)`` (the convention the
  AutoGLM models were trained with), clamped to ``[0, size-1]``; ``to_grid`` is its inverse
  ``round(px * 1000 / size)`` clamped to ``[0, 999]``. For screens at least 1000 px wide/high,
  ``to_grid(to_pixels(p)) == p`` exactly.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from autoglm_agent.errors import AutoGLMError

__all__ = [
    "ACTION_ADAPTER",
    "ACTION_NAMES",
    "GRID_MAX",
    "GRID_SIZE",
    "MAX_WAIT_SECONDS",
    "Action",
    "ActionParseError",
    "Back",
    "CallAPI",
    "DoubleTap",
    "Finish",
    "Home",
    "Interact",
    "Launch",
    "LongPress",
    "Note",
    "Point",
    "Swipe",
    "TakeOver",
    "Tap",
    "Type",
    "TypeName",
    "Wait",
    "parse_action",
    "split_response",
    "to_grid",
    "to_pixels",
]

#: The model's coordinate grid has this many cells per axis (values 0..999).
GRID_SIZE = 1000
GRID_MAX = GRID_SIZE - 1
#: Upper bound of a single Wait.
MAX_WAIT_SECONDS = 60.0

_EXAMPLE = 'do(action="Tap", element=[x,y]) or finish(message="...")'


class ActionParseError(AutoGLMError):
    """The model's answer does not hold one valid action.

    ``str(error)`` is one line addressed to the model, meant to be sent back to it; ``reason`` is
    the short cause alone, ``text`` the answer that failed (when known).
    """

    def __init__(self, reason: str, *, text: str | None = None) -> None:
        self.reason = " ".join(reason.split())
        self.text = text
        super().__init__(
            f"Your answer could not be parsed: {self.reason}. Answer with exactly one action like {_EXAMPLE}."
        )


# --------------------------------------------------------------------------------------------
# Points and coordinate mapping
# --------------------------------------------------------------------------------------------


class Point(NamedTuple):
    """A position on the model's 0-999 grid (0,0 = top-left of the screenshot)."""

    x: int
    y: int

    def __str__(self) -> str:
        return f"[{self.x},{self.y}]"


def _grid_value(v: object) -> int | float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"coordinates must be numbers, got {_snippet(repr(v))}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"coordinates must be finite numbers, got {v!r}")
    return v


def _coerce_point(value: object) -> Point:
    """Validate a 0-999 grid point (see the module docstring for the clamping rules)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"a point must be two numbers [x,y] on the 0-999 grid, got {_snippet(repr(value))}")
    raw = [_grid_value(v) for v in value]
    if all(0 <= v <= 1 for v in raw) and any(isinstance(v, float) and not v.is_integer() for v in raw):
        raise ValueError(
            f"coordinates are integers on the 0-999 grid, not fractions of the screen; got {_fmt_list(raw)}"
        )
    out: list[int] = []
    for v in raw:
        n = round(v)
        if n == GRID_SIZE:
            n = GRID_MAX
        if not 0 <= n <= GRID_MAX:
            raise ValueError(
                f"coordinates must lie on the 0-999 grid (0,0 is the top-left corner), got {_fmt_list(raw)}"
            )
        out.append(n)
    return Point(out[0], out[1])


def _fmt_list(values: Sequence[object]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


GridPoint = Annotated[Point, BeforeValidator(_coerce_point)]


def _check_size(width: int, height: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"screen {name} must be a positive integer, got {v!r}")


def to_pixels(point: Point | tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """Map a 0-999 grid point to pixel coordinates of a ``width`` x ``height`` screenshot.

    ``px = round(x * width / 1000)``, clamped to ``[0, width-1]`` (same for y).
    """
    _check_size(width, height)
    x, y = point
    px = min(max(round(x * width / GRID_SIZE), 0), width - 1)
    py = min(max(round(y * height / GRID_SIZE), 0), height - 1)
    return px, py


def to_grid(x_px: float, y_px: float, width: int, height: int) -> Point:
    """Inverse of :func:`to_pixels`: pixel coordinates -> 0-999 grid point (clamped)."""
    _check_size(width, height)
    gx = min(max(round(x_px * GRID_SIZE / width), 0), GRID_MAX)
    gy = min(max(round(y_px * GRID_SIZE / height), 0), GRID_MAX)
    return Point(gx, gy)


# --------------------------------------------------------------------------------------------
# Action models
# --------------------------------------------------------------------------------------------

# Matches everything that split_response treats as markup and removes from the answer.
# Whitespace runs are matched possessively (\s*+): adjacent \s* would make a failing match try every
# way of splitting a long run of spaces between them (quadratic or worse).
_TAG_RE = re.compile(r"<\s*+/?\s*+(?:think|answer)\s*+>|<\|[^|<>\s]{1,40}\|>", re.IGNORECASE)


def _quote(text: str) -> str:
    """Serialize ``text`` as a double-quoted literal that :func:`parse_action` reads back exactly."""
    out = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    # A '<' that would start a tag is written as \u003c so the tag stripper cannot see it.
    out = _TAG_RE.sub(lambda m: "\\u003c" + m.group()[1:], out)
    return f'"{out}"'


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _fmt_seconds(seconds: float) -> str:
    s = repr(float(seconds))
    return s[:-2] if s.endswith(".0") else s


class _ActionBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_call(self) -> str:
        """The canonical call text, e.g. ``do(action="Tap", element=[500,500])``."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short one-line description for logs."""
        raise NotImplementedError

    def _do(self, *args: str) -> str:
        action: str = self.action  # type: ignore[attr-defined]
        return "do(" + ", ".join([f"action={_quote(action)}", *args]) + ")"


class Launch(_ActionBase):
    """Open an app by its name (or package name)."""

    action: Literal["Launch"] = "Launch"
    app: str

    @field_validator("app")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the app name must not be empty")
        return v

    def to_call(self) -> str:
        return self._do(f"app={_quote(self.app)}")

    def describe(self) -> str:
        return f"Launch app {_short(self.app)}"


class Tap(_ActionBase):
    """Tap a point. A ``message`` marks a sensitive tap (pay, delete, send...) that needs confirmation."""

    action: Literal["Tap"] = "Tap"
    element: GridPoint
    message: str | None = None

    @property
    def sensitive(self) -> bool:
        return self.message is not None

    def to_call(self) -> str:
        args = [f"element={self.element}"]
        if self.message is not None:
            args.append(f"message={_quote(self.message)}")
        return self._do(*args)

    def describe(self) -> str:
        x, y = self.element
        extra = f" (sensitive: {_short(self.message)})" if self.message is not None else ""
        return f"Tap at ({x}, {y}){extra}"


class Type(_ActionBase):
    """Type text into the focused input field."""

    action: Literal["Type"] = "Type"
    text: str

    def to_call(self) -> str:
        return self._do(f"text={_quote(self.text)}")

    def describe(self) -> str:
        return f"Type {_short(self.text)}"


class TypeName(_ActionBase):
    """Type a person's name (a contact, a recipient) into the focused field."""

    action: Literal["Type_Name"] = "Type_Name"
    text: str

    def to_call(self) -> str:
        return self._do(f"text={_quote(self.text)}")

    def describe(self) -> str:
        return f"Type name {_short(self.text)}"


class Swipe(_ActionBase):
    """Swipe from ``start`` to ``end``."""

    action: Literal["Swipe"] = "Swipe"
    start: GridPoint
    end: GridPoint

    def to_call(self) -> str:
        return self._do(f"start={self.start}", f"end={self.end}")

    def describe(self) -> str:
        return f"Swipe from ({self.start.x}, {self.start.y}) to ({self.end.x}, {self.end.y})"


class LongPress(_ActionBase):
    """Press and hold a point."""

    action: Literal["Long Press"] = "Long Press"
    element: GridPoint

    def to_call(self) -> str:
        return self._do(f"element={self.element}")

    def describe(self) -> str:
        return f"Long press at ({self.element.x}, {self.element.y})"


class DoubleTap(_ActionBase):
    """Tap a point twice quickly."""

    action: Literal["Double Tap"] = "Double Tap"
    element: GridPoint

    def to_call(self) -> str:
        return self._do(f"element={self.element}")

    def describe(self) -> str:
        return f"Double tap at ({self.element.x}, {self.element.y})"


class Back(_ActionBase):
    """Press the system Back button."""

    action: Literal["Back"] = "Back"

    def to_call(self) -> str:
        return self._do()

    def describe(self) -> str:
        return "Press Back"


class Home(_ActionBase):
    """Go to the home screen."""

    action: Literal["Home"] = "Home"

    def to_call(self) -> str:
        return self._do()

    def describe(self) -> str:
        return "Go Home"


class Wait(_ActionBase):
    """Wait for the screen to settle (0-60 s)."""

    action: Literal["Wait"] = "Wait"
    seconds: float = Field(default=1.0, ge=0.0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)

    def to_call(self) -> str:
        return self._do(f'duration="{_fmt_seconds(self.seconds)} seconds"')

    def describe(self) -> str:
        return f"Wait {_fmt_seconds(self.seconds)} s"


class TakeOver(_ActionBase):
    """Hand control to the user (login, captcha, payment...)."""

    action: Literal["Take_over"] = "Take_over"
    message: str = ""

    def to_call(self) -> str:
        return self._do(f"message={_quote(self.message)}")

    def describe(self) -> str:
        return f"Hand over to the user: {_short(self.message)}"


class Note(_ActionBase):
    """Record something seen on the screen for later use."""

    action: Literal["Note"] = "Note"
    message: str

    def to_call(self) -> str:
        return self._do(f"message={_quote(self.message)}")

    def describe(self) -> str:
        return f"Note {_short(self.message)}"


class CallAPI(_ActionBase):
    """Ask the language model side to process collected content (summarise, compare, write...)."""

    action: Literal["Call_API"] = "Call_API"
    instruction: str

    def to_call(self) -> str:
        return self._do(f"instruction={_quote(self.instruction)}")

    def describe(self) -> str:
        return f"Call API: {_short(self.instruction)}"


class Interact(_ActionBase):
    """Ask the user to choose when several options fit the task."""

    action: Literal["Interact"] = "Interact"

    def to_call(self) -> str:
        return self._do()

    def describe(self) -> str:
        return "Ask the user to choose"


class Finish(_ActionBase):
    """The task is done (or cannot be done); ``message`` is the result for the user."""

    action: Literal["finish"] = "finish"
    message: str = ""

    def to_call(self) -> str:
        return f"finish(message={_quote(self.message)})"

    def describe(self) -> str:
        return f"Finish: {_short(self.message)}"


Action = Annotated[
    Launch
    | Tap
    | Type
    | TypeName
    | Swipe
    | LongPress
    | DoubleTap
    | Back
    | Home
    | Wait
    | TakeOver
    | Note
    | CallAPI
    | Interact
    | Finish,
    Field(discriminator="action"),
]

#: Validates/loads actions from dicts or JSON (e.g. a saved trajectory).
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

_CLASSES: tuple[type[_ActionBase], ...] = (
    Launch,
    Tap,
    Type,
    TypeName,
    Swipe,
    LongPress,
    DoubleTap,
    Back,
    Home,
    Wait,
    TakeOver,
    Note,
    CallAPI,
    Interact,
    Finish,
)

#: Canonical action names, spelled as the model writes them (``finish`` is the ``finish(...)`` call).
ACTION_NAMES: tuple[str, ...] = tuple(cls.model_fields["action"].default for cls in _CLASSES)


def _norm_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


# normalised spelling -> class, for do(action=...). ``finish`` is deliberately absent.
_DO_ACTIONS: dict[str, type[_ActionBase]] = {
    _norm_name(cls.model_fields["action"].default): cls for cls in _CLASSES if cls is not Finish
}
_DO_ACTIONS.update({"click": Tap, "longclick": LongPress, "doubleclick": DoubleTap})

# field -> (accepted keyword spellings, kind)
_FieldSpec = tuple[tuple[str, ...], Literal["str", "point", "seconds"]]
_ARG_SPECS: dict[type[_ActionBase], dict[str, _FieldSpec]] = {
    Launch: {"app": (("app", "app_name", "package"), "str")},
    Tap: {"element": (("element", "point", "coordinate", "coordinates"), "point")},
    Type: {"text": (("text",), "str")},
    TypeName: {"text": (("text", "name"), "str")},
    Swipe: {"start": (("start",), "point"), "end": (("end",), "point")},
    LongPress: {"element": (("element", "point", "coordinate", "coordinates"), "point")},
    DoubleTap: {"element": (("element", "point", "coordinate", "coordinates"), "point")},
    Back: {},
    Home: {},
    Wait: {"seconds": (("duration", "seconds", "time"), "seconds")},
    TakeOver: {"message": (("message",), "str")},
    Note: {"message": (("message", "text"), "str")},
    CallAPI: {"instruction": (("instruction",), "str")},
    Interact: {},
}
# Optional fields: missing -> model default. Everything else in _ARG_SPECS is required.
_OPTIONAL: dict[type[_ActionBase], set[str]] = {TakeOver: {"message"}, Wait: {"seconds"}}


# --------------------------------------------------------------------------------------------
# split_response
# --------------------------------------------------------------------------------------------

_THINK_OPEN = re.compile(r"<\s*+think\s*+>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*+/\s*+think\s*+>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<\s*+answer\s*+>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<\s*+/\s*+answer\s*+>", re.IGNORECASE)


class _Split(NamedTuple):
    reasoning: str | None
    answer: str
    # Text to search when the answer holds no call: "" when the answer is authoritative.
    fallback: str


def _remove_tags(text: str, sep: str) -> str:
    """Remove every tag, replacing each by ``sep``, until none is left (removing one tag can
    reveal another: ``<<think>think>``), in one left-to-right pass.

    A tag is ``<`` ... ``>`` with no ``<`` or ``>`` inside, so tags never overlap and the order of
    removal does not matter; the result is the same as re-running ``_TAG_RE.sub`` to a fixed
    point. The output kept so far never holds a tag, so a new one can only end at the ``>`` just
    read and start at the last ``<`` still open; once a ``>`` does not close a tag, no earlier
    ``<`` can start one. Each character is thus examined at most once.
    """
    if "<" not in text or ">" not in text:
        _WORK.chars += len(text)
        return text
    out: list[str] = []
    opens: list[int] = []  # positions in out of '<' that may still start a tag
    start = 0
    while True:
        g = text.find(">", start)
        seg = text[start:] if g < 0 else text[start:g]
        base = len(out)
        k = seg.find("<")
        while k >= 0:
            opens.append(base + k)
            k = seg.find("<", k + 1)
        out.extend(seg)
        _WORK.chars += len(seg) + 1
        if g < 0:
            return "".join(out)
        if opens and _TAG_RE.fullmatch("".join(out[opens[-1] :]) + ">"):
            _WORK.chars += len(out) - opens[-1]
            del out[opens.pop() :]
            out.extend(sep)
        else:
            if opens:
                _WORK.chars += len(out) - opens[-1]
            out.append(">")
            opens.clear()
        start = g + 1


def _strip_tags(text: str, sep: str = "") -> str:
    out = _remove_tags(text, sep)
    if out.count("finish(") > text.count("finish("):
        # Removing a tag glued "finish(" together ("fini</answer>sh("): that is no explicit finish.
        return _strip_tags(text, " ")
    return out.strip()


def _split(text: str) -> _Split:
    a_open = _ANSWER_OPEN.search(text)
    limit = a_open.start() if a_open else len(text)
    closes = [m for m in _THINK_CLOSE.finditer(text, 0, limit)]
    think_open = _THINK_OPEN.search(text, 0, limit)
    unclosed_think = False
    if closes:
        reasoning_part, rest = text[: closes[-1].start()], text[closes[-1].end() :]
    elif think_open:
        reasoning_part, rest = text[:limit], text[limit:]
        unclosed_think = a_open is None
    elif a_open:
        reasoning_part, rest = text[:limit], text[limit:]
    else:
        reasoning_part, rest = "", text
    reasoning = _strip_tags(reasoning_part, "\n") or None

    # The answer: from the first <answer> to the last </answer> after it (tags removed).
    start_m = _ANSWER_OPEN.search(rest)
    start = start_m.end() if start_m else 0
    ends = [m for m in _ANSWER_CLOSE.finditer(rest, start)]
    end = ends[-1].start() if ends else len(rest)
    answer = _strip_tags(rest[start:end])

    if unclosed_think:
        fallback = reasoning or ""  # the model never closed its thinking: its action is in there
    elif start_m is None or end != len(rest):
        fallback = _strip_tags(rest)
    else:
        fallback = ""
    return _Split(reasoning, answer, fallback if fallback != answer else "")


def split_response(text: str) -> tuple[str | None, str]:
    """Separate the model's reasoning from its answer.

    Handles ``<think>``/``<answer>`` tags that are missing, unclosed, doubled or left over, a
    ``</think>`` without its opening tag (templates that open it in the prompt) and stray GLM
    special tokens. Returns ``(reasoning or None, answer)``, both stripped and free of tags. With
    no tags at all the whole text is the answer. When the answer proper holds no call but the
    text around it does (``<think>`` never closed, a call after ``</answer>``), the answer is that
    call, so ``parse_action(answer)`` gives the same result as ``parse_action(text)``.
    """
    try:
        split, call, source, _ = _locate(text)
    except ActionParseError:
        split = _split(text)
        return split.reasoning, split.answer
    if call is not None and source is not split.answer:
        return split.reasoning, source[call.start : call.end]
    return split.reasoning, split.answer


# --------------------------------------------------------------------------------------------
# The call parser (no eval), linear in the length of the answer.
#
# The grammar is small: ``name(key=value, key=value, ...)``. Free text (text=, message=...) may
# hold unescaped quotes and commas, so a value may end at any of several closing quotes or
# commas; the first end (leftmost) after which the rest of the call still parses wins, and so on
# for every later argument. Instead of trying ends and backtracking, one right-to-left pass over
# the answer's commas, ')' and quotes computes, for every place an argument list may start, the
# fewest arguments it needs to reach its ')' (_MAX_ARGS + 1 when it cannot). The parse is then a
# single left-to-right walk that takes, for each value, the first end that keeps the call within
# _MAX_ARGS arguments. Every character is looked at a bounded number of times.
# --------------------------------------------------------------------------------------------


class _Bare(NamedTuple):
    """An unquoted value, kept as written (converted by the field that receives it)."""

    text: str


_Value = str | _Bare | list[Any]


class _WorkCounter:
    """Characters scanned by the parser since the last reset (a diagnostic; tests check that it grows linearly)."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0


_WORK = _WorkCounter()

#: An answer (the text searched for a call) longer than this is refused without being parsed.
#: The longest real action is a Type with a long text; the reference models stop at a few
#: thousand tokens. Above it the parser would still be linear, just pointlessly slow.
_MAX_ANSWER_CHARS = 40_000
#: A whole reply (reasoning included) longer than this is refused by :func:`parse_action`.
_MAX_REPLY_CHARS = 1_000_000
_MAX_ARGS = 16  # a call with more keyword arguments is not an action
_NO_WAY = _MAX_ARGS + 1  # "cannot be completed" in the argument counts below
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/", "0": "\0"}
_QUOTES = {'"': '"', "'": "'", "“": "”"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_BARE_STOP = set(",)]=\"'“")
_LIST_ITEM = re.compile(r"[^,\[\]()\"'“]*")
_NON_SPACE = re.compile(r"\S")  # \S is exactly "not str.isspace()"
_BACKSLASH = re.compile(r"\\")
# The characters the right-to-left pass looks at: ends of bare values and closing quotes.
_PASS_CHARS = re.compile(r"[,)\"'”]")
_OPEN_QUOTE = re.compile(r"[\"'“]")
_IN_STRING = {'"': re.compile(r'[\\"]'), "'": re.compile(r"[\\']"), "“": re.compile(r"”")}

# Keywords whose values are names, numbers or points, never free text: their strings end at the
# first closing quote and their bare words at the first ',' or ')'. Free text (text=, message=...)
# may contain unescaped quotes and commas, so there every possible end is considered, leftmost first.
_STRUCTURAL_KEYS = frozenset(
    {"action", "element", "point", "coordinate", "coordinates", "start", "end", "duration", "seconds", "time"}
)


def _unescaped_quotes(s: str) -> set[int]:
    """Positions of ``"`` and ``'`` that a backslash escape consumes.

    Escapes are read left to right from the start of the text. A string value always opens right
    after ``=``, ``[``, ``(``, ``,`` or a space, never inside an escape, so reading escapes from
    its opening quote gives the same escapes as reading them from the start of the text.
    """
    escaped: set[int] = set()
    skip = 0
    for m in _BACKSLASH.finditer(s):
        k = m.start()
        if k < skip:
            continue
        e = s[k + 1 : k + 2]
        if e in _ESCAPES:
            escaped.add(k + 1)
            skip = k + 2
        elif (
            e == "u"
            and _HEX4.fullmatch(s, k + 2, k + 6)
            and not 0xD800 <= int(s[k + 2 : k + 6], 16) <= 0xDFFF
        ):
            skip = k + 6
        else:
            skip = k + 1
    _WORK.chars += len(escaped) + 1
    return escaped


def _decode(s: str, a: int, b: int, opener: str) -> str:
    """The content of the string whose opening quote is at ``a - 1`` and closing quote at ``b``."""
    if opener == "“":  # no escapes in curly quotes
        return s[a:b]
    out: list[str] = []
    j = a
    while (k := s.find("\\", j, b)) >= 0:
        out.append(s[j:k])
        e = s[k + 1 : k + 2]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            j = k + 2
        elif (
            e == "u"
            and _HEX4.fullmatch(s, k + 2, k + 6)
            and not 0xD800 <= int(s[k + 2 : k + 6], 16) <= 0xDFFF
        ):
            out.append(chr(int(s[k + 2 : k + 6], 16)))
            j = k + 6
        else:
            out.append("\\")  # unknown escape: keep the backslash literally
            j = k + 1
    out.append(s[j:b])
    _WORK.chars += b - a
    return "".join(out)


class _Scan:
    """One answer, prepared for parsing calls in it in linear time (see the section comment)."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.n = n = len(s)
        escaped = _unescaped_quotes(s)
        # Candidate ends, ascending: ',' and ')' for bare values, unescaped quotes for strings.
        self.stops: list[int] = []
        self.quotes: dict[str, list[int]] = {'"': [], "'": [], "”": []}
        seen: list[int] = []
        for m in _PASS_CHARS.finditer(s):
            k = m.start()
            if s[k] in ",)":
                self.stops.append(k)
                seen.append(k)
            elif k not in escaped:
                self.quotes[s[k]].append(k)
                seen.append(k)
        _WORK.chars += n
        # after[k]: the fewest further arguments a call needs once a value has ended at the
        # ',' or ')' at k (0 for ')'). Filled right to left, with suffix minima per kind of end
        # (stop_min[i]: the least after[] from self.stops[i] on; quote_min likewise).
        self.after: dict[int, int] = {}
        self.lists: dict[int, tuple[list[Any], int] | None] = {}
        self.stop_min = [_NO_WAY] * (len(self.stops) + 1)
        self.quote_min = {c: [_NO_WAY] * (len(v) + 1) for c, v in self.quotes.items()}
        left = {c: len(v) for c, v in self.quotes.items()}
        left_stops = len(self.stops)
        for pos in reversed(seen):
            c = s[pos]
            if c in ",)":
                cost = 0 if c == ")" else self.needed(pos + 1)
                self.after[pos] = cost
                left_stops -= 1
                self.stop_min[left_stops] = min(cost, self.stop_min[left_stops + 1])
            else:
                left[c] -= 1
                mins = self.quote_min[c]
                mins[left[c]] = min(self.then(pos + 1), mins[left[c] + 1])

    # ---- helpers ------------------------------------------------------------------------------

    def ws(self, i: int) -> int:
        m = _NON_SPACE.search(self.s, i)
        j = m.start() if m else self.n
        _WORK.chars += j - i + 1
        return j

    def then(self, k: int) -> int:
        """Fewest further arguments once a value has ended at ``k``."""
        j = self.ws(k)
        return self.after.get(j, _NO_WAY) if j < self.n else _NO_WAY

    def _arg(self, p: int) -> tuple[int, str, int] | None:
        """``(q, key, v)`` for an argument ``key=value`` whose text starts at ``q = ws(p)`` and value at ``v``."""
        s, n = self.s, self.n
        q = self.ws(p)
        m = _IDENT.match(s, q)
        if m is None:
            return None
        _WORK.chars += m.end() - q
        r = self.ws(m.end())
        if r >= n or s[r] != "=":
            return None
        return q, m.group().lower(), self.ws(r + 1)

    def needed(self, p: int) -> int:
        """Fewest arguments the argument list starting at ``p`` needs to reach its ')'."""
        q = self.ws(p)
        if q < self.n and self.s[q] == ")":
            return 0
        arg = self._arg(q)
        if arg is None:
            return _NO_WAY
        _, key, v = arg
        return min(_NO_WAY, 1 + self._value_cost(v, key not in _STRUCTURAL_KEYS))

    def _value_cost(self, v: int, free: bool) -> int:
        s = self.s
        if v >= self.n:
            return _NO_WAY
        c = s[v]
        if c in _QUOTES:
            closer = _QUOTES[c]
            ends = self.quotes[closer]
            i = bisect_right(ends, v)
            if i == len(ends):
                return _NO_WAY
            return self.quote_min[closer][i] if free else self.then(ends[i] + 1)
        if c in "[(":
            got = self.list(v)
            return _NO_WAY if got is None else self.then(got[1])
        if c in _BARE_STOP:
            return _NO_WAY
        i = bisect_right(self.stops, v)
        if i == len(self.stops):
            return _NO_WAY
        return self.stop_min[i] if free else self.after[self.stops[i]]

    def list(self, i: int) -> tuple[list[Any], int] | None:
        """``[a, b]`` / ``(a, b)``: its items and end, or None. Items are strings (ending at their
        first closing quote) or bare words; lists do not nest."""
        if i in self.lists:
            return self.lists[i]
        s, n = self.s, self.n
        closer = "]" if s[i] == "[" else ")"
        items: list[Any] = []
        result: tuple[list[Any], int] | None = None
        j = self.ws(i + 1)
        if j < n and s[j] == closer:
            result = items, j + 1
        while result is None and j < n:
            if s[j] in _QUOTES:
                ends = self.quotes[_QUOTES[s[j]]]
                k = bisect_right(ends, j)
                if k == len(ends):
                    break
                items.append(_decode(s, j + 1, ends[k], s[j]))
                j = ends[k] + 1
            else:
                m = _LIST_ITEM.match(s, j)
                assert m is not None
                _WORK.chars += m.end() - j
                text = m.group().strip()
                if not text:
                    break
                items.append(_Bare(text))
                j = m.end()
            j = self.ws(j)
            if j < n and s[j] == closer:
                result = items, j + 1
            elif j < n and s[j] == ",":
                j = self.ws(j + 1)
            else:
                break
        self.lists[i] = result
        return result

    # ---- the walk -----------------------------------------------------------------------------

    def call_args(self, p: int) -> tuple[tuple[tuple[str, _Value], ...], int] | None:
        """The arguments and end of the call whose argument list starts at ``p``, or None."""
        if self.needed(p) > _MAX_ARGS:
            return None
        s = self.s
        args: list[tuple[str, _Value]] = []
        while True:
            q = self.ws(p)
            if s[q] == ")":
                return tuple(args), q + 1
            arg = self._arg(q)
            assert arg is not None
            _, key, v = arg
            value, end = self._value(v, key not in _STRUCTURAL_KEYS, _MAX_ARGS - len(args) - 1)
            args.append((key, value))
            j = self.ws(end)
            if s[j] == ")":
                return tuple(args), j + 1
            p = j + 1  # s[j] == ","

    def _value(self, v: int, free: bool, room: int) -> tuple[_Value, int]:
        """The value at ``v``: its first end after which at most ``room`` more arguments finish the call."""
        s = self.s
        c = s[v]
        if c in _QUOTES:
            ends = self.quotes[_QUOTES[c]]
            i = bisect_right(ends, v)
            while free and self.then(ends[i] + 1) > room:
                i += 1
            return _decode(s, v + 1, ends[i], c), ends[i] + 1
        if c in "[(":
            got = self.list(v)
            assert got is not None
            return got
        i = bisect_right(self.stops, v)
        while free and self.after[self.stops[i]] > room:
            i += 1
        end = self.stops[i]
        _WORK.chars += end - v
        return _Bare(s[v:end].strip()), end


class _Call(NamedTuple):
    name: Literal["do", "finish"]
    args: tuple[tuple[str, _Value], ...]
    start: int
    end: int


# `do(` in any case with optional space; `finish(` only exactly so (finishing ends the task).
_CALL_START = re.compile(r"(?<![A-Za-z0-9_])(?:(?P<do>[dD][oO])\s*+\(|(?P<finish>finish)\()")
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WORD_RUN = re.compile(r"\w+")
_PAREN_NEXT = re.compile(r"\s*+\(")
_FINISH_PREFIX = re.compile(r"(?i:f\w{0,8}ish|fin)")
_FINISH_WORD = re.compile(r"(?i:done|complete)")


def _looks_like_finish(text: str) -> bool:
    """Whether ``text`` holds a finish-like call that is not ``finish(`` (``Finish(``, ``finsh(``,
    ``done(``...): a word not preceded by an ASCII word character, matching
    ``(?i:f\\w{0,8}ish\\w*|fin\\w*|done|complete)\\s*\\(``. Linear: each word is looked at once."""
    for run in _WORD_RUN.finditer(text):
        a, end = run.span()
        _WORK.chars += end - a
        if not _PAREN_NEXT.match(text, end):
            continue
        starts = (
            [a]
            if run.group().isascii()
            else [i for i in range(a, end) if i == a or text[i - 1] not in _ASCII_WORD]
        )
        for i in starts:
            if text.startswith("finish(", i):
                continue
            if _FINISH_PREFIX.match(text, i, end) or _FINISH_WORD.fullmatch(text, i, end):
                return True
    return False


class _OpenStrings:
    """Whether a position lies inside a string value that a (broken) call at ``start`` opened.

    Only a quote that follows ``=``, ``[``, ``(`` or ``,`` opens a string, so apostrophes in prose
    do not count. Asked about positions that never decrease, it resumes where it stopped, so it
    reads the text after ``start`` once.
    """

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start = text, start
        self.i = start
        self.quote: str | None = None

    def open_at(self, pos: int) -> bool:
        text, i, quote = self.text, self.i, self.quote
        begin = i
        while i < pos:
            if quote is None:
                m = _OPEN_QUOTE.search(text, i, pos)
                if m is None:
                    i = pos
                    break
                k = m.start()
                j = k  # the last non-space character before the quote (the call's own text counts)
                while j > self.start and text[j - 1].isspace():
                    j -= 1
                prev = text[j - 1] if j > self.start else ""
                if prev in ("=", "[", "(", ","):
                    quote = text[k]
                i = k + 1
            else:
                m = _IN_STRING[quote].search(text, i, pos)
                if m is None:
                    i = pos
                    break
                k = m.start()
                if text[k] == "\\":
                    i = k + 2
                else:
                    quote, i = None, k + 1
        _WORK.chars += max(i - begin, 1)
        self.i, self.quote = i, quote
        return quote is not None


def _snippet_from(text: str, start: int, limit: int) -> str:
    """``_snippet(text[start:], limit)``, reading only as much of ``text`` as the snippet needs."""
    words: list[str] = []
    length = -1
    for m in _NON_SPACE_RUN.finditer(text, start):
        words.append(m.group())
        length += len(m.group()) + 1
        if length > limit:
            break
    _WORK.chars += length + 1
    return _snippet(" ".join(words), limit)


_NON_SPACE_RUN = re.compile(r"\S+")


def _find_calls(text: str) -> tuple[list[_Call], str | None]:
    """All well-formed calls, left to right, and the complaint about the last broken one.

    A call found inside the text of another call is skipped: inside a well-formed one by
    construction, inside a broken one (say ``do(action="Type", text="... finish(message='x')``
    cut off by the token limit) by checking whether it starts in a string the broken call opened.
    """
    if len(text) > _MAX_ANSWER_CHARS:
        raise ActionParseError(
            f"the answer is {len(text):,} characters long, far too long for one action "
            f"(at most {_MAX_ANSWER_CHARS:,}); answer with only the call",
            text=text,
        )
    calls: list[_Call] = []
    last_broken: int | None = None
    # The strings opened by the broken calls since the last good one. Only a call that does not
    # start inside such a string is recorded as broken, so at that point every earlier scan stands
    # outside any string at the same place and all of them read the rest of the text alike: one
    # scan, restarted at the latest broken call, answers for all of them.
    broken: _OpenStrings | None = None
    scan = _Scan(text)
    pos = 0
    while (m := _CALL_START.search(text, pos)) is not None:
        _WORK.chars += m.end() - pos
        name: Literal["do", "finish"] = "finish" if m.group("finish") else "do"
        found = scan.call_args(m.end())
        inside_broken = broken is not None and broken.open_at(m.start())
        if found is not None and not inside_broken:
            args, end = found
            calls.append(_Call(name, args, m.start(), end))
            broken = None
            pos = end
        else:
            if not inside_broken:
                last_broken = m.start()
                broken = _OpenStrings(text, m.start())
            pos = m.start() + 1
    error = None
    if last_broken is not None:
        error = (
            f"the call {_snippet_from(text, last_broken, 50)!r} is not well-formed "
            "(check its quotes, brackets and commas)"
        )
    return calls, error


# ---- converting a parsed call into an Action ---------------------------------------------


def _as_str(value: _Value, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _Bare):
        return value.text
    raise ValueError(f'{key} must be a quoted string like {key}="..."')


def _as_number(value: Any) -> float | int | None:
    text = value.text if isinstance(value, _Bare) else value if isinstance(value, str) else None
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        return float(t)


_POINT_TEXT = re.compile(rf"\s*+[\[(]?\s*+({_NUMBER.pattern})\s*+,\s*+({_NUMBER.pattern})\s*+[\])]?\s*+")


def _as_point(value: _Value, key: str) -> Point:
    items: Any = value
    if isinstance(value, str | _Bare):
        text = value if isinstance(value, str) else value.text
        nums = _POINT_TEXT.fullmatch(text)
        if not nums:
            raise ValueError(f"{key} must be a point like {key}=[x,y] on the 0-999 grid")
        items = [_Bare(nums.group(1)), _Bare(nums.group(2))]
    if len(items) != 2:
        raise ValueError(f"{key} must be exactly two numbers like {key}=[x,y], got {len(items)} values")
    numbers = [_as_number(v) for v in items]
    if any(v is None for v in numbers):
        raise ValueError(f"{key} must hold two numbers like {key}=[x,y]")
    return _coerce_point(numbers)


_DURATION = re.compile(
    rf"\s*+(?P<num>{_NUMBER.pattern})\s*+(?P<unit>ms|milliseconds?|s|secs?|seconds?|秒钟?|min|mins|minutes?|分钟)?\s*+\.?\s*+",
    re.IGNORECASE,
)


def _as_seconds(value: _Value, key: str) -> float:
    if isinstance(value, list):
        raise ValueError(f'{key} must be a duration like {key}="2 seconds"')
    text = value if isinstance(value, str) else value.text
    m = _DURATION.fullmatch(text)
    if not m:
        raise ValueError(f'{key} must be a duration like {key}="2 seconds", got {_snippet(text, 30)!r}')
    seconds = float(m.group("num"))
    unit = (m.group("unit") or "s").lower()
    if unit.startswith(("ms", "milli")):
        seconds /= 1000.0
    elif unit.startswith("min") or unit == "分钟":
        seconds *= 60.0
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{key} must be a duration between 0 and {MAX_WAIT_SECONDS:g} seconds")
    return min(seconds, MAX_WAIT_SECONDS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _build(call: _Call) -> _ActionBase:
    seen: dict[str, _Value] = {}
    for key, value in call.args:
        if key in seen:
            raise ActionParseError(f"the argument {key}= is given twice")
        seen[key] = value

    if call.name == "finish":
        message = seen.get("message")
        if message is None and len(seen) == 1:
            message = next(iter(seen.values()))  # finish(text="...") and the like
        try:
            return Finish(message=_as_str(message, "message") if message is not None else "")
        except ValueError as e:
            raise ActionParseError(str(e)) from None

    if "action" not in seen:
        raise ActionParseError('a do(...) call needs action="..." as its first argument')
    try:
        raw_name = _as_str(seen["action"], "action")
    except ValueError:
        raise ActionParseError('action must be a quoted name like action="Tap"') from None
    norm = _norm_name(raw_name)
    if norm in ("finish", "done", "complete", "end"):
        raise ActionParseError('to end the task write finish(message="..."), not do(action="finish")')
    cls = _DO_ACTIONS.get(norm)
    if cls is None:
        known = ", ".join(n for n in ACTION_NAMES if n != "finish")
        raise ActionParseError(f"{_snippet(raw_name, 30)!r} is not a known action (known: {known}, finish)")
    name = cls.model_fields["action"].default

    fields: dict[str, Any] = {}
    for field, (keys, kind) in _ARG_SPECS[cls].items():
        present = [k for k in keys if k in seen]
        if not present:
            if field in _OPTIONAL.get(cls, set()):
                continue
            example = {
                "str": f'{keys[0]}="..."',
                "point": f"{keys[0]}=[x,y]",
                "seconds": f'{keys[0]}="2 seconds"',
            }[kind]
            raise ActionParseError(f"{name} needs {example}")
        if len(present) > 1:
            raise ActionParseError(f"{name} got both {present[0]}= and {present[1]}=; give only {keys[0]}=")
        value = seen[present[0]]
        try:
            if kind == "str":
                fields[field] = _as_str(value, present[0])
            elif kind == "point":
                fields[field] = _as_point(value, present[0])
            else:
                fields[field] = _as_seconds(value, present[0])
        except ValueError as e:
            raise ActionParseError(f"{name}: {e}") from None
    if cls is Tap and "message" in seen and seen["message"] not in (_Bare("None"), _Bare("null")):
        try:
            fields["message"] = _as_str(seen["message"], "message")
        except ValueError as e:
            raise ActionParseError(f"{name}: {e}") from None
    try:
        return cls(**fields)
    except ValidationError as e:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise ActionParseError(f"{name}: {detail}") from None


def _locate(text: str) -> tuple[_Split, _Call | None, str, str | None]:
    """Split ``text`` and find the call that counts: (split, call or None, text searched, error)."""
    split = _split(text)
    calls, error = _find_calls(split.answer)
    source = split.answer
    if not calls and split.fallback:
        calls, fb_error = _find_calls(split.fallback)
        error = error or fb_error
        source = split.fallback
    return split, (calls[-1] if calls else None), source, error


def parse_action(text: str) -> Action:
    """Parse the model's response (or just its answer part) into one :data:`Action`.

    The last well-formed ``do(...)``/``finish(...)`` call in the answer wins; without an answer
    tag (or when the answer holds no call) the text around it is searched too. Raises
    :class:`ActionParseError` (never returns a :class:`Finish` by accident).
    """
    if not isinstance(text, str):
        raise ActionParseError(f"expected the answer as text, got {type(text).__name__}")
    if len(text) > _MAX_REPLY_CHARS:
        raise ActionParseError(
            f"the reply is {len(text):,} characters long, far too long (at most {_MAX_REPLY_CHARS:,}); "
            "answer with only the call",
            text=text,
        )
    split, call, source, error = _locate(text)
    if not split.answer and not split.fallback:
        if split.reasoning:
            raise ActionParseError("your reply holds only reasoning and no action", text=text)
        raise ActionParseError("the answer was empty", text=text)
    if call is None:
        if error:
            raise ActionParseError(error, text=text)
        if _looks_like_finish(source):
            raise ActionParseError('to end the task write exactly finish(message="...")', text=text)
        raise ActionParseError(f"no do(...) or finish(...) call found in {_snippet(source)!r}", text=text)
    if call.name == "finish" and "finish(" not in text:
        # Only possible when removing a tag glued "finish(" together: not an explicit finish.
        raise ActionParseError("no explicit finish(...) call found", text=text)
    try:
        action = _build(call)
    except ActionParseError as e:
        raise ActionParseError(e.reason, text=text) from None
    return action  # type: ignore[return-value]
