#!/usr/bin/env bash
# Wall time of the quick default (config.yaml) from a clean clone with an empty cache, with the
# warm worker (the default) and without it, one after the other on the same set-up.
# Usage: bash measurements/time_default.sh [COMMIT] [OUT_DIR]   (run it with the machine idle)
#        RUNS="plain" bash measurements/time_default.sh ...        (one of the two runs only)
# Writes OUT_DIR/{worker,plain}.{time,breakdown.md,log} and prints a summary line per run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-HEAD}
out=$(realpath -m "${2:-$repo/measurements/out/time-default}")
mkdir -p "$out"
work=$(mktemp -d)
git clone -q "$repo" "$work/p"
cd "$work/p"
git checkout -q "$commit"
[ -e ../shared ] || ln -s "$repo/../shared" ../shared
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%FT%TZ)" | tee "$out/machine"
s=$(date +%s); bash scripts/setup.sh > "$out/setup.log" 2>&1; echo "setup $(( $(date +%s) - s )) s"
printf 'resources: {worker: false}\n' > "$out/no-worker.yaml"
for run in ${RUNS:-worker plain}; do
  git clean -qffdx -e .venv   # results, resources, logs, .snakemake: gone
  flags=()
  [ "$run" = plain ] && flags=(--configfile config.yaml "$out/no-worker.yaml")
  export PROGALIGN_CACHE
  PROGALIGN_CACHE=$(mktemp -d)
  s=$(date +%s.%N)
  rc=0; .venv/bin/snakemake --cores all "${flags[@]}" > "$out/$run.log" 2>&1 || rc=$?
  wall=$(echo "$(date +%s.%N) - $s" | bc)
  jobs=$(grep -c "^Finished jobid" "$out/$run.log" || true)
  echo "$run: wall $wall s, $jobs jobs, rc $rc" | tee "$out/$run.time"
  .venv/bin/python measurements/breakdown.py > "$out/$run.breakdown.md" 2>&1 || true
  cp results/tables/scores.csv "$out/$run.scores.csv" 2>/dev/null || true
  rm -rf "$PROGALIGN_CACHE"
done
if [ -f "$out/worker.scores.csv" ] && [ -f "$out/plain.scores.csv" ]; then
  cmp "$out/worker.scores.csv" "$out/plain.scores.csv" && echo "scores.csv identical with and without the worker"
fi
rm -rf "$work"
