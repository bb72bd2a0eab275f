"""Bootstrap confidence intervals of challenge scores over questionnaire items.

Every model of a run was evaluated on the same items. A bootstrap sample resamples the items
(with replacement, within each group), recomputes *every* model's value vector from its stored
per-item choice probabilities with the same resample, and rescores the run; the 2.5th and 97.5th
percentiles of the rescored values form the 95% interval. Upstream reports no interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from progalign.evaluation.vector import SLICES, Aggregation, contribution
from progalign.questionnaire.items import GROUPS, THEMES, Item


@dataclass(frozen=True)
class ItemData:
    """One model's per-item contributions, per group: (n_items × width) and a validity mask."""

    contributions: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]


def item_data(items: Sequence[Item], result: Mapping[str, Any]) -> ItemData:
    """Per-item contributions of one ``progalign values`` result, aligned with ``items``.

    Raises:
        ValueError: if the result was computed on different items.
    """
    rows = {row["item_id"]: row for row in result["items"]}
    missing = [it.item_id for it in items if it.item_id not in rows]
    if missing:
        raise ValueError(f"value result lacks items {missing[:3]}... (different questionnaire)")
    contributions: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    for group in GROUPS:
        width = SLICES[group].stop - SLICES[group].start
        members = [it for it in items if it.group == group]
        mat = np.zeros((len(members), width))
        ok = np.zeros(len(members), dtype=bool)
        for i, it in enumerate(members):
            p = rows[it.item_id]["p"]
            if p is not None:
                mat[i] = contribution(it, np.asarray(p, dtype=float))
                ok[i] = True
        contributions[group], valid[group] = mat, ok
    return ItemData(contributions, valid)


def _themes(items: Sequence[Item]) -> np.ndarray:
    return np.array(
        [THEMES.index(str(it.theme)) for it in items if it.group == "foundation"], dtype=int
    )


def vector_from(
    data: ItemData, picks: Mapping[str, np.ndarray], aggregation: Aggregation, themes: np.ndarray
) -> np.ndarray:
    """The value vector of one model for resampled item indices (``picks`` per group)."""
    out = np.zeros(19)
    for group in GROUPS:
        idx = picks[group]
        ok = data.valid[group][idx]
        rows = data.contributions[group][idx][ok]
        width = rows.shape[1]
        total = rows.sum(axis=0) if len(rows) else np.zeros(width)
        if aggregation == "progressgym-2024":
            out[SLICES[group]] = total / (len(rows) + 1)
        elif group == "foundation":
            counts = np.bincount(themes[idx][ok], minlength=width).astype(float)
            out[SLICES[group]] = np.divide(total, counts, out=np.zeros(width), where=counts > 0)
        else:
            out[SLICES[group]] = total / len(rows) if len(rows) else np.zeros(width)
    return out


def score_draws(
    items: Sequence[Item],
    models: Mapping[str, ItemData],
    rescore: Callable[[Mapping[str, np.ndarray]], Sequence[float | None]],
    aggregation: Aggregation = "progressgym-2024",
    samples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap draws of one or more scores (samples × statistics; NaN where undefined).

    Draw k resamples the items with a generator seeded by ``seed`` alone, so two runs scored
    on the same questionnaire with the same seed see the same resample in draw k: subtracting
    their draws gives a *paired* bootstrap of their difference (``paired_interval``).

    Args:
        items: The questionnaire items every model was evaluated on.
        models: Per model name, its per-item data.
        rescore: Maps {model name: value vector} to the statistics (None: not defined).
        aggregation: How vectors are aggregated (as in the evaluation).
        samples: Number of bootstrap samples.
        seed: Seed of the resampling.
    """
    rng = np.random.default_rng(seed)
    themes = _themes(items)
    sizes = {g: sum(it.group == g for it in items) for g in GROUPS}
    rows: list[list[float]] = []
    for _ in range(samples):
        picks: dict[str, np.ndarray] = {
            g: rng.integers(0, n, size=n) if n else np.zeros(0, dtype=int) for g, n in sizes.items()
        }
        vectors = {name: vector_from(d, picks, aggregation, themes) for name, d in models.items()}
        try:
            rows.append([np.nan if v is None else float(v) for v in rescore(vectors)])
        except ValueError:  # e.g. an all-zero resampled vector: cosine undefined
            rows.append([])
    width = max((len(r) for r in rows), default=0)
    return np.array([r or [np.nan] * width for r in rows], dtype=float).reshape(samples, width)


def interval(draws: np.ndarray) -> tuple[float, float, int]:
    """(2.5th, 97.5th percentile, number of defined draws) of one statistic's draws."""
    defined = draws[np.isfinite(draws)]
    if not len(defined):
        return float("nan"), float("nan"), 0
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high), len(defined)


def score_interval(
    items: Sequence[Item],
    models: Mapping[str, ItemData],
    rescore: Callable[[Mapping[str, np.ndarray]], float],
    aggregation: Aggregation = "progressgym-2024",
    samples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, int]:
    """95% bootstrap interval of a score (see ``score_draws``).

    Returns:
        (low, high, number of samples that could be scored).
    """
    draws = score_draws(items, models, lambda v: [rescore(v)], aggregation, samples, seed)
    return interval(draws[:, 0]) if draws.size else (float("nan"), float("nan"), 0)


def paired_interval(draws_a: Sequence[float], draws_b: Sequence[float]) -> tuple[float, float, int]:
    """95% interval of a - b from two runs' aligned draws (same items, seed and samples).

    Raises:
        ValueError: the draws are not aligned (different numbers of samples).
    """
    a, b = np.asarray(draws_a, dtype=float), np.asarray(draws_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"unpaired draws: {a.shape} against {b.shape} samples")
    return interval(a - b)


@dataclass(frozen=True)
class PairedDifference:
    """Per-dimension difference of two models' vectors (b - a) with a paired 95% interval."""

    difference: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: int

    @property
    def separable(self) -> np.ndarray:
        """Dimensions whose interval excludes 0."""
        return (self.low > 0) | (self.high < 0)


def paired_difference(
    items: Sequence[Item],
    a: ItemData,
    b: ItemData,
    aggregation: Aggregation = "progressgym-2024",
    samples: int = 1000,
    seed: int = 0,
) -> PairedDifference:
    """Difference of two models' value vectors with a *paired* bootstrap interval.

    Both vectors are recomputed from the same item resample in every draw, so what the two
    models share (the items' own difficulty, the common component of their answers) cancels,
    and the interval measures only how surely they differ (docs/statistics.md).
    """
    themes = _themes(items)
    sizes: dict[str, int] = {g: sum(it.group == g for it in items) for g in GROUPS}
    whole: dict[str, np.ndarray] = {g: np.arange(n) for g, n in sizes.items()}
    difference = vector_from(b, whole, aggregation, themes) - vector_from(
        a, whole, aggregation, themes
    )
    if samples <= 0:
        return PairedDifference(difference, difference.copy(), difference.copy(), 0)
    rng = np.random.default_rng(seed)
    draws = np.zeros((samples, len(difference)))
    for k in range(samples):
        picks: dict[str, np.ndarray] = {
            g: rng.integers(0, n, size=n) if n else np.zeros(0, dtype=int) for g, n in sizes.items()
        }
        draws[k] = vector_from(b, picks, aggregation, themes) - vector_from(
            a, picks, aggregation, themes
        )
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return PairedDifference(difference, np.asarray(low), np.asarray(high), samples)
