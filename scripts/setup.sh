#!/usr/bin/env bash
# Set up a development/demo environment in ./.venv:
#   - system tools the project drives (adb; espeak-ng and sox for voice tests; a CJK font)
#   - torch: kept if the venv already has one (bring your own CUDA build first); otherwise
#     ${AUTOGLM_TORCH_SPEC:-torch==2.13.0}, which on the project's CPU machines is the local CPU build
#   - the package itself with the [server], [dev] and [onnx] extras, editable
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: Python 3.11 or newer is needed (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 2
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
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    .venv/bin/pip install -q "${AUTOGLM_TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/pip install -q -e ".[server,dev,onnx]"
echo "ready: .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
