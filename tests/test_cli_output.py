"""The CLI's live output shows model and user text verbatim: square brackets are not rich markup."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from autoglm_agent import actions as A
from autoglm_agent import cli
from autoglm_agent.agent import StepRecord


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buf, width=200, highlight=False, color_system=None))
    return buf


def test_actions_and_errors_keep_their_brackets(out: io.StringIO) -> None:
    cb = cli._RichCallbacks()
    cb.on_run_start("type [en] [/] in Notes")
    cb.on_step_start(1, None, "com.example/[x]")
    cb.on_thinking("tap [bold]")
    cb.on_action(1, A.Tap(element=A.Point(500, 170)))
    cb.on_parse_error(1, 'answer like do(action="Tap", element=[x,y])', "")
    cb.on_retry(1, 2, "server said [/red]")
    cb.on_step_end(StepRecord(index=1, error="bad [/] thing"))
    text = out.getvalue()
    for shown in (
        "Task: type [en] [/] in Notes",
        "com.example/[x]",
        "tap [bold]",
        'do(action="Tap", element=[500,170])',
        "element=[x,y])",
        "retry 2: server said [/red]",
        "bad [/] thing",
    ):
        assert shown in text, (shown, text)
