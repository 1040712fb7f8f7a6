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
    message = getattr(crash, "message", None) or str(report.longrepr).strip().splitlines()[-1:] or [""]
    first = (message if isinstance(message, str) else message[0]).strip().splitlines()
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"{report.nodeid}\t{(first[0] if first else '')[:200]}\n")
