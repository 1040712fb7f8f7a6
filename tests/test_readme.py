"""The README's Python API snippets run as printed (a user copies them first)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from autoglm_agent.testing import ScriptedEndpoint

ROOT = Path(__file__).resolve().parents[1]


def _api_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API") : text.index("\n## ", text.index("## Python API") + 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _run(code: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_served_model_snippet_runs_against_an_endpoint(fresh_simulator, tmp_path: Path) -> None:
    served, _offline = _api_snippets()
    think = "<think>Settings is open and Wi-Fi is on.</think>"
    with ScriptedEndpoint(
        [
            f'{think}<answer>finish(message="Wi-Fi is on")</answer>',
            "<think>I am asked who I am.</think>AutoGLM",
        ]
    ) as ep:
        code = served.replace("http://127.0.0.1:8000/v1", ep.base_url).replace(
            "AdbDevice()", f"AdbDevice({fresh_simulator.serial!r})"
        )
        out = _run(code, tmp_path).splitlines()
    assert out[0] == "autoglm (prompt from phone-agent 0.1.1, zh prompt)"  # chosen by the model name
    assert out[1] == "success Wi-Fi is on 1"
    assert out[2] == "I am asked who I am. AutoGLM"


def test_offline_demo_snippet_opens_settings(tmp_path: Path) -> None:
    _served, offline = _api_snippets()
    out = _run(offline, tmp_path)
    assert out.strip().splitlines()[-1] == "success com.android.settings"
