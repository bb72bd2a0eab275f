#!/usr/bin/env bash
# GPU check for a machine with one (or two) CUDA GPUs, torch and transformers preinstalled and
# no network (measurements/RESULTS.md, "GPU check"). From a copy of the repository, nothing
# installed:
#
#   bash measurements/gpu_check.sh [OUT_DIR]        default: $OUT, else measurements/out/gpu-check
#
#   env          versions, GPUs, driver
#   backend      progalign's HF evaluation backend on a tiny random Llama built here: bf16 (and
#                fp32) on CUDA against fp32 on the CPU -- max |Δ log-prob|, argmax agreement
#   vllm         progalign's vLLM backend (bf16) against the same fp32 CPU scores (skipped without
#                vLLM, i.e. outside the GPU image)
#   train        one DPO step and one SFT step on CUDA through progalign's training stages
#                (skipped, not failed, when trl/datasets/accelerate/pydantic are missing)
#   two-process  the DPO step as `accelerate launch --num_processes 2` (DDP) when there are 2 GPUs,
#                compared with the 1-process step; otherwise skipped
#
# Each part writes OUT_DIR/<part>.json; everything printed also goes to OUT_DIR/gpu_check.log.
# A failed part does not stop the others; the exit status is 1 if any part failed.
# PROGALIGN_GPU_CHECK_DEVICE=cpu runs it all on the CPU (how the script is tested without a GPU);
# PROGALIGN_GPU_CHECK_TWO_PROCESS=1 forces the 2-process part. PYTHON picks the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-measurements/out/gpu-check}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PYTHON:-$(command -v python3 || command -v python)}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1
exec > >(tee "$out/gpu_check.log") 2>&1

echo "gpu_check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $($py --version 2>&1)," \
  "device ${PROGALIGN_GPU_CHECK_DEVICE:-cuda}, output in $out"
git rev-parse HEAD 2>/dev/null | sed 's/^/gpu_check: commit /'
failed=()
for part in env backend vllm train two-process; do
  echo "=== $part"
  start=$SECONDS
  "$py" measurements/gpu_check.py "$part" "$out" || failed+=("$part")
  echo "=== $part: $((SECONDS - start)) s"
done
echo "=== summary"
"$py" - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for part in ("env", "backend", "vllm", "train", "two-process"):
    path = out / f"{part}.json"
    r = json.loads(path.read_text()) if path.is_file() else {"status": "no output"}
    detail = r.get("reason") or r.get("error") or ""
    if part == "env" and r["status"] == "ok":
        lib = r["libraries"]
        detail = (f"torch {lib['torch']} (CUDA {r['torch_cuda']}), transformers "
                  f"{lib['transformers']}, trl {lib['trl']}, GPUs {r['gpus']}")
    if part == "backend" and r["status"] == "ok":
        key = next(k for k in r if k.startswith("bfloat16 on"))
        a = r[key]
        detail = (f"{key} vs float32 on cpu: max |Δ logprob| {a['max_abs_logprob_diff']:.3g}, "
                  f"argmax {a['argmax_agreement']}")
    if part == "vllm" and r["status"] == "ok":
        a = r["bfloat16 vllm vs float32 hf on cpu"]
        detail = (f"bf16 vLLM {r['versions']['vllm']} vs float32 on cpu: max |Δ logprob| "
                  f"{a['max_abs_logprob_diff']:.3g}, argmax {a['argmax_agreement']}")
    if part == "train" and r["status"] == "ok":
        detail = (f"{r['device']}: DPO loss {r['dpo']['train_loss']:.4g} "
                  f"({r['dpo']['seconds']:.1f} s), SFT loss {r['sft']['train_loss']:.4g} "
                  f"({r['sft']['seconds']:.1f} s)")
    if part == "two-process" and r["status"] == "ok":
        detail = (f"{r['optimiser_steps']} step(s), loss {r['train_loss']:.4g}, max |Δ weight| vs "
                  f"1 process {r.get('max_abs_weight_diff_vs_1_process')}")
    print(f"{part:12s} {r['status']:8s} {detail}")
EOF
if [ "${#failed[@]}" -gt 0 ]; then
  echo "gpu_check: FAILED: ${failed[*]}"
  exit 1
fi
echo "gpu_check: done"
