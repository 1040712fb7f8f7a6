#!/usr/bin/env bash
# Refresh requirements-lock.txt, the exact dependency set that scripts/setup.sh installs and CI tests.
#
#   bash scripts/lock.sh                          # after editing dependencies in pyproject.toml
#   bash scripts/lock.sh --upgrade                # move every package to the newest allowed version
#   bash scripts/lock.sh --upgrade-package httpx2 # move one
#
# Then: bash scripts/setup.sh && bash scripts/test.sh, and commit the lock with the change.
# The lock is one universal `uv pip compile` of the base dependencies and every extra, valid on
# Python 3.11 and 3.12 (environment markers pick the lines). Versions already in the lock are kept
# unless asked to move. torch is resolved as the build in .venv (on the project's machines the CPU
# build, found through $AUTOGLM_TORCH_FIND_LINKS, default /opt/wheels) but left out of the lock,
# so users keep their own torch; its CPU-build dependencies are locked.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/uv ]; then
    echo "error: .venv has no uv (a [dev] dependency); run: bash scripts/setup.sh" >&2
    exit 2
fi
torch_version=$(.venv/bin/python -c 'from importlib.metadata import version; print(version("torch"))')
links=${AUTOGLM_TORCH_FIND_LINKS:-/opt/wheels}
find_links=()
[ -d "$links" ] && find_links=(--find-links "$links")

.venv/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
    "${find_links[@]}" --override <(echo "torch==$torch_version") --no-emit-package torch \
    --custom-compile-command "bash scripts/lock.sh" -q -o requirements-lock.txt "$@"

if grep -qiE '^(nvidia-|triton|cuda-)' requirements-lock.txt; then
    echo "error: the lock picked up CUDA packages: torch was resolved as a CUDA build ($torch_version);" \
        "lock against the CPU build (set AUTOGLM_TORCH_FIND_LINKS to a folder holding its wheel)" >&2
    exit 1
fi
echo "requirements-lock.txt: $(grep -cE '^[a-z0-9]' requirements-lock.txt) pinned lines (torch $torch_version left out)"
