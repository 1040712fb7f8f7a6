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


def test_environment_settings_reach_eval_and_serve(tmp_path) -> None:
    import json as _json
    import os as _os
    import subprocess as _subprocess
    import sys as _sys

    def cli(*args: str, **env: str) -> _subprocess.CompletedProcess[str]:
        return _subprocess.run(
            [_sys.executable, "-m", "autoglm_agent.cli", *args],
            capture_output=True, text=True, timeout=120, env={**_os.environ, **env}, cwd=tmp_path,
        )  # fmt: skip

    listed = cli("eval", "--list", "--json", "--tasks", "open-settings")
    assert listed.returncode == 0 and _json.loads(listed.stdout)[0]["id"] == "open-settings"
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("eval", "--tasks", "open-settings", AUTOGLM_MODEL_PATH=str(empty))
    assert proc.returncode != 0 and f"no checkpoint in {empty}" in proc.stderr
    proc = cli("serve", "--port", "0", AUTOGLM_ASR_MODEL=str(tmp_path / "no-asr"))
    assert proc.returncode != 0 and "no-asr" in proc.stderr and "Traceback" not in proc.stderr
