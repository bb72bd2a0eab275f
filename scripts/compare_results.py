#!/usr/bin/env python3
"""Check that two workflow runs produced the same results (provenance and timings ignored).

    python scripts/compare_results.py RUN_A RUN_B

Compared: every ``results/tables/*.csv`` (the same set of files; byte-equal, except that timing
columns such as ``duration_s`` are left out) and the numeric ``vector`` of every
``results/values/**/*.json`` (the same set of files, exactly equal). Exit 0 and one summary line
when equal; exit 1 with every difference listed otherwise, or when the runs have nothing to
compare.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

TIMING_COLUMN = re.compile(r"duration|elapsed|seconds|wall|timing|runtime|(_s|_sec|_secs)$")


def _table(path: Path) -> list[list[str]]:
    """The rows of a CSV table without its timing columns (which differ between any two runs)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    if not rows:
        return rows
    keep = [i for i, name in enumerate(rows[0]) if not TIMING_COLUMN.search(name.lower())]
    return [[row[i] if i < len(row) else "" for i in keep] for row in rows]


def _files(root: Path, pattern: str) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.glob(pattern)) if p.is_file()}


def _vector(path: Path) -> list[float] | None:
    data = json.loads(path.read_text())
    vector = data.get("vector") if isinstance(data, dict) else None
    return [float(x) for x in vector] if isinstance(vector, list) else None


def compare(a: Path, b: Path) -> tuple[list[str], int]:
    """Return (differences, number of files compared) between the runs in ``a`` and ``b``."""
    problems: list[str] = []
    compared = 0
    for pattern in ("results/tables/*.csv", "results/values/**/*.json"):
        fa, fb = _files(a, pattern), _files(b, pattern)
        for name in sorted(fa.keys() ^ fb.keys()):
            problems.append(f"{name}: only in {a if name in fa else b}")
        for name in sorted(fa.keys() & fb.keys()):
            compared += 1
            if name.endswith(".csv"):
                if fa[name].read_bytes() != fb[name].read_bytes() and (
                    _table(fa[name]) != _table(fb[name])
                ):
                    problems.append(f"{name}: contents differ")
                continue
            va, vb = _vector(fa[name]), _vector(fb[name])
            if va is None or vb is None:
                problems.append(f"{name}: no numeric 'vector' field")
            elif va != vb:
                diff = max((abs(x - y) for x, y in zip(va, vb, strict=False)), default=0.0)
                problems.append(
                    f"{name}: vectors differ (lengths {len(va)}/{len(vb)}, max |diff| {diff:.3g})"
                )
    if compared == 0:
        problems.append(f"nothing to compare under {a}/results and {b}/results")
    return problems, compared


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (Path(x) for x in argv)
    problems, compared = compare(a, b)
    for line in problems:
        print(f"compare_results: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"compare_results: {compared} result files equal ({a} vs {b})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
