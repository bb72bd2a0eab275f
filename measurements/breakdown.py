"""Where a Snakemake run's time went, per rule, from its log and its ``benchmark:`` files.

Usage: ``python measurements/breakdown.py [.snakemake/log/<run>.snakemake.log]`` (default: the
newest log) in the checkout that ran the workflow. Prints a Markdown table: jobs, summed and
longest wall time per job from the log's start/finish stamps, and, for rules with a
``benchmark:`` file, summed CPU time and peak RSS from those files; then the run's wall time
from the first start to the last finish. Snakemake's own reports give neither per-rule sums
nor jobs without a benchmark file, hence this small parser.

Jobs run by the warm worker (``resources.worker``, the default for local runs) are forked from
it, and the rules write no ``benchmark:`` file then (it would measure only the waiting client):
their CPU and peak RSS come from the worker's own per-job lines
(``.snakemake/log/progalign-worker.log``, its newest session), summed per ``progalign`` command.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\S+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
BENCH = re.compile(r"^\s+benchmark: (\S+)$")
FINISH = re.compile(r"^Finished jobid: (\d+) \(Rule: (\S+)\)$")
DONE = re.compile(r"done pid \d+ rc (-?\d+) cpu_s ([\d.]+) max_rss_mib (\d+): (\S+)(?: (\S+))?")
WORKER_LOG = Path(".snakemake/log/progalign-worker.log")


def parse(log: Path) -> tuple[dict[str, list[float]], dict[str, list[Path]], float]:
    """Per-rule job wall times, per-rule benchmark files, and the run's wall time (s)."""
    stamp: datetime | None = None
    pending: str | None = None
    started: dict[str, tuple[str, datetime]] = {}
    bench: dict[str, list[Path]] = defaultdict(list)
    walls: dict[str, list[float]] = defaultdict(list)
    first = last = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif (m := START.match(line)) and stamp is not None:
            pending = m.group(1)
        elif (m := JOBID.match(line)) and pending is not None and stamp is not None:
            started[m.group(1)] = (pending, stamp)
            first = first or stamp
        elif (m := BENCH.match(line)) and pending is not None:
            bench[pending].append(Path(m.group(1)))
            pending = None
        elif (m := FINISH.match(line)) and stamp is not None:
            rule, began = started.pop(m.group(1), (m.group(2), stamp))
            walls[rule].append((stamp - began).total_seconds())
            last = stamp
    total = (last - first).total_seconds() if first and last else 0.0
    return walls, bench, total


def _bench_stats(files: list[Path]) -> tuple[float, float] | None:
    cpu, rss, seen = 0.0, 0.0, False
    for path in files:
        if not path.exists():
            continue
        rows = list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))
        if rows:
            seen = True
            cpu += float(rows[-1].get("cpu_time") or 0)
            rss = max(rss, float(rows[-1].get("max_rss") or 0))
    return (cpu, rss) if seen else None


def worker_usage(log: Path = WORKER_LOG) -> dict[str, tuple[int, float, float]]:
    """Jobs, summed CPU seconds and peak RSS (MiB) per command in the worker's newest session."""
    if not log.exists():
        return {}
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if "serving on" in line]
    usage: dict[str, tuple[int, float, float]] = {}
    for line in lines[starts[-1] if starts else 0:]:
        if m := DONE.search(line):
            sub = m.group(5) if m.group(4) == "step" and m.group(5) else ""
            command = f"{m.group(4)} {sub}".strip()
            jobs, cpu, rss = usage.get(command, (0, 0.0, 0.0))
            usage[command] = (jobs + 1, cpu + float(m.group(2)), max(rss, float(m.group(3))))
    return usage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", type=Path, help="Snakemake log (default: newest)")
    args = parser.parse_args(argv)
    log = args.log
    if log is None:
        logs = sorted(Path(".snakemake/log").glob("*.snakemake.log"))
        if not logs:
            print("no .snakemake/log/*.snakemake.log here", file=sys.stderr)
            return 1
        log = logs[-1]
    walls, bench, total = parse(log)
    usage = worker_usage(log.parent / WORKER_LOG.name)
    print(f"Log: `{log}`\n")
    extra = "" if usage else " CPU, summed (s) | peak RSS (MiB) |"
    print(f"| rule | jobs | wall, summed (s) | wall per job, mean / max (s) |{extra}")
    print("|---|---:|---:|---:|" + ("" if usage else "---:|---:|"))
    ordered = sorted(walls.items(), key=lambda kv: -sum(kv[1]))
    for rule, times in ordered:
        row = f"| {rule} | {len(times)} | {sum(times):.0f} | "
        row += f"{sum(times) / len(times):.0f} / {max(times):.0f} |"
        if not usage:
            stats = _bench_stats(bench.get(rule, []))
            cpu, rss = (f"{stats[0]:.0f}", f"{stats[1]:.0f}") if stats else ("–", "–")
            row += f" {cpu} | {rss} |"
        print(row)
    summed = sum(sum(t) for t in walls.values())
    print(f"\nRun wall time (first job start to last job end): {total:.0f} s "
          f"({total / 60:.1f} min); job wall time summed over all jobs: {summed:.0f} s.")
    if usage:
        print("\nJobs run in the warm worker (their benchmark files' CPU and RSS are the "
              "client's; these are the jobs' own, from the worker log):\n")
        print("| progalign command | jobs | CPU, summed (s) | peak RSS (MiB) |")
        print("|---|---:|---:|---:|")
        for command, (jobs, cpu, rss) in sorted(usage.items(), key=lambda kv: -kv[1][1]):
            print(f"| {command} | {jobs} | {cpu:.0f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
