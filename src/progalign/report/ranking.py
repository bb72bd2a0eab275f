"""Tie-aware ranks from paired differences (docs/statistics.md).

An algorithm is *separably better* than another on a challenge when the paired 95% interval of
their score difference excludes 0 with the same sign in every seed. Its rank on the challenge is
1 + the number of algorithms separably better than it, so algorithms nothing separates share a
rank (a tie), however their means are ordered. Overall, A is better than B when A is separably
better on at least one challenge and B on none (dominance); the overall rank is again
1 + the number of algorithms better than it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

#: {challenge: {algorithm: algorithms it is separably better than}}
Wins = dict[str, dict[str, set[str]]]


def separable_wins(differences: pd.DataFrame, statistic: str = "score") -> Wins:
    """Who is separably better than whom, per challenge, from the ``differences`` table."""
    part = differences[differences["statistic"] == statistic]
    wins: Wins = {}
    for (challenge, a, b), rows in part.groupby(["challenge", "algorithm_a", "algorithm_b"]):
        table = wins.setdefault(str(challenge), {})
        table.setdefault(str(a), set())
        table.setdefault(str(b), set())
        if (rows["ci_low"] > 0).all():  # a - b > 0 surely, in every seed
            table[str(a)].add(str(b))
        elif (rows["ci_high"] < 0).all():
            table[str(b)].add(str(a))
    return wins


def interval_wins(aggregated: pd.DataFrame) -> Wins:
    """Without paired draws: A beats B on a challenge when A's whole 95% interval lies above
    B's (non-overlapping intervals; conservative). ``aggregated``: ``aggregate_scores``."""
    wins: Wins = {}
    for challenge, part in aggregated.groupby("challenge"):
        table = wins.setdefault(str(challenge), {})
        for a in part.itertuples():
            table[str(a.algorithm)] = {
                str(b.algorithm)
                for b in part.itertuples()
                if b.algorithm != a.algorithm and a.ci_low > b.ci_high
            }
    return wins


def ranks(algorithms: Iterable[str], better: Mapping[str, set[str]]) -> dict[str, int]:
    """1 + the number of algorithms better than each (``better[x]``: those x beats)."""
    names = list(algorithms)
    return {a: 1 + sum(a in better.get(b, set()) for b in names if b != a) for a in names}


def dominance(wins: Wins, algorithms: Iterable[str]) -> dict[str, set[str]]:
    """A beats B overall when A wins on some challenge and B on none."""
    names = list(algorithms)
    beats: dict[str, set[str]] = {a: set() for a in names}
    for a in names:
        for b in names:
            if a == b:
                continue
            a_wins = any(b in table.get(a, set()) for table in wins.values())
            b_wins = any(a in table.get(b, set()) for table in wins.values())
            if a_wins and not b_wins:
                beats[a].add(b)
    return beats


def identical_results(differences: pd.DataFrame) -> list[str]:
    """Warnings for pairs of algorithms whose runs produced identical vectors."""
    same = differences[(differences["identical"] == 1) & (differences["statistic"] == "score")]
    return [
        f"{r.algorithm_a} and {r.algorithm_b} produced identical results on {r.challenge} "
        f"(seed {r.seed}): no score can tell them apart"
        for r in same.itertuples()
    ]


def _decimals_for(value: float) -> int:
    """Decimals that show the first significant digit of ``value`` (> 0)."""
    return 1 - math.floor(math.log10(value))


def digits_to_show(
    differences: pd.DataFrame | None,
    widths: Iterable[float] = (),
    minimum: int = 3,
    maximum: int = 8,
) -> int:
    """Decimals needed to see the smallest separable difference and the narrowest interval
    (``widths``: high - low of the printed intervals), at least ``minimum``."""
    needed = minimum
    if differences is not None and not differences.empty:
        separable = differences.loc[differences["separable"] == 1, "difference"].abs()
        separable = separable[separable > 0]
        if not separable.empty:
            needed = max(needed, _decimals_for(float(separable.min())))
    positive = [w for w in widths if math.isfinite(w) and w > 0]
    if positive:
        needed = max(needed, _decimals_for(min(positive)) - 1)
    return min(maximum, needed)
