"""Tidy CSV tables of a benchmark (the report's only input; columns in
``progalign.report.tables``): values, scores, steps and examinee_values — deterministic for
equal inputs and seeds — plus timings.csv (wall times, which are not)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from progalign.evaluation.vector import DIMENSIONS
from progalign.io import atomic_open, read_json
from progalign.report.tables import (
    EXAMINEE_VALUES_COLUMNS,
    SCORES_COLUMNS,
    STEPS_COLUMNS,
    VALUES_COLUMNS,
)


def _group(dimension: str) -> str:
    return dimension.split(".", 1)[0]


def _vector_rows(vector: list[float], **keys: Any) -> list[dict[str, Any]]:
    return [{**keys, "dim_index": i, "dimension": d, "group": _group(d), "value": float(v)}
            for i, (d, v) in enumerate(zip(DIMENSIONS, vector, strict=True))]


def values_table(family: str, files: Iterable[Path]) -> pd.DataFrame:
    """One row per historical model × dimension (``files`` named ``C0cc.json``)."""
    rows = []
    for path in sorted(files):
        result = read_json(path)
        low, high = result["ci95"]["low"], result["ci95"]["high"]
        for row in _vector_rows(result["vector"], family=family, century=path.stem):
            row["ci_low"], row["ci_high"] = float(low[row["dim_index"]]), float(
                high[row["dim_index"]])
            rows.append(row)
    return pd.DataFrame(rows, columns=list(VALUES_COLUMNS))


def run_tables(score_files: Iterable[Path]) -> dict[str, pd.DataFrame]:
    """scores, steps and examinee_values tables from score JSONs."""
    scores, steps, vectors, timings = [], [], [], []
    for path in sorted(score_files):
        r = read_json(path)
        keys = {"challenge": r["challenge"]["label"], "algorithm": r["algorithm"]["name"],
                "seed": int(r["seed"])}
        scores.append({**keys, "score": r["score"], "ci_low": r["ci95"]["low"],
                       "ci_high": r["ci95"]["high"], "version": r["version"],
                       "steps": len(r["steps"]),
                       # wall time varies run to run: kept in the score JSONs and timings.csv,
                       # so the tidy tables stay byte-identical for equal inputs and seeds
                       "duration_s": None})
        timings.append({**keys, **{f"{k}_s": v for k, v in
                                   sorted(r.get("durations_s", {}).items())}})
        for s in r["steps"]:
            steps.append({**keys, "step": s["step"], "century": s["century"],
                          "target_century": s["target_century"], "similarity": s["similarity"]})
        centuries = r["spec"]["centuries"]
        for t, vec in sorted(r["vectors"]["examinee"].items(), key=lambda kv: int(kv[0])):
            vectors += _vector_rows(vec, **keys, step=int(t), century=centuries[int(t)])
    return {
        "scores": pd.DataFrame(scores, columns=list(SCORES_COLUMNS)),
        "steps": pd.DataFrame(steps, columns=list(STEPS_COLUMNS)),
        "examinee_values": pd.DataFrame(vectors, columns=list(EXAMINEE_VALUES_COLUMNS)),
        "timings": pd.DataFrame(timings),
    }


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table to ``out/<name>.csv`` atomically (stable float formatting)."""
    written = []
    for name, frame in sorted(tables.items()):
        path = out / f"{name}.csv"
        with atomic_open(path) as handle:
            frame.to_csv(handle, index=False, float_format="%.10g", lineterminator="\n")
        written.append(path)
    return written
