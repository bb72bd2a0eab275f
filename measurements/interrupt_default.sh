#!/usr/bin/env bash
# Interrupt-and-rerun check on a finished run of the embedded default (issue 5): drop one
# trajectory (LifelongDPO, history-fed) with its scores, tables and report, rerun, SIGKILL
# Snakemake and every job it started while step 2 trains (a crash, not a clean stop), unlock,
# rerun to the end and compare the tidy tables with those of the uninterrupted run.
# Usage, in the checkout of a finished `snakemake --cores all`: bash measurements/interrupt_default.sh
set -uo pipefail
ref=$(mktemp -d)
cp results/tables/*.csv "$ref"/
run=results/runs/history/LifelongDPO/seed0
rm -rf results/tables results/report "$run" results/scores/{follow,predict}/LifelongDPO
setsid .venv/bin/snakemake --cores all > logs/interrupt-1.log 2>&1 &
pid=$!
until ls -d "$run"/.step2.*.tmp > /dev/null 2>&1; do sleep 1; done
sleep 4  # a step takes 10–30 s: kill well inside it
echo "killing Snakemake and its jobs during step 2: $(ls -A "$run" | tr '\n' ' ')"
kill -9 -- "-$pid"
.venv/bin/snakemake --unlock > /dev/null 2>&1
start=$(date +%s)
.venv/bin/snakemake --cores all --rerun-incomplete > logs/interrupt-2.log 2>&1
echo "rerun: exit $? in $(( $(date +%s) - start )) s"
status=0
for table in "$ref"/*.csv; do
  name=$(basename "$table")
  [ "$name" = timings.csv ] && continue  # wall times: never equal between runs
  if cmp -s "$table" "results/tables/$name"; then echo "$name identical"; else echo "$name DIFFERS"; status=1; fi
done
exit $status
