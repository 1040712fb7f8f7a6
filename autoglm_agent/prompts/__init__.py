"""System prompts for the phone agent (Chinese and English).

The prompt texts live next to this module as ``zh.md`` and ``en.md`` (package data) and are read
with :mod:`importlib.resources`. The date is filled in each time :func:`system_prompt` is called,
never at import, so a long-running agent always tells the model the current day.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from typing import Literal

from autoglm_agent.errors import ConfigError

__all__ = ["DATE_PLACEHOLDER", "LANGUAGES", "Language", "format_date", "prompt_template", "system_prompt"]

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
#: Replaced by the formatted date (plain text replacement: other braces are left alone).
DATE_PLACEHOLDER = "{date}"

_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _check_lang(lang: str) -> Language:
    if lang not in LANGUAGES:
        raise ConfigError(f"unknown prompt language {lang!r}; use 'zh' or 'en'")
    return lang  # type: ignore[return-value]


def format_date(when: datetime, lang: Language = "zh") -> str:
    """The date with its weekday: ``2026年11月25日 星期三`` / ``Wednesday, November 25, 2026``.

    Locale-independent (no ``strftime("%A")``), so the result does not depend on the machine.
    """
    lang = _check_lang(lang)
    weekday = when.weekday()
    if lang == "zh":
        return f"{when.year}年{when.month}月{when.day}日 {_ZH_WEEKDAYS[weekday]}"
    return f"{_EN_WEEKDAYS[weekday]}, {_EN_MONTHS[when.month - 1]} {when.day}, {when.year}"


@cache
def prompt_template(lang: Language = "zh") -> str:
    """The raw prompt text for ``lang``, with its ``{date}`` placeholder unfilled."""
    lang = _check_lang(lang)
    return resources.files(__package__).joinpath(f"{lang}.md").read_text(encoding="utf-8")


def system_prompt(
    lang: Language = "zh",
    *,
    now: datetime | None = None,
    override: str | None = None,
) -> str:
    """The system prompt in ``lang`` with today's date (or ``now``'s) filled in.

    ``override`` replaces the built-in text with a custom prompt; a ``{date}`` placeholder in it is
    filled the same way (in ``lang``'s date format) and the text is otherwise returned as given.
    Nothing is cached across calls except the template text itself.
    """
    lang = _check_lang(lang)
    template = override if override is not None else prompt_template(lang)
    date = format_date(now if now is not None else datetime.now(), lang)
    return template.replace(DATE_PLACEHOLDER, date)
