"""Tidy CSV tables of a benchmark (the report's only input; columns in
``progalign.report.table_schema``): values, scores, steps and examinee_values — deterministic for
equal inputs and seeds — plus timings.csv (wall times, which are not)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from progalign.benchmark.bootstrap import paired_interval
from progalign.evaluation.vector import DIMENSIONS
from progalign.io import atomic_open, read_json
from progalign.report.table_schema import (
    CALIBRATION_COLUMNS,
    DIFFERENCES_COLUMNS,
    EXAMINEE_VALUES_COLUMNS,
    OPTIONAL_COLUMNS,
    SCORES_COLUMNS,
    STEPS_COLUMNS,
    VALUES_COLUMNS,
)


def _group(dimension: str) -> str:
    return dimension.split(".", 1)[0]


def _vector_rows(vector: list[float], **keys: Any) -> list[dict[str, Any]]:
    return [
        {**keys, "dim_index": i, "dimension": d, "group": _group(d), "value": float(v)}
        for i, (d, v) in enumerate(zip(DIMENSIONS, vector, strict=True))
    ]


def values_table(family: str, files: Iterable[Path]) -> pd.DataFrame:
    """One row per historical model × dimension (``files`` named ``C0cc.json``)."""
    rows = []
    for path in sorted(files):
        result = read_json(path)
        low, high = result["ci95"]["low"], result["ci95"]["high"]
        for row in _vector_rows(result["vector"], family=family, century=path.stem):
            row["ci_low"], row["ci_high"] = (
                float(low[row["dim_index"]]),
                float(high[row["dim_index"]]),
            )
            rows.append(row)
    return pd.DataFrame(rows, columns=list(VALUES_COLUMNS))


def calibration_table(family: str, files: Iterable[Path]) -> pd.DataFrame:
    """One row per historical model whose evaluation scored the calibration items."""
    rows = []
    for path in sorted(files):
        record = read_json(path).get("calibration") or {}
        if "share_moral" in record:
            rows.append(
                {
                    "family": family,
                    "century": path.stem,
                    "set": record["set"],
                    "items": record["answered"],
                    "share_moral": record["share_moral"],
                    "mean_p_moral": record["mean_p_moral"],
                }
            )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def run_tables(score_files: Iterable[Path]) -> dict[str, pd.DataFrame]:
    """scores, steps, examinee_values and differences tables from score JSONs."""
    scores, steps, vectors, timings = [], [], [], []
    runs: list[dict[str, Any]] = []
    for path in sorted(score_files):
        r = read_json(path)
        runs.append(r)
        keys = {
            "challenge": r["challenge"]["label"],
            "algorithm": r["algorithm"]["name"],
            "seed": int(r["seed"]),
        }
        shift = r.get("shift") or {}
        scores.append(
            {
                **keys,
                "score": r["score"],
                "ci_low": r["ci95"]["low"],
                "ci_high": r["ci95"]["high"],
                "version": r["version"],
                "steps": len(r["steps"]),
                # wall time varies run to run: kept in the score JSONs and timings.csv,
                # so the tidy tables stay byte-identical for equal inputs and seeds
                "duration_s": None,
                "shift": shift.get("score"),
                "shift_ci_low": shift.get("ci95", {}).get("low"),
                "shift_ci_high": shift.get("ci95", {}).get("high"),
                "shift_version": shift.get("version"),
            }
        )
        timings.append(
            {**keys, **{f"{k}_s": v for k, v in sorted(r.get("durations_s", {}).items())}}
        )
        for s in r["steps"]:
            steps.append(
                {
                    **keys,
                    "step": s["step"],
                    "century": s["century"],
                    "target_century": s["target_century"],
                    "similarity": s["similarity"],
                    "shift_similarity": s.get("shift_similarity"),
                }
            )
        centuries = r["spec"]["centuries"]
        for t, vec in sorted(r["vectors"]["examinee"].items(), key=lambda kv: int(kv[0])):
            vectors += _vector_rows(vec, **keys, step=int(t), century=centuries[int(t)])
    return {
        "scores": pd.DataFrame(scores, columns=[*SCORES_COLUMNS, *OPTIONAL_COLUMNS["scores"]]),
        "steps": pd.DataFrame(steps, columns=[*STEPS_COLUMNS, *OPTIONAL_COLUMNS["steps"]]),
        "examinee_values": pd.DataFrame(vectors, columns=list(EXAMINEE_VALUES_COLUMNS)),
        "differences": differences_table(runs),
        "timings": pd.DataFrame(timings),
    }


def _trajectory(run: dict[str, Any]) -> Any:
    return (run["vectors"]["examinee"], run["vectors"]["simulated"])


def differences_table(runs: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Every pair of algorithms per (challenge, seed): a - b of the score and of its shift
    companion, with the paired interval from the runs' aligned bootstrap draws
    (docs/statistics.md); ``identical`` flags two runs whose examinee (and simulated-human)
    vectors are equal, which no interval can separate."""
    by_cell: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in runs:
        by_cell.setdefault((r["challenge"]["label"], int(r["seed"])), []).append(r)
    rows = []
    for (challenge, seed), cell in sorted(by_cell.items()):
        cell = sorted(cell, key=lambda r: r["algorithm"]["name"])
        for i, a in enumerate(cell):
            for b in cell[i + 1 :]:
                _check_paired(a, b)
                identical = int(_trajectory(a) == _trajectory(b))
                for statistic, part_a, part_b in (
                    ("score", a, b),
                    ("shift", a.get("shift"), b.get("shift")),
                ):
                    if not part_a or not part_b:
                        continue
                    draws_a = _draws(part_a, statistic)
                    draws_b = _draws(part_b, statistic)
                    low, high, _ = paired_interval(draws_a, draws_b)
                    rows.append(
                        {
                            "challenge": challenge,
                            "seed": seed,
                            "algorithm_a": a["algorithm"]["name"],
                            "algorithm_b": b["algorithm"]["name"],
                            "statistic": statistic,
                            "difference": part_a["score"] - part_b["score"],
                            "ci_low": low,
                            "ci_high": high,
                            "separable": int(bool(low > 0 or high < 0)),
                            "identical": identical,
                        }
                    )
    return pd.DataFrame(rows, columns=list(DIFFERENCES_COLUMNS))


def _draws(part: dict[str, Any], statistic: str) -> list[float]:
    draws = part["bootstrap"]["draws"] if statistic == "score" else part["draws"]
    return [float("nan") if d is None else float(d) for d in draws]


def _check_paired(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two runs' draws pair only if they resampled the same items the same way."""
    keys = ("seed", "samples", "items_sha256")
    ba, bb = a.get("bootstrap", {}), b.get("bootstrap", {})
    if any(ba.get(k) != bb.get(k) for k in keys) or "draws" not in ba or "draws" not in bb:
        raise ValueError(
            f"{a['algorithm']['name']} and {b['algorithm']['name']} on "
            f"{a['challenge']['label']}: score files were not bootstrapped alike "
            "(rescore both with this version)"
        )


#: Raw per-item data keep every bit (results are recomputed from them to 1e-9); the result
#: tables keep 10 significant digits.
_EXACT = frozenset({"items", "item_probabilities"})


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table to ``out/<name>.csv`` atomically (stable float formatting)."""
    written = []
    for name, frame in sorted(tables.items()):
        path = out / f"{name}.csv"
        digits = "%.17g" if name in _EXACT else "%.10g"
        with atomic_open(path) as handle:
            frame.to_csv(handle, index=False, float_format=digits, lineterminator="\n")
        written.append(path)
    return written
