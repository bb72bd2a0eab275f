#!/usr/bin/env bash
# Create .venv in the checkout and install the pinned CPU environment (envs/cpu.txt) + dev tools.
# torch must be the CPU build: where pip has no local CPU wheel, set
#   PROGALIGN_TORCH_INDEX=https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extra=()
if [ -n "${PROGALIGN_TORCH_INDEX:-}" ]; then
  extra+=(--extra-index-url "$PROGALIGN_TORCH_INDEX")
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${extra[@]}" -r envs/cpu.txt -r envs/dev.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
.venv/bin/python -c "import torch; print('progalign environment ready: torch', torch.__version__)"
