#!/usr/bin/env bash
# Drift check: install the newest versions pyproject.toml allows into a throwaway venv, run the fast
# tests, and report which packages moved from requirements-lock.txt and what broke (scripts/drift.py).
#   bash scripts/drift.sh [--lowest] [--keep] [--report FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python scripts/drift.py "$@"
