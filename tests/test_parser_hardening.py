"""The answer parser stays linear on long adversarial input, and noise around a call is tolerated.

Timings are checked with generous bounds only; the real check is the parser's own work counter
(``actions._WORK.chars``, characters scanned), which must grow linearly with the input.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_actions import actions as action_strategy

from autoglm_agent import actions
from autoglm_agent.actions import ActionParseError, Finish, Wait, parse_action, split_response

SETTINGS = settings(
    max_examples=int(os.environ.get("AUTOGLM_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Shapes of degenerate answers, each about n characters long.
SHAPES: dict[str, Callable[[int], str]] = {
    "spaces-in-duration": lambda n: 'do(action="Wait", duration="1' + " " * n + 'x")',
    "spaces-in-point": lambda n: 'do(action="Tap", element="' + " " * n + '1x")',
    "spaces-after-lt": lambda n: "<" + " " * n + "x",
    "nested-tags": lambda n: "<" * (n // 7) + "think>" * (n // 7),
    "partial-tags": lambda n: "<think" * (n // 6) + 'do(action="Back")',
    "nested-answer-tags": lambda n: "<answer>" * (n // 17) + 'do(action="Back")' + "</answer>" * (n // 17),
    "repeated-do": lambda n: "do(" * (n // 3),
    "repeated-do-type": lambda n: 'do(action="Type", text="' * (n // 24),
    "broken-calls": lambda n: 'do(action="Tap", element=[1,1) ' * (n // 31),
    "calls-in-open-string": lambda n: 'do(action="Type", text="' + "do(" * (n // 3),
    "unclosed-quotes": lambda n: 'do(action="Type", text="a' + '" ' * (n // 2),
    "quotes-and-commas": lambda n: "do(a='x', b='" + "'," * (n // 2),
    "alternating-quotes": lambda n: 'do(action="Type", text="' + "\"'" * (n // 2),
    "deep-brackets": lambda n: 'do(action="Tap", element=' + "[" * n,
    "bare-commas": lambda n: "do(text=" + "a," * (n // 2),
    "backslashes": lambda n: 'do(action="Type", text="' + "\\" * n,
    "many-arguments": lambda n: 'do(action="Type", text="x", ' + 'a="b", ' * (n // 7),
    "quoted-arguments-in-text": lambda n: 'do(action="Type", text="' + '", t="' * (n // 6),
    "finish-like-words": lambda n: "中fish" * (n // 5) + "(",
    "valid-long-type": lambda n: 'do(action="Type", text="' + "x, y " * (n // 5) + '")',
}
SIZES = (1_000, 4_000, 16_000, 64_000)
# Shapes that hold one valid call; in the others, tags are removed before the length check.
PARSES = {"valid-long-type", "partial-tags", "nested-answer-tags"}
TAGS_ONLY = {"nested-tags", "nested-answer-tags"}


def _measure(text: str) -> tuple[float, int, object]:
    actions._WORK.chars = 0
    t0 = time.perf_counter()
    try:
        got: object = parse_action(text)
    except ActionParseError as e:
        got = e
    return time.perf_counter() - t0, actions._WORK.chars, got


def test_the_reported_example_is_fast_and_still_refused() -> None:
    for n in (3_000, 4_000):
        seconds, _, got = _measure('do(action="Wait", duration="1' + " " * n + 'x")')
        assert seconds < 0.5
        assert isinstance(got, ActionParseError)
        assert "duration" in got.reason
    assert parse_action('do(action="Wait", duration="  2' + " " * 5000 + 'seconds ")') == Wait(seconds=2)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_work_grows_linearly(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lift the length cap so that the parser itself is measured, not the refusal.
    monkeypatch.setattr(actions, "_MAX_ANSWER_CHARS", 10**9)
    make = SHAPES[shape]
    # The fastest of three runs: a pause of the machine must not read as super-linear growth.
    runs = {n: min((_measure(make(n)) for _ in range(3)), key=lambda r: r[0]) for n in SIZES}
    for n in SIZES:
        seconds, work, got = runs[n]
        text = make(n)
        assert isinstance(got, ActionParseError) or shape in PARSES
        assert work <= 40 * len(text) + 1_000, (n, work)  # bounded work per input character
        assert seconds < 3.0, (n, seconds)  # generous: about 0.1 s here
    for small, big in itertools.pairwise(SIZES):
        assert runs[big][1] < 6 * runs[small][1], (small, big, runs[small][1], runs[big][1])
        # Wall time: the same ratio, with slack for timer noise on tiny inputs.
        assert runs[big][0] < 6 * runs[small][0] + 0.1, (small, big, runs[small][0], runs[big][0])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_long_answers_are_refused_quickly(shape: str) -> None:
    text = SHAPES[shape](64_000)
    for candidate in (text, f"<think>r</think><answer>{text}</answer>"):
        seconds, _, got = _measure(candidate)
        assert seconds < 0.5
        t0 = time.perf_counter()
        split_response(candidate)  # never raises; as fast
        assert time.perf_counter() - t0 < 0.5
        if shape in TAGS_ONLY:  # the tags go; what is left is short
            continue
        assert isinstance(got, ActionParseError)
        assert "too long" in got.reason
        assert "\n" not in str(got)


def test_a_huge_reply_is_refused_before_splitting() -> None:
    with pytest.raises(ActionParseError, match="too long"):
        parse_action("x" * (actions._MAX_REPLY_CHARS + 1))


# --------------------------------------------------------------------------------------------
# Generative: long adversarial inputs
# --------------------------------------------------------------------------------------------

PIECES = [
    "do(",
    "do (",
    "finish(",
    'do(action="Type", text="',
    "action=",
    "text=",
    "a=",
    '"',
    "'",
    "“",
    "”",
    "\\",
    '\\"',
    "\\u003c",
    ",",
    ")",
    "(",
    "[",
    "]",
    "=",
    " ",
    "   ",
    "\n",
    "<",
    ">",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<|user|>",
    "fin",
    "fish",
    "中",
    "1",
    "x",
]
long_junk = st.tuples(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join),
    st.integers(50, 2_000),
    st.lists(st.sampled_from(PIECES), max_size=6).map("".join),
).map(lambda t: t[0] * t[1] + t[2])

TRIED = {"long": 0, "noise": 0}


@SETTINGS
@given(long_junk)
def test_long_adversarial_input_is_linear(text: str) -> None:
    TRIED["long"] += 1
    seconds, work, got = _measure(text)
    assert work <= 40 * len(text) + 1_000
    assert seconds < 0.5 + len(text) / 20_000  # generous: a few ms here
    if isinstance(got, ActionParseError):
        assert str(got).startswith("Your answer could not be parsed: ")
        assert "\n" not in str(got)
    elif "finish(" not in text:
        assert not isinstance(got, Finish)


# --------------------------------------------------------------------------------------------
# Generative: a well-formed call wrapped in tolerated noise parses to the same action
# --------------------------------------------------------------------------------------------

# Prose with no tags and no call in it (a word glued to "do(" would hide it, so lines are used).
prose = st.text(max_size=60).filter(lambda t: "<" not in t and "do" not in t.lower() and "finish" not in t)
WRAPPERS: list[Callable[[str, str], str]] = [
    lambda call, r: f"<think>{r}</think><answer>{call}</answer>",
    lambda call, r: f"<think>{r}</think>\n<answer>{call}",  # the reference model's answers
    lambda call, r: f"{r}</think>\n{call}",
    lambda call, r: f"<think>{r}\n<answer>{call}</answer>",
    lambda call, r: f"<answer><answer>{call}</answer></answer>",
    lambda call, r: f"{call}</answer>",
    lambda call, r: f"<THINK>{r}</THINK><ANSWER>{call}</ANSWER><|user|>",
    lambda call, r: f"{r}\n{call}",
    lambda call, r: f"```python\n{call}\n```",
    lambda call, r: f"\n  <think>\n{r}\n</think>\n\n  <answer>\n  {call}\n  </answer>\n\n",
    lambda call, r: f"<think>{r}</think><answer>{call}</answer>\n</answer>",
]


@SETTINGS
@given(action_strategy, prose, st.integers(0, len(WRAPPERS) - 1))
def test_noise_around_a_call_is_tolerated(action: object, reasoning: str, wrapper: int) -> None:
    TRIED["noise"] += 1
    call = action.to_call()  # type: ignore[attr-defined]
    text = WRAPPERS[wrapper](call, reasoning)
    assert parse_action(text) == action
    assert parse_action(split_response(text)[1]) == action


def test_report_how_many_generated_inputs_held() -> None:
    # Runs after the property tests in file order; prints the counts with `pytest -s`.
    print(f"\ngenerated inputs that held: {TRIED}")
