"""A pytest plugin for the drift check: appends ``node id<TAB>first line of the error`` for each
failed test to the file named by ``AUTOGLM_FAILURES_FILE`` (loaded with ``-p pytest_failures`` and
``scripts/`` on the path)."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("AUTOGLM_FAILURES_FILE")
    if not (path and report.failed):
        return
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message.strip():
        first = crash.message.strip().splitlines()[0]
    else:  # no crash location (a collection error, a plain string): its last line says what broke
        lines = str(report.longrepr).strip().splitlines()
        first = lines[-1].strip() if lines else ""
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{report.nodeid}\t{first[:200]}\n")
