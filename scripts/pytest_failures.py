"""A pytest plugin for the drift check: writes the node ids of failed tests, one a line, to the file
named by ``AUTOGLM_FAILURES_FILE`` (loaded with ``-p pytest_failures`` and ``scripts/`` on the path)."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("AUTOGLM_FAILURES_FILE")
    if path and report.failed:
        with open(path, "a", encoding="utf-8") as out:
            out.write(report.nodeid + "\n")
