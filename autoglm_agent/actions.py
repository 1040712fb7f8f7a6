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
from collections.abc import Iterator, Sequence
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
_TAG_RE = re.compile(r"<\s*/?\s*(?:think|answer)\s*>|<\|[^|<>\s]{1,40}\|>", re.IGNORECASE)


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

_THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)


class _Split(NamedTuple):
    reasoning: str | None
    answer: str
    # Text to search when the answer holds no call: "" when the answer is authoritative.
    fallback: str


def _strip_tags(text: str, sep: str = "") -> str:
    out = text
    while (new := _TAG_RE.sub(sep, out)) != out:  # removing one tag can reveal another
        out = new
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
# The call parser (no eval): a backtracking recursive-descent parser with a step budget.
# --------------------------------------------------------------------------------------------


class _Bare(NamedTuple):
    """An unquoted value, kept as written (converted by the field that receives it)."""

    text: str


_Value = str | _Bare | list[Any]


class _BudgetExceeded(Exception):
    pass


class _Budget:
    """Counts the characters scanned, so that tangled input cannot make the parser slow."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def spend(self, n: int) -> None:
        self.steps -= max(n, 1)
        if self.steps < 0:
            raise _BudgetExceeded


_MAX_ARGS = 16  # a call with more keyword arguments is not an action (and recursion stays shallow)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/", "0": "\0"}
_QUOTES = {'"': '"', "'": "'", "“": "”"}
# In a string: the next character that needs attention (a backslash or the closing quote).
_STRING_SPECIAL = {'"': re.compile(r'[\\"]'), "'": re.compile(r"[\\']"), "“": re.compile(r"”")}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_BARE_STOP = set(",)]=\"'“")
_BARE_END = re.compile(r"[,)]")
_LIST_ITEM = re.compile(r"[^,\[\]()\"'“]*")


def _ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i].isspace():
        i += 1
    return i


def _string(s: str, i: int, budget: _Budget) -> Iterator[tuple[str, int]]:
    """Yield (content, end) for each possible closing quote, earliest first."""
    opener = s[i]
    special = _STRING_SPECIAL[opener]
    buf: list[str] = []
    j, n = i + 1, len(s)
    while (m := special.search(s, j)) is not None:
        k = m.start()
        budget.spend(k - j)
        buf.append(s[j:k])
        if s[k] == "\\":
            e = s[k + 1 : k + 2]
            if e in _ESCAPES:
                buf.append(_ESCAPES[e])
                j = k + 2
                continue
            if (
                e == "u"
                and _HEX4.fullmatch(s, k + 2, k + 6)
                and not 0xD800 <= int(s[k + 2 : k + 6], 16) <= 0xDFFF
            ):
                buf.append(chr(int(s[k + 2 : k + 6], 16)))
                j = k + 6
                continue
            buf.append("\\")  # unknown escape: keep the backslash literally
            j = k + 1
            continue
        content = "".join(buf)
        budget.spend(len(content))
        yield content, k + 1
        buf = [content, s[k]]  # that quote did not end the string after all: it is part of the text
        j = k + 1
    budget.spend(n - j)


def _list(s: str, i: int, budget: _Budget) -> tuple[list[Any], int] | None:
    closer = "]" if s[i] == "[" else ")"
    items: list[Any] = []
    j = _ws(s, i + 1)
    n = len(s)
    if j < n and s[j] == closer:
        return items, j + 1
    while j < n:
        if s[j] in _QUOTES:
            first = next(_string(s, j, budget), None)
            if first is None:
                return None
            item, j = first
            items.append(item)
        else:
            m = _LIST_ITEM.match(s, j)
            assert m is not None
            budget.spend(m.end() - j)
            text = m.group().strip()
            if not text:
                return None
            items.append(_Bare(text))
            j = m.end()
        j = _ws(s, j)
        if j < n and s[j] == closer:
            return items, j + 1
        if j < n and s[j] == ",":
            j = _ws(s, j + 1)
            continue
        return None
    return None


# Keywords whose values are names, numbers or points, never free text: their strings end at the
# first closing quote and their bare words at the first ',' or ')'. Free text (text=, message=...)
# may contain unescaped quotes and commas, so there every possible end is tried, shortest first.
_STRUCTURAL_KEYS = frozenset(
    {"action", "element", "point", "coordinate", "coordinates", "start", "end", "duration", "seconds", "time"}
)


def _value(s: str, i: int, budget: _Budget, free_text: bool) -> Iterator[tuple[_Value, int]]:
    if i >= len(s):
        return
    c = s[i]
    if c in _QUOTES:
        for got in _string(s, i, budget):
            yield got
            if not free_text:
                return
    elif c in "[(":
        got = _list(s, i, budget)
        if got is not None:
            yield got
    elif c not in _BARE_STOP:
        # A bare word may end at any later ',' or ')': try the shortest first.
        for m in _BARE_END.finditer(s, i + 1):
            budget.spend(m.start() - i)
            text = s[i : m.start()].strip()
            if text:
                yield _Bare(text), m.start()
                if not free_text:
                    return


def _kwargs(
    s: str, i: int, acc: tuple[tuple[str, _Value], ...], budget: _Budget
) -> Iterator[tuple[tuple[tuple[str, _Value], ...], int]]:
    i = _ws(s, i)
    budget.spend(1)
    if i < len(s) and s[i] == ")":
        yield acc, i + 1
        return
    m = _IDENT.match(s, i)
    if not m or len(acc) >= _MAX_ARGS:
        return
    key = m.group().lower()
    j = _ws(s, m.end())
    if j >= len(s) or s[j] != "=":
        return
    for value, k in _value(s, _ws(s, j + 1), budget, key not in _STRUCTURAL_KEYS):
        k = _ws(s, k)
        if k < len(s) and s[k] == ")":
            yield (*acc, (key, value)), k + 1
        elif k < len(s) and s[k] == ",":
            yield from _kwargs(s, k + 1, (*acc, (key, value)), budget)


class _Call(NamedTuple):
    name: Literal["do", "finish"]
    args: tuple[tuple[str, _Value], ...]
    start: int
    end: int


# `do(` in any case with optional space; `finish(` only exactly so (finishing ends the task).
_CALL_START = re.compile(r"(?<![A-Za-z0-9_])(?:(?P<do>[dD][oO])\s*\(|(?P<finish>finish)\()")
_FINISH_LIKE = re.compile(r"(?<![A-Za-z0-9_])(?!finish\()(?i:f\w{0,8}ish\w*|fin\w*|done|complete)\s*\(")
# Work limits, counted in characters scanned or copied, plus a multiple of the text's length.
# A well-formed answer costs about twice its length; only tangled input comes near them.
_MAX_STEPS_PER_CALL = 50_000
_MAX_STEPS_TOTAL = 400_000


def _in_open_string(text: str, start: int, pos: int) -> bool:
    """Whether ``pos`` lies inside a string value that a (broken) call at ``start`` opened.

    Only a quote that follows ``=``, ``[``, ``(`` or ``,`` opens a string, so apostrophes in prose
    do not count.
    """
    quote: str | None = None
    prev = ""
    i = start
    while i < pos:
        c = text[i]
        if quote is not None:
            if c == "\\" and quote != "“":
                i += 2
                continue
            if c == _QUOTES[quote]:
                quote, prev = None, c
        elif c in _QUOTES and prev in ("=", "[", "(", ","):
            quote = c
        elif not c.isspace():
            prev = c
        i += 1
    return quote is not None


def _find_calls(text: str, total: _Budget) -> tuple[list[_Call], str | None]:
    """All well-formed calls, left to right.

    A call found inside the text of another call is skipped: inside a well-formed one by
    construction, inside a broken one (say ``do(action="Type", text="... finish(message='x')``
    cut off by the token limit) by checking whether it starts in a string the broken call opened.
    """
    calls: list[_Call] = []
    last_error: str | None = None
    broken: list[int] = []  # starts of broken calls since the last good one
    pos = 0
    while (m := _CALL_START.search(text, pos)) is not None:
        name: Literal["do", "finish"] = "finish" if m.group("finish") else "do"
        cap = min(_MAX_STEPS_PER_CALL + 4 * len(text), total.steps)
        budget = _Budget(cap)
        try:
            found = next(_kwargs(text, m.end(), (), budget), None)
            if found is not None and broken:
                budget.spend(m.start() - broken[0])
                if any(_in_open_string(text, b, m.start()) for b in broken):
                    found = None
        except _BudgetExceeded:
            found = None
        finally:
            total.steps -= cap - max(budget.steps, 0)
        if total.steps <= 0:
            raise ActionParseError("the answer is too long or too tangled to read; keep it short", text=text)
        if found is not None:
            args, end = found
            calls.append(_Call(name, args, m.start(), end))
            broken = []
            pos = end
        else:
            if not any(_in_open_string(text, b, m.start()) for b in broken[-8:]):
                last_error = (
                    f"the call {_snippet(text[m.start() :], 50)!r} is not well-formed "
                    "(check its quotes, brackets and commas)"
                )
                broken.append(m.start())
                del broken[:-8]
            pos = m.start() + 1
    return calls, last_error


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


def _as_point(value: _Value, key: str) -> Point:
    items: Any = value
    if isinstance(value, str | _Bare):
        text = value if isinstance(value, str) else value.text
        nums = re.fullmatch(rf"\s*[\[(]?\s*({_NUMBER.pattern})\s*,\s*({_NUMBER.pattern})\s*[\])]?\s*", text)
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
    rf"\s*(?P<num>{_NUMBER.pattern})\s*(?P<unit>ms|milliseconds?|s|secs?|seconds?|秒钟?|min|mins|minutes?|分钟)?\s*\.?\s*",
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
    total = _Budget(_MAX_STEPS_TOTAL + 8 * len(text))
    calls, error = _find_calls(split.answer, total)
    source = split.answer
    if not calls and split.fallback:
        calls, fb_error = _find_calls(split.fallback, total)
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
    split, call, source, error = _locate(text)
    if not split.answer and not split.fallback:
        if split.reasoning:
            raise ActionParseError("your reply holds only reasoning and no action", text=text)
        raise ActionParseError("the answer was empty", text=text)
    if call is None:
        if error:
            raise ActionParseError(error, text=text)
        if _FINISH_LIKE.search(source):
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
