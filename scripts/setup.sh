#!/usr/bin/env bash
# Set up a development/demo environment in ./.venv with exactly the locked dependency set:
#   - system tools the project drives (adb; espeak-ng and sox for voice tests; a CJK font)
#   - Python: $PYTHON, else the newest supported interpreter found (3.12, then 3.11)
#   - torch: kept if the venv already has one (bring your own CUDA build first); otherwise
#     ${AUTOGLM_TORCH_SPEC:-torch==2.13.0}, which on the project's CPU machines is the local CPU build
#   - every other package at the version pinned in requirements-lock.txt (scripts/lock.sh makes it),
#     then the package itself, editable, with its [server], [dev] and [onnx] extras
#   - the official client's package (phone-agent) for the autoglm profile: from the lock on 3.12+,
#     else its pinned wheel fetched into the cache (autoglm-agent reference fetch)
#   - .venv is the project's: packages in it that the lock does not list (torch and what torch
#     needs aside) are uninstalled, so it holds exactly what CI tests
set -euo pipefail
cd "$(dirname "$0")/.."

supported() { "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; }

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
    if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        echo "error: PYTHON=$PY is not Python 3.11 or newer; set PYTHON=/path/to/python3.12 (or 3.11)" >&2
        exit 2
    fi
else
    PY=
    for candidate in python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && supported "$candidate"; then
            PY=$candidate
            break
        fi
    done
    if [ -z "$PY" ]; then
        echo "error: Python 3.12 or 3.11 is needed and none was found; install one or set PYTHON=/path/to/python3" >&2
        exit 2
    fi
fi

missing=()
command -v adb >/dev/null || missing+=(adb)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "warning: please install ${missing[*]} with your package manager (adb is required)" >&2
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
torch_spec=()
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    torch_spec=("${AUTOGLM_TORCH_SPEC:-torch==2.13.0}")
    echo "installing ${torch_spec[0]} (bring your own build by installing it into .venv first)"
fi
.venv/bin/python -m pip install -q "${torch_spec[@]}" -r requirements-lock.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python scripts/lockfile.py sync
.venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; exit 1; }
# the official AutoGLM client's prompts and app table (the autoglm profile reads them at run time):
# installed from the lock on Python 3.12+; on 3.11 its pinned, hash-checked wheel goes to the cache
.venv/bin/python -c 'import phone_agent' 2>/dev/null || .venv/bin/autoglm-agent reference fetch
if ! err=$(.venv/bin/python -c 'import torch, transformers, autoglm_agent.cli' 2>&1); then
    echo "error: the environment does not import: ${err##*$'\n'}" >&2
    exit 1
fi
echo "ready: .venv ($(.venv/bin/python -c 'import sys, torch; print(f"Python {sys.version.split()[0]}, torch {torch.__version__}")'))"
