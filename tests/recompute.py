"""Recompute a tables folder's vectors and scores from its per-item tables (shared by the
workflow test and the committed-reference test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from progalign.benchmark.item_tables import recompute_scores, vectors_from_tables
from progalign.report.style import sorted_centuries
from progalign.report.table_schema import read_table


def check_recomputes(tables: Path, tolerance: float = 1e-9) -> int:
    """Assert that every vector and score of ``tables`` follows from ``items.csv`` and
    ``item_probabilities.csv``; return the number of numbers checked."""
    read = {
        name: read_table(name, tables / f"{name}.csv")
        for name in ("items", "item_probabilities", "values", "scores", "steps", "examinee_values")
    }
    vectors = vectors_from_tables(read["items"], read["item_probabilities"])
    checked = 0
    for row in read["values"].itertuples():
        assert abs(vectors[f"judge/{row.century}"][row.dim_index] - row.value) <= tolerance, row
        checked += 1
    for row in read["examinee_values"].itertuples():
        model = f"examinee/{row.algorithm}/seed{row.seed}/step{row.step}"
        assert abs(vectors[model][row.dim_index] - row.value) <= tolerance, row
        checked += 1
    centuries = sorted_centuries(read["values"]["century"])
    again = recompute_scores(read["scores"], read["steps"], vectors, centuries)
    for row in again.itertuples():
        assert np.isfinite(row.recomputed), row
        assert abs(row.recomputed - row.score) <= tolerance, row
        assert abs(row.recomputed_shift - row.shift) <= tolerance, row
        checked += 2
    return checked
