"""Tests for the system prompts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from autoglm_agent.actions import ACTION_NAMES, parse_action
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.prompts import (
    DATE_PLACEHOLDER,
    LANGUAGES,
    Language,
    format_date,
    prompt_template,
    system_prompt,
)

NOV_25 = datetime(2026, 11, 25, 9, 30)


def test_date_formats() -> None:
    assert format_date(NOV_25, "zh") == "2026年11月25日 星期三"
    assert format_date(NOV_25, "en") == "Wednesday, November 25, 2026"
    assert format_date(datetime(2027, 1, 3), "zh") == "2027年1月3日 星期日"
    assert format_date(datetime(2027, 1, 3), "en") == "Sunday, January 3, 2027"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_date_is_filled_at_each_call(lang: Language) -> None:
    first = system_prompt(lang, now=NOV_25)
    later = system_prompt(lang, now=NOV_25 + timedelta(days=1))
    assert format_date(NOV_25, lang) in first
    assert format_date(NOV_25 + timedelta(days=1), lang) in later
    assert format_date(NOV_25, lang) not in later
    assert DATE_PLACEHOLDER not in first
    # The template keeps its placeholder: nothing was filled at import.
    assert DATE_PLACEHOLDER in prompt_template(lang)


def test_default_date_is_today() -> None:
    before = format_date(datetime.now(), "zh")
    prompt = system_prompt()
    after = format_date(datetime.now(), "zh")
    assert before in prompt or after in prompt
    assert "今天是" in prompt


def test_timezone_aware_now() -> None:
    late = datetime(2026, 11, 25, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    assert "2026年11月25日 星期三" in system_prompt("zh", now=late)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_action_is_described(lang: Language) -> None:
    prompt = system_prompt(lang, now=NOV_25)
    for name in ACTION_NAMES:
        needle = "finish(message=" if name == "finish" else f'do(action="{name}"'
        assert needle in prompt, f"{lang} prompt does not show {name}"
    assert "<think>" in prompt and "</think>" in prompt
    assert "<answer>" in prompt and "</answer>" in prompt
    assert "0-999" in prompt
    assert "[0,0]" in prompt


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_example_in_the_prompt_parses_to_itself(lang: Language) -> None:
    prompt = system_prompt(lang, now=NOV_25)
    examples = re.findall(r"^- ((?:do|finish)\(.*\))\s*$", prompt, flags=re.MULTILINE)
    assert len(examples) >= len(ACTION_NAMES)
    seen = set()
    for example in examples:
        action = parse_action(example)
        assert action.to_call() == example  # the prompt teaches the canonical spelling
        seen.add(action.action)
    assert seen == set(ACTION_NAMES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_rules_are_present(lang: Language) -> None:
    prompt = system_prompt(lang, now=NOV_25)
    for word in ("Take_over", "Launch", "message=", "Wait"):
        assert word in prompt
    # the prompt-injection rule
    assert ("instructions" in prompt) if lang == "en" else ("不是指令" in prompt)


def test_prompt_sizes() -> None:
    assert len(prompt_template("en").split()) < 900
    # Chinese has no spaces: bound the characters instead (about as long as the English one).
    assert len(prompt_template("zh")) < 2600


@pytest.mark.parametrize("lang", LANGUAGES)
def test_override(lang: Language) -> None:
    custom = 'You drive a phone. Date: {date}. Reply with JSON like {"a": 1}.'
    got = system_prompt(lang, now=NOV_25, override=custom)
    assert got == custom.replace("{date}", format_date(NOV_25, lang))
    assert system_prompt(lang, now=NOV_25, override="No date here.") == "No date here."
    assert system_prompt(lang, now=NOV_25, override="") == ""


def test_unknown_language() -> None:
    with pytest.raises(AutoGLMError, match="unknown prompt language"):
        system_prompt("fr", now=NOV_25)  # type: ignore[arg-type]


def test_languages_differ() -> None:
    zh = system_prompt("zh", now=NOV_25)
    en = system_prompt("en", now=NOV_25)
    assert zh != en
    assert "手机" in zh
    assert "phone" in en
