"""Extrapolation of per-comparison preference trajectories (docs/semantics.md#extrapolation).

Each comparison gets a vote per past step: +1 if that step ordered the pair as the latest step
does, -1 if reversed, 0 if missing. The next votes follow from setting the (e+1)-th finite
difference to zero: x_next = Σ_i C(e+1, i) · (-1)^(e-i) · x_i over the last e+1 votes (oldest
first), repeated ``horizon`` times with a sliding window. The final value w decides the pair's
direction (sign) and its sample weight (min(|w|, 5)). w = 0 drops the comparison (upstream
asserted w != 0, which fails for order >= 2 when a vote is missing).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from math import comb

MAX_WEIGHT = 5

Pair = tuple[str, str]  # (chosen, rejected)


def coefficients(order: int) -> list[int]:
    """Coefficients c_0..c_e (c_0 for the oldest vote) of the order-e extrapolation."""
    return [comb(order + 1, i) * (-1) ** (order - i) for i in range(order + 1)]


def extrapolate_votes(votes: Sequence[int], horizon: int) -> int:
    """Extrapolate a vote history (oldest first) ``horizon`` steps ahead."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    window = list(votes)
    c = coefficients(len(window) - 1)
    for _ in range(horizon):
        nxt = sum(ci * xi for ci, xi in zip(c, window, strict=True))
        window = [*window[1:], nxt]
    return window[-1]


@dataclass(frozen=True)
class Weighted:
    """An extrapolated comparison: the pair in its extrapolated direction and its weight."""

    key: Hashable
    pair: Pair
    weight: int
    raw: int


def extrapolate(
    history: Sequence[Mapping[Hashable, Pair | None]], order: int, horizon: int
) -> tuple[list[Weighted], dict[str, int]]:
    """Build the extrapolated preference set from the preference history (oldest first).

    Args:
        history: One mapping per elicitation step, comparison key -> (chosen, rejected), or
            None/absent when that step gave no decision.
        order: Requested extrapolation order k; the effective order is min(k, len(history)-1).
        horizon: Steps ahead (``timesteps_ahead``).

    Returns:
        The weighted comparisons, and counts (``kept``, ``flipped``, ``dropped_zero``,
        ``missing_latest``, ``capped``).
    """
    if not history:
        raise ValueError("empty preference history")
    used = history[-(min(order, len(history) - 1) + 1) :]
    latest = used[-1]
    counts = dict.fromkeys(("kept", "flipped", "dropped_zero", "missing_latest", "capped"), 0)
    out: list[Weighted] = []
    keys = set().union(*(h.keys() for h in used))
    for key in sorted(keys, key=repr):
        pair = latest.get(key)
        if pair is None:
            counts["missing_latest"] += 1
            continue
        votes = []
        for step in used:
            past = step.get(key)
            votes.append(0 if past is None else (1 if past == pair else -1))
        w = extrapolate_votes(votes, horizon)
        if w == 0:
            counts["dropped_zero"] += 1
            continue
        direction = pair if w > 0 else (pair[1], pair[0])
        counts["flipped"] += w < 0
        counts["capped"] += abs(w) > MAX_WEIGHT
        counts["kept"] += 1
        out.append(Weighted(key, direction, min(abs(w), MAX_WEIGHT), w))
    return out, counts
