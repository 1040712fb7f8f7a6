"""Tests for the action models, the tolerant parser and the grid <-> pixel mapping."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from autoglm_agent.actions import (
    ACTION_ADAPTER,
    ACTION_NAMES,
    Action,
    ActionParseError,
    Back,
    CallAPI,
    DoubleTap,
    Finish,
    Home,
    Interact,
    Launch,
    LongPress,
    Note,
    Point,
    Swipe,
    TakeOver,
    Tap,
    Type,
    TypeName,
    Wait,
    parse_action,
    split_response,
    to_grid,
    to_pixels,
)
from autoglm_agent.errors import AutoGLMError

# AUTOGLM_HYPOTHESIS_EXAMPLES=20000 runs a longer bug hunt; no example database is written.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("AUTOGLM_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --------------------------------------------------------------------------------------------
# The table: real-world model outputs -> the action they mean (or an error and its reason).
# --------------------------------------------------------------------------------------------

Err = tuple[str, str]  # ("error", substring of the reason)


def err(fragment: str) -> Err:
    return ("error", fragment)


CASES: list[tuple[str, str, Action | Err]] = [
    # clean outputs, one per action
    (
        "clean-launch",
        '<think>The task needs WeChat.</think><answer>do(action="Launch", app="WeChat")</answer>',
        Launch(app="WeChat"),
    ),
    (
        "clean-tap",
        '<think>Tap search.</think><answer>do(action="Tap", element=[500,120])</answer>',
        Tap(element=(500, 120)),
    ),
    (
        "clean-sensitive-tap",
        '<think>Pay.</think><answer>do(action="Tap", element=[820,910], message="Pay 25.00")</answer>',
        Tap(element=(820, 910), message="Pay 25.00"),
    ),
    (
        "clean-type",
        '<think>t</think><answer>do(action="Type", text="weather tomorrow")</answer>',
        Type(text="weather tomorrow"),
    ),
    (
        "clean-type-name",
        '<answer>do(action="Type_Name", text="Alice Chen")</answer>',
        TypeName(text="Alice Chen"),
    ),
    (
        "clean-swipe",
        '<answer>do(action="Swipe", start=[500,800], end=[500,300])</answer>',
        Swipe(start=(500, 800), end=(500, 300)),
    ),
    (
        "clean-long-press",
        '<answer>do(action="Long Press", element=[300,450])</answer>',
        LongPress(element=(300, 450)),
    ),
    (
        "clean-double-tap",
        '<answer>do(action="Double Tap", element=[10,20])</answer>',
        DoubleTap(element=(10, 20)),
    ),
    ("clean-back", '<think>Close the dialog.</think><answer>do(action="Back")</answer>', Back()),
    ("clean-home", '<answer>do(action="Home")</answer>', Home()),
    ("clean-wait", '<answer>do(action="Wait", duration="2 seconds")</answer>', Wait(seconds=2)),
    (
        "clean-take-over",
        '<answer>do(action="Take_over", message="Please log in")</answer>',
        TakeOver(message="Please log in"),
    ),
    ("clean-note", '<answer>do(action="Note", message="Price: 860")</answer>', Note(message="Price: 860")),
    (
        "clean-call-api",
        '<answer>do(action="Call_API", instruction="Summarise the offers")</answer>',
        CallAPI(instruction="Summarise the offers"),
    ),
    ("clean-interact", '<answer>do(action="Interact")</answer>', Interact()),
    (
        "clean-finish",
        '<think>Done.</think><answer>finish(message="The alarm is set.")</answer>',
        Finish(message="The alarm is set."),
    ),
    # tags missing, partial, doubled, trailing
    ("no-tags", 'do(action="Tap", element=[1,2])', Tap(element=(1, 2))),
    (
        "no-tags-with-prose",
        'I will open settings.\ndo(action="Launch", app="Settings")',
        Launch(app="Settings"),
    ),
    ("only-answer-tag", '<answer>do(action="Home")', Home()),
    ("trailing-close-answer", 'do(action="Type", text="hello")</answer>', Type(text="hello")),
    ("doubled-close-answer", '<answer>do(action="Type", text="hello")</answer></answer>', Type(text="hello")),
    ("doubled-answer-tags", '<answer><answer>do(action="Back")</answer></answer>', Back()),
    ("unclosed-think-then-answer", '<think>I should go back\n<answer>do(action="Back")</answer>', Back()),
    (
        "unclosed-think-no-answer",
        '<think>The button is at the top. do(action="Tap", element=[900,80])',
        Tap(element=(900, 80)),
    ),
    ("close-think-only", 'reasoning from a template that opened the tag</think>\ndo(action="Home")', Home()),
    ("doubled-think", '<think><think>hmm</think></think><answer>do(action="Home")</answer>', Home()),
    (
        "reasoning-contains-example",
        '<think>An action looks like do(action="Tap", element=[1,1]) and I could finish(message="x"), '
        'but I will go back.</think><answer>do(action="Back")</answer>',
        Back(),
    ),
    (
        "answer-restates-action",
        '<answer>First do(action="Tap", element=[1,1]) was wrong, so: do(action="Tap", element=[2,2])</answer>',
        Tap(element=(2, 2)),
    ),
    (
        "whitespace-and-newlines",
        '\n\n  <think>\n  thinking\n  </think>\n\n  <answer>\n  do( action = "Tap" ,\n element = [ 500 , 300 ] )\n  </answer>\n\n',
        Tap(element=(500, 300)),
    ),
    ("special-tokens", '<answer>do(action="Home")</answer><|user|>', Home()),
    ("trailing-junk", 'do(action="Back") and then we will see.\n```', Back()),
    ("code-fence", '```python\ndo(action="Tap", element=[5,6])\n```', Tap(element=(5, 6))),
    ("text-after-answer-ignored", '<answer>do(action="Home")</answer>\ndo(action="Back")', Home()),
    # quoting
    ("single-quotes", "do(action='Type', text='hello world')", Type(text="hello world")),
    ("escaped-quotes", r'do(action="Type", text="He said \"hi\"")', Type(text='He said "hi"')),
    (
        "unescaped-inner-quotes",
        'do(action="Type", text="He said "hi" twice")',
        Type(text='He said "hi" twice'),
    ),
    ("broken-apostrophe", "do(action='Type', text='it's')", Type(text="it's")),
    ("escaped-apostrophe", r"do(action='Type', text='it\'s')", Type(text="it's")),
    ("escaped-backslash-and-newline", r'do(action="Type", text="a\\b\nc")', Type(text="a\\b\nc")),
    (
        "literal-newline-in-text",
        'do(action="Type", text="line one\nline two")',
        Type(text="line one\nline two"),
    ),
    ("type-with-punctuation", 'do(action="Type", text="f(x) = a, b")', Type(text="f(x) = a, b")),
    (
        "type-with-call-inside",
        r'do(action="Type", text="do(action=\"Back\")")',
        Type(text='do(action="Back")'),
    ),
    (
        "type-with-single-quoted-call",
        'do(action="Type", text="do(action=\'Back\')")',
        Type(text="do(action='Back')"),
    ),
    ("answer-tag-never-in-text", '<answer>do(action="Type", text="abc</answer>")</answer>', Type(text="abc")),
    ("bare-words", "do(action=Back)", Back()),
    ("bare-action-name-with-space", "do(action=Long Press, element=[10,20])", LongPress(element=(10, 20))),
    (
        "bare-finish-message",
        "finish(message=Done, the alarm is set)",
        Finish(message="Done, the alarm is set"),
    ),
    ("curly-quotes", "do(action=“Type”, text=“你好”)", Type(text="你好")),
    # Chinese
    ("chinese-launch", '<answer>do(action="Launch", app="微信")</answer>', Launch(app="微信")),
    ("chinese-finish", '<answer>finish(message="完成")</answer>', Finish(message="完成")),
    ("chinese-type", 'do(action="Type", text="你好，世界（测试）")', Type(text="你好，世界（测试）")),
    ("chinese-wait", 'do(action="Wait", duration="1.5 秒")', Wait(seconds=1.5)),
    # name variants
    ("name-lowercase-space", 'do(action="long press", element=[1,2])', LongPress(element=(1, 2))),
    ("name-camel", 'do(action="LongPress", element=[1,2])', LongPress(element=(1, 2))),
    ("name-underscore", 'do(action="Long_Press", element=[1,2])', LongPress(element=(1, 2))),
    ("name-type-name-lower", 'do(action="type_name", text="Bob")', TypeName(text="Bob")),
    ("name-take-over-variant", 'do(action="TakeOver", message="captcha")', TakeOver(message="captcha")),
    ("name-call-api-variant", 'do(action="call api", instruction="x")', CallAPI(instruction="x")),
    ("name-double-tap-lower", 'do(action="double_tap", element=[1,2])', DoubleTap(element=(1, 2))),
    # values
    ("wait-2s", 'do(action="Wait", duration="2s")', Wait(seconds=2)),
    ("wait-bare-number", 'do(action="Wait", duration=3)', Wait(seconds=3)),
    ("wait-string-number", 'do(action="Wait", duration="2")', Wait(seconds=2)),
    ("wait-ms", 'do(action="Wait", duration="500ms")', Wait(seconds=0.5)),
    ("wait-clamped", 'do(action="Wait", duration="5 minutes")', Wait(seconds=60)),
    ("wait-default", 'do(action="Wait")', Wait(seconds=1)),
    ("point-spaces", 'do(action="Tap", element=[ 500 , 300 ])', Tap(element=(500, 300))),
    ("point-floats", 'do(action="Tap", element=[500.4, 299.6])', Tap(element=(500, 300))),
    ("point-tuple", 'do(action="Tap", element=(12, 34))', Tap(element=(12, 34))),
    ("point-quoted", 'do(action="Tap", element="[12, 34]")', Tap(element=(12, 34))),
    ("point-1000-clamped", 'do(action="Tap", element=[1000, 0])', Tap(element=(999, 0))),
    ("trailing-comma", 'do(action="Back",)', Back()),
    ("tap-message-none", 'do(action="Tap", element=[1,2], message=None)', Tap(element=(1, 2))),
    ("extra-args-ignored", 'do(action="Tap", element=[1,2], reason="the button")', Tap(element=(1, 2))),
    ("finish-empty", "finish()", Finish(message="")),
    # errors
    ("empty", "", err("empty")),
    ("blank", "  \n\t ", err("empty")),
    ("only-thinking", "<think>I need to look at the screen first.</think>", err("only reasoning")),
    ("empty-answer", "<think>hmm</think><answer></answer>", err("only reasoning")),
    ("prose-only", "I think the task is complete.", err("no do(...) or finish(...) call")),
    ("unknown-action", 'do(action="Fly", element=[1,2])', err("not a known action")),
    ("negative-coordinate", 'do(action="Tap", element=[-5, 300])', err("0-999 grid")),
    ("too-large-coordinate", 'do(action="Tap", element=[540, 1200])', err("0-999 grid")),
    ("fraction-coordinates", 'do(action="Tap", element=[0.5, 0.25])', err("not fractions")),
    ("three-coordinates", 'do(action="Tap", element=[1,2,3])', err("exactly two numbers")),
    ("word-coordinates", 'do(action="Tap", element=[left, top])', err("two numbers")),
    ("missing-element", 'do(action="Tap")', err("Tap needs element=[x,y]")),
    ("missing-text", 'do(action="Type")', err('Type needs text="..."')),
    ("missing-swipe-end", 'do(action="Swipe", start=[1,2])', err("Swipe needs end=[x,y]")),
    ("missing-action", "do(element=[1,2])", err('needs action="..."')),
    ("duplicate-arg", 'do(action="Tap", element=[1,2], element=[3,4])', err("given twice")),
    ("negative-wait", 'do(action="Wait", duration="-2 seconds")', err("between 0 and 60")),
    ("bad-wait", 'do(action="Wait", duration="a while")', err("duration")),
    ("empty-launch", 'do(action="Launch", app="")', err("must not be empty")),
    ("finish-misspelled", 'finsh(message="done")', err("finish(")),
    ("finish-capitalised", 'Finish(message="done")', err("finish(")),
    ("finish-as-do-action", 'do(action="finish", message="done")', err("finish(")),
    ("json-garbage", '{"action": "Tap", "element": [500, 300]}', err("no do(...) or finish(...) call")),
    ("json-in-answer", '<answer>{"name": "do", "arguments": {"action": "Back"}}</answer>', err("no do(...)")),
    ("unterminated-string", 'do(action="Type", text="hello', err("not well-formed")),
    ("unbalanced", 'do(action="Tap", element=[1,2)', err("not well-formed")),
    ("positional-args", 'do("Tap", [1, 2])', err("not well-formed")),
    # calls inside broken calls never count (a truncated Type must not become a Finish)
    (
        "truncated-type-with-finish-inside",
        'do(action="Type", text="then finish(message=\'x\')',
        err("not well-formed"),
    ),
    (
        "truncated-type-with-call-inside",
        'do(action="Type", text="do(action=\'Back\')',
        err("not well-formed"),
    ),
    ("finish-glued-by-a-tag", 'fini</answer>sh(message="done")', err("no do(...) or finish(...) call")),
    (
        "broken-call-then-good-one",
        'First do(action="Tap", element=[1,1) was wrong, so: do(action="Tap", element=[2,2])',
        Tap(element=(2, 2)),
    ),
    ("prose-with-apostrophes", "I'll do (this), it's fine. do(action=\"Back\")", Back()),
    (
        "last-well-formed-wins",
        'do(action="Tap", element=[1,2]) then do(action="Type", text="cut',
        Tap(element=(1, 2)),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_parse_table(text: str, expected: Action | Err) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(ActionParseError) as info:
            parse_action(text)
        assert expected[1] in info.value.reason
        message = str(info.value)
        assert message.startswith("Your answer could not be parsed: ")
        assert 'do(action="Tap", element=[x,y]) or finish(message="...")' in message
        assert "\n" not in message
        assert isinstance(info.value, AutoGLMError)
    else:
        got = parse_action(text)
        assert got == expected
        assert type(got) is type(expected)


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    covered = {type(e).__name__ for _, _, e in CASES if not isinstance(e, tuple)}
    assert len(covered) == len(ACTION_NAMES)


# --------------------------------------------------------------------------------------------
# split_response
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        ('<think>r</think><answer>do(action="Back")</answer>', "r", 'do(action="Back")'),
        ('do(action="Back")', None, 'do(action="Back")'),
        ('<answer>do(action="Back")', None, 'do(action="Back")'),
        ('do(action="Back")</answer>', None, 'do(action="Back")'),
        ("<think>only thinking", "only thinking", ""),
        ('<think>tap it do(action="Back") ok', 'tap it do(action="Back") ok', 'do(action="Back")'),
        ('<answer></answer>do(action="Back")', None, 'do(action="Back")'),
        ("<think>r</think>", "r", ""),
        ('r</think>\nfinish(message="x")', "r", 'finish(message="x")'),
        ("<think><think>r</think></think><answer><answer>a</answer></answer>", "r", "a"),
        ("  \n <think>\n r \n</think>\n\n<answer>\n a \n</answer>\n", "r", "a"),
        ("<THINK>r</THINK><ANSWER>a</ANSWER>", "r", "a"),
        ("pre<answer>a</answer>post", "pre", "a"),
        ("", None, ""),
    ],
)
def test_split_response(text: str, reasoning: str | None, answer: str) -> None:
    assert split_response(text) == (reasoning, answer)


# --------------------------------------------------------------------------------------------
# Models, to_call and describe
# --------------------------------------------------------------------------------------------

EXAMPLES: list[tuple[Action, str]] = [
    (Launch(app="微信"), 'do(action="Launch", app="微信")'),
    (Tap(element=(500, 500)), 'do(action="Tap", element=[500,500])'),
    (Tap(element=(1, 2), message="Pay"), 'do(action="Tap", element=[1,2], message="Pay")'),
    (Type(text='say "hi"\n'), r'do(action="Type", text="say \"hi\"\n")'),
    (TypeName(text="Bob"), 'do(action="Type_Name", text="Bob")'),
    (Swipe(start=(1, 2), end=(3, 4)), 'do(action="Swipe", start=[1,2], end=[3,4])'),
    (LongPress(element=(5, 6)), 'do(action="Long Press", element=[5,6])'),
    (DoubleTap(element=(7, 8)), 'do(action="Double Tap", element=[7,8])'),
    (Back(), 'do(action="Back")'),
    (Home(), 'do(action="Home")'),
    (Wait(seconds=2), 'do(action="Wait", duration="2 seconds")'),
    (Wait(seconds=1.5), 'do(action="Wait", duration="1.5 seconds")'),
    (TakeOver(message="log in"), 'do(action="Take_over", message="log in")'),
    (Note(message="n"), 'do(action="Note", message="n")'),
    (CallAPI(instruction="sum"), 'do(action="Call_API", instruction="sum")'),
    (Interact(), 'do(action="Interact")'),
    (Finish(message="完成"), 'finish(message="完成")'),
    (Type(text="a</answer>b"), r'do(action="Type", text="a\u003c/answer>b")'),
]


@pytest.mark.parametrize(("action", "call"), EXAMPLES, ids=[c for _, c in EXAMPLES])
def test_to_call_is_canonical_and_round_trips(action: Action, call: str) -> None:
    assert action.to_call() == call
    assert parse_action(call) == action
    assert parse_action(f"<think>x</think><answer>{call}</answer>") == action
    assert "\n" not in action.describe()


def test_action_names_and_discriminator() -> None:
    assert ACTION_NAMES == (
        "Launch",
        "Tap",
        "Type",
        "Type_Name",
        "Swipe",
        "Long Press",
        "Double Tap",
        "Back",
        "Home",
        "Wait",
        "Take_over",
        "Note",
        "Call_API",
        "Interact",
        "finish",
    )
    for action, _ in EXAMPLES:
        dumped = action.model_dump(mode="json")
        assert ACTION_ADAPTER.validate_python(dumped) == action
        assert ACTION_ADAPTER.validate_json(action.model_dump_json()) == action


def test_describe() -> None:
    assert Tap(element=(1, 2)).describe() == "Tap at (1, 2)"
    assert "sensitive" in Tap(element=(1, 2), message="Pay").describe()
    assert Tap(element=(1, 2), message="Pay").sensitive
    assert not Tap(element=(1, 2)).sensitive
    assert Swipe(start=(1, 2), end=(3, 4)).describe() == "Swipe from (1, 2) to (3, 4)"
    assert Finish(message="ok").describe() == "Finish: 'ok'"
    assert len(Type(text="x" * 500).describe()) < 100


def test_models_validate() -> None:
    assert Tap(element=[1000, 5]).element == Point(999, 5)
    assert Tap(element=(3.6, 4)).element == (4, 4)
    for bad in ([-1, 5], [5, 1001], [1, 2, 3], "12", [True, 5], [float("nan"), 1], [0.5, 0.5]):
        with pytest.raises(ValidationError):
            Tap(element=bad)
    with pytest.raises(ValidationError):
        Wait(seconds=61)
    with pytest.raises(ValidationError):
        Wait(seconds=-1)
    with pytest.raises(ValidationError):
        Launch(app="  ")
    with pytest.raises(ValidationError):
        Tap(element=(1, 2), extra=1)
    with pytest.raises(ValidationError):
        Tap.model_validate({"action": "Back", "element": [1, 2]})
    a = Tap(element=(1, 2))
    with pytest.raises(ValidationError):
        a.element = Point(3, 4)  # type: ignore[misc]
    assert hash(a) == hash(Tap(element=(1, 2)))


# --------------------------------------------------------------------------------------------
# Coordinate mapping
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "size", "pixels"),
    [
        ((0, 0), (1080, 2400), (0, 0)),
        ((500, 500), (1080, 2400), (540, 1200)),
        ((999, 999), (1080, 2400), (1079, 2398)),
        ((999, 999), (1000, 1000), (999, 999)),
        ((999, 999), (140, 308), (139, 307)),
        ((500, 500), (1, 1), (0, 0)),
        ((1200, -5), (1080, 2400), (1079, 0)),  # out-of-grid tuples are clamped to the screen
        (Point(250, 750), (720, 1600), (180, 1200)),
    ],
)
def test_to_pixels(point: tuple[int, int], size: tuple[int, int], pixels: tuple[int, int]) -> None:
    assert to_pixels(point, *size) == pixels


def test_to_grid() -> None:
    assert to_grid(0, 0, 1080, 2400) == Point(0, 0)
    assert to_grid(540, 1200, 1080, 2400) == Point(500, 500)
    assert to_grid(1079, 2399, 1080, 2400) == Point(999, 999)
    assert to_grid(5000, -20, 1080, 2400) == Point(999, 0)
    assert isinstance(to_grid(1, 1, 10, 10), Point)


@pytest.mark.parametrize(("w", "h"), [(0, 100), (100, 0), (-1, 5), (True, 5)])
def test_mapping_rejects_bad_sizes(w: int, h: int) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        to_pixels((1, 1), w, h)
    with pytest.raises(ValueError, match="positive integer"):
        to_grid(1, 1, w, h)


points = st.builds(Point, st.integers(0, 999), st.integers(0, 999))


@PROPERTY_SETTINGS
@given(points, st.integers(1000, 5000), st.integers(1000, 5000))
def test_grid_pixel_grid_is_exact_on_large_screens(p: Point, w: int, h: int) -> None:
    px, py = to_pixels(p, w, h)
    assert 0 <= px < w and 0 <= py < h
    assert to_grid(px, py, w, h) == p


@PROPERTY_SETTINGS
@given(st.data(), st.integers(1, 1000), st.integers(1, 1000))
def test_pixel_grid_pixel_is_exact_on_small_screens(data: st.DataObject, w: int, h: int) -> None:
    x = data.draw(st.integers(0, w - 1))
    y = data.draw(st.integers(0, h - 1))
    assert to_pixels(to_grid(x, y, w, h), w, h) == (x, y)


# --------------------------------------------------------------------------------------------
# Property tests of the parser
# --------------------------------------------------------------------------------------------

FRAGMENTS = [
    "do(",
    "do (",
    "finish(",
    "Finish(",
    "fin",
    "ish(",
    "action=",
    'action="Tap"',
    'action="Back"',
    "action='Type'",
    "element=",
    "[500,300]",
    "[",
    "]",
    "(",
    ")",
    ",",
    "=",
    '"',
    "'",
    "\\",
    '\\"',
    "“",
    "”",
    "message=",
    "text=",
    "duration=",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<|user|>",
    "\n",
    " ",
    "1000",
    "-5",
    "0.5",
    "微信",
]
junk = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=40).map("".join),
)


@PROPERTY_SETTINGS
@given(junk)
def test_arbitrary_text_raises_only_parse_errors(text: str) -> None:
    try:
        action = parse_action(text)
    except ActionParseError as e:
        assert str(e).startswith("Your answer could not be parsed: ")
        assert "\n" not in str(e)
    else:
        assert type(action).__name__ in {
            "Launch",
            "Tap",
            "Type",
            "TypeName",
            "Swipe",
            "LongPress",
            "DoubleTap",
            "Back",
            "Home",
            "Wait",
            "TakeOver",
            "Note",
            "CallAPI",
            "Interact",
            "Finish",
        }


@PROPERTY_SETTINGS
@given(junk)
def test_parsing_the_split_answer_gives_the_same_result(text: str) -> None:
    def outcome(t: str) -> object:
        try:
            return parse_action(t)
        except ActionParseError:
            return "error"

    _, answer = split_response(text)
    assert outcome(answer) == outcome(text)


@PROPERTY_SETTINGS
@given(junk.filter(lambda t: "finish(" not in t))
def test_no_finish_without_an_explicit_finish_call(text: str) -> None:
    for t in (text, split_response(text)[1]):
        try:
            action = parse_action(t)
        except ActionParseError:
            continue
        assert not isinstance(action, Finish)


# Any text, with the characters that are hardest for a parser mixed in.
hard_text = st.one_of(
    st.text(),
    st.lists(
        st.one_of(
            st.sampled_from(
                ['"', "'", "\\", "</answer>", "<answer>", "<think>", "</think>", "\n", "\r\n", "\t"]
            ),
            st.sampled_from(
                ["<|user|>", "\\u003c", "\\n", "do(", "finish(", ")", "]", "“", "”", "，", "微信"]
            ),
            st.text(max_size=8),
        ),
        max_size=20,
    ).map("".join),
)
non_blank = st.tuples(st.text(max_size=10), st.characters(categories=["L", "N", "P", "S"]), hard_text).map(
    "".join
)
waits = st.floats(min_value=0.0, max_value=60.0, allow_nan=False, allow_infinity=False)
actions = st.one_of(
    st.builds(Launch, app=non_blank),
    st.builds(Tap, element=points, message=st.none() | hard_text),
    st.builds(Type, text=hard_text),
    st.builds(TypeName, text=hard_text),
    st.builds(Swipe, start=points, end=points),
    st.builds(LongPress, element=points),
    st.builds(DoubleTap, element=points),
    st.just(Back()),
    st.just(Home()),
    st.builds(Wait, seconds=waits),
    st.builds(TakeOver, message=hard_text),
    st.builds(Note, message=hard_text),
    st.builds(CallAPI, instruction=hard_text),
    st.just(Interact()),
    st.builds(Finish, message=hard_text),
)


@PROPERTY_SETTINGS
@given(actions)
def test_every_action_round_trips(action: Action) -> None:
    call = action.to_call()
    assert parse_action(call) == action
    assert split_response(call) == (None, call)


@PROPERTY_SETTINGS
@given(actions, st.text(max_size=80).filter(lambda t: "<" not in t))
def test_round_trip_inside_a_full_response(action: Action, reasoning: str) -> None:
    call = action.to_call()
    response = f"<think>{reasoning}</think>\n<answer>{call}</answer>"
    assert parse_action(response) == action
    got_reasoning, answer = split_response(response)
    assert answer == call
    assert got_reasoning == (reasoning.strip() or None)


@pytest.mark.timeout(60)  # a catastrophic-backtracking parser would hang here
def test_pathological_input_is_refused() -> None:
    texts = [
        'do(action="' * 5000,
        "do(a=" + "'x'," * 5000,
        "do(text=" + "a," * 5000,
        'do(action="Type", text="' + "\\" * 20000,
    ]
    for text in texts:
        with pytest.raises(ActionParseError):
            parse_action(text)


@pytest.mark.timeout(60)
def test_long_clean_answers_still_parse() -> None:
    long_text = "x, y " * 6000
    response = (
        "<think>" + "I look at the screen. " * 2000 + "</think><answer>" + Type(text=long_text).to_call()
    )
    assert parse_action(response) == Type(text=long_text)
