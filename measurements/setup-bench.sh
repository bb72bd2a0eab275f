#!/usr/bin/env bash
# Create .venv-bench: the project's pinned CPU environment plus EleutherAI lm-eval, for
# measurements/lm_eval_compare.py. A separate venv, so that lm-eval and its dependencies
# (evaluate, sacrebleu, scikit-learn, ...) never enter .venv, the project's environment.
#
# torch/transformers/datasets/... stay at the pins of envs/cpu.txt (passed as constraints), and
# torch comes from the local CPU wheel as in scripts/setup.sh (pip's find-links; elsewhere set
# PROGALIGN_TORCH_INDEX=https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
LM_EVAL_VERSION=${LM_EVAL_VERSION:-0.4.13}
PYTHON=${PYTHON:-python3}
if [ ! -x .venv-bench/bin/python ]; then
  "$PYTHON" -m venv .venv-bench
fi
extra=()
if [ -n "${PROGALIGN_TORCH_INDEX:-}" ]; then
  extra+=(--extra-index-url "$PROGALIGN_TORCH_INDEX")
fi
.venv-bench/bin/python -m pip install --quiet --upgrade pip
# pip refuses constraints with extras (snakemake[reports]): strip them for the constraints copy
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
sed 's/\[[^]]*\]//' envs/cpu.txt > "$constraints"
.venv-bench/bin/python -m pip install --quiet "${extra[@]}" -r envs/cpu.txt \
  "lm-eval[hf]==${LM_EVAL_VERSION}" -c "$constraints"
.venv-bench/bin/python -m pip install --quiet --no-deps -e .
.venv-bench/bin/python - <<'EOF'
import lm_eval, torch, transformers
from lm_eval.models.huggingface import HFLM  # noqa: F401  (fails here if HFLM cannot import)
print("bench environment ready: lm-eval", lm_eval.__version__, "torch", torch.__version__,
      "transformers", transformers.__version__)
EOF
