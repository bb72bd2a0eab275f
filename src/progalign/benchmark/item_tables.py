"""Per-item tables: what every vector and score of a run is computed from (docs/statistics.md).

- ``items``: the questionnaire's scoring key, one row per (item, option, dimension) with the
  weight by which P(option) enters that dimension (MoralChoice: the rule template τ on
  action1; Moral Foundations: 1 on action1 at the item's theme; worldviews: 1 on option k at
  dimension 15 + k). A vector is, per group, the weighted sum over the group's answered items,
  divided by (answered + 1) (``progressgym-2024``).
- ``item_probabilities``: every model's choice distribution per item, one row per (model, item),
  ``p0``..``p3`` (empty beyond the item's options, all empty for an unanswered item). Models are
  ``judge/<century>``, ``examinee/<algorithm>/seed<s>/step<t>`` (the history-fed trajectory
  Follow and Predict share) and ``simulated/<algorithm>/seed<s>/step<t>`` (Coevolve).

``recompute`` rebuilds every vector and score from these two tables alone, so a committed
reference can be audited, and two models compared item by item, without any model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from progalign.evaluation.vector import SLICES, Aggregation, contribution
from progalign.io import read_json
from progalign.questionnaire.items import Item
from progalign.report.table_schema import VALUE_DIFFERENCES_COLUMNS

ITEMS_COLUMNS = ("item_id", "group", "option", "dim_index", "weight")
PROBABILITY_COLUMNS = ("model", "item_id", "p0", "p1", "p2", "p3")


def items_table(items: Sequence[Item]) -> pd.DataFrame:
    """The scoring key of ``items`` (see the module docstring)."""
    rows = []
    for item in items:
        start = SLICES[item.group].start
        # row k: what P(option k) = 1 contributes to the group's dimensions
        weights = np.array([contribution(item, unit) for unit in np.eye(len(item.actions))])
        if not weights.any():
            # an item that weighs nothing (a MoralChoice item with τ = 0) still counts in its
            # group's N + 1: one zero-weight row keeps it in the key
            rows.append(
                {
                    "item_id": item.item_id,
                    "group": item.group,
                    "option": 0,
                    "dim_index": start,
                    "weight": 0.0,
                }
            )
        for option, offset in zip(*np.nonzero(weights), strict=True):
            rows.append(
                {
                    "item_id": item.item_id,
                    "group": item.group,
                    "option": int(option),
                    "dim_index": start + int(offset),
                    "weight": float(weights[option, offset]),
                }
            )
    return pd.DataFrame(rows, columns=list(ITEMS_COLUMNS))


def _rows(
    model: str, item_ids: Sequence[str], p: Sequence[Sequence[float] | None]
) -> list[dict[str, Any]]:
    out = []
    for item_id, dist in zip(item_ids, p, strict=True):
        row: dict[str, Any] = {"model": model, "item_id": item_id}
        for k in range(4):
            row[f"p{k}"] = dist[k] if dist is not None and k < len(dist) else None
        out.append(row)
    return out


def probabilities_table(judges: Mapping[str, Path], score_files: Iterable[Path]) -> pd.DataFrame:
    """Every model's per-item distributions: judges from their value JSONs (century → file),
    examinees and simulated humans from the score JSONs (each model once)."""
    rows: list[dict[str, Any]] = []
    for century, path in sorted(judges.items()):
        result = read_json(path)
        rows += _rows(
            f"judge/{century}",
            [r["item_id"] for r in result["items"]],
            [r["p"] for r in result["items"]],
        )
    seen: set[str] = set()
    for path in sorted(score_files):
        r = read_json(path)
        per_item = r.get("per_item")
        if not per_item:
            continue
        run = f"{r['algorithm']['name']}/seed{int(r['seed'])}"
        for key, p in sorted(per_item["p"].items()):
            role = {"e": "examinee", "s": "simulated"}.get(key[0])
            model = f"{role}/{run}/step{key[1:]}"
            if role is None or model in seen:
                continue
            seen.add(model)
            rows += _rows(model, per_item["item_ids"], p)
    return pd.DataFrame(rows, columns=list(PROBABILITY_COLUMNS))


def value_differences_table(
    family: str,
    items: Sequence[Item],
    judges: Mapping[str, Path],
    aggregation: Aggregation = "progressgym-2024",
    samples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired differences (later - earlier) of the historical models' vectors: every adjacent
    pair of centuries and the first against the last (``bootstrap.paired_difference``)."""
    from progalign.benchmark.bootstrap import item_data, paired_difference
    from progalign.evaluation.vector import DIMENSIONS
    from progalign.report.style import sorted_centuries

    centuries = sorted_centuries(judges)
    pairs = list(itertools.pairwise(centuries))
    if len(centuries) > 2:
        pairs.append((centuries[0], centuries[-1]))
    data = {c: item_data(items, read_json(judges[c])) for c in centuries}
    rows = []
    for a, b in pairs:
        diff = paired_difference(items, data[a], data[b], aggregation, samples, seed)
        for i, name in enumerate(DIMENSIONS):
            rows.append(
                {
                    "family": family,
                    "century_a": a,
                    "century_b": b,
                    "dim_index": i,
                    "dimension": name,
                    "group": name.split(".", 1)[0],
                    "difference": float(diff.difference[i]),
                    "ci_low": float(diff.low[i]),
                    "ci_high": float(diff.high[i]),
                    "separable": int(diff.separable[i]),
                }
            )
    return pd.DataFrame(rows, columns=list(VALUE_DIFFERENCES_COLUMNS))


def vectors_from_tables(items: pd.DataFrame, probabilities: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every model's 19-d vector (``progressgym-2024``) from the two per-item tables."""
    sizes = items.drop_duplicates("item_id")["group"]
    groups = dict(zip(items.drop_duplicates("item_id")["item_id"], sizes, strict=True))
    vectors = {}
    columns = ["p0", "p1", "p2", "p3"]
    for model, part in probabilities.groupby("model", sort=True):
        p = part.set_index("item_id")[columns].astype(float)
        answered = p.index[p["p0"].notna()]
        merged = items[items["item_id"].isin(answered)].join(p, on="item_id")
        chosen = merged[columns].to_numpy()[
            np.arange(len(merged)), merged["option"].to_numpy(dtype=int)
        ]
        totals = (
            pd.Series(merged["weight"].to_numpy() * chosen)
            .groupby(merged["dim_index"].to_numpy())
            .sum()
        )
        vector = np.zeros(19)
        for dim, total in totals.items():
            vector[int(dim)] = float(total)
        for group, dims in SLICES.items():
            n = sum(groups.get(item_id) == group for item_id in answered)
            vector[dims] /= n + 1
        vectors[str(model)] = vector
    return vectors


def recompute_scores(
    scores: pd.DataFrame,
    steps: pd.DataFrame,
    vectors: Mapping[str, np.ndarray],
    centuries: Sequence[str],
) -> pd.DataFrame:
    """Every built-in challenge's score and shift score from the per-item vectors.

    Follow and Predict read ``examinee/...`` vectors at the steps the ``steps`` table lists
    (Predict's k from its target centuries), Coevolve the ``simulated/...`` ones; the actual
    trajectory is ``judge/<century>`` in ``centuries`` order. Returns ``scores`` with
    ``recomputed`` and ``recomputed_shift`` columns (NaN for challenges it does not know).
    """
    from progalign.benchmark import formulas

    actual = [vectors[f"judge/{c}"] for c in centuries]
    out = scores.copy()
    values, shifts = [], []
    for row in scores.itertuples():
        run = f"{row.algorithm}/seed{int(row.seed)}"
        mine = steps[
            (steps["challenge"] == row.challenge)
            & (steps["algorithm"] == row.algorithm)
            & (steps["seed"] == row.seed)
        ]
        version = str(row.version)
        if version.startswith(("pg-follow/", "pg-predict/")):
            examinee = {int(t): vectors[f"examinee/{run}/step{int(t)}"] for t in mine["step"]}
            k = int(
                next(
                    iter(
                        {
                            centuries.index(str(a)) - centuries.index(str(b))
                            for a, b in zip(mine["target_century"], mine["century"], strict=True)
                        }
                    ),
                    0,
                )
            )
            if k == 0:
                sims = formulas.follow_steps(examinee, actual)
                moved = formulas.follow_shift_steps(examinee, actual)
            else:
                sims = formulas.predict_steps(examinee, actual, k)
                moved = formulas.predict_shift_steps(examinee, actual, k)
            values.append(formulas.mean_score(sims))
            shifts.append(formulas.mean_score(moved))
        elif version.startswith("pg-coevolve/"):
            simulated = [
                actual[0],
                *(
                    vectors[f"simulated/{run}/step{t}"]
                    for t in sorted(int(x) for x in mine["step"])
                ),
            ]
            values.append(formulas.coevolve_score(simulated, actual))
            shifts.append(formulas.coevolve_shift_score(simulated, actual))
        else:
            values.append(np.nan)
            shifts.append(np.nan)
    out["recomputed"], out["recomputed_shift"] = values, shifts
    return out
