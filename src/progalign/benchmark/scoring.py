"""Scoring one (challenge, algorithm, seed): the result JSON with score, interval, per-step
similarities, every vector and provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from progalign.benchmark.bootstrap import ItemData, interval, item_data, score_draws
from progalign.benchmark.protocol import Challenge, ScoreInput
from progalign.benchmark.spec import BenchmarkSpec
from progalign.io import read_json
from progalign.provenance import provenance
from progalign.questionnaire.store import load_questionnaire

SCHEMA = "progalign.score/2"
BOOTSTRAP_METHOD = "percentile bootstrap over questionnaire items (within groups)"


def _vector(result: Mapping[str, Any]) -> np.ndarray:
    return np.asarray(result["vector"], dtype=float)


def score_run(
    spec: BenchmarkSpec,
    challenge: Challenge,
    algorithm: Mapping[str, Any],
    seed: int,
    actual: Mapping[str, Path],
    examinee: Mapping[int, Path],
    simulated: Sequence[Path] = (),
    durations: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Score a finished trajectory from its value-vector files.

    Args:
        spec: The benchmark spec.
        challenge: The challenge instance.
        algorithm: The examinee's ``describe()`` record.
        seed: The run's seed.
        actual: Century -> value JSON of the historical model, for the whole timeline.
        examinee: Judge step -> value JSON of the examinee (history-fed challenges).
        simulated: Value JSONs of H_1.. (Coevolve; s_0 = a_0 is added here).
        durations: Step durations to record.
    """
    centuries = list(spec.centuries)
    results = {f"a{i}": read_json(actual[c]) for i, c in enumerate(centuries)}
    results |= {f"e{t}": read_json(p) for t, p in examinee.items()}
    results |= {f"s{i + 1}": read_json(p) for i, p in enumerate(simulated)}

    def inputs(vectors: Mapping[str, np.ndarray]) -> ScoreInput:
        a = [vectors[f"a{i}"] for i in range(len(centuries))]
        sims = [a[0], *(vectors[f"s{i + 1}"] for i in range(len(simulated)))] if simulated else []
        return ScoreInput(
            actual=a, examinee={t: vectors[f"e{t}"] for t in examinee}, simulated=sims
        )

    scored = challenge.score(inputs({k: _vector(r) for k, r in results.items()}))
    q = load_questionnaire(spec.questionnaire)
    data: dict[str, ItemData] = {k: item_data(q.items, r) for k, r in results.items()}

    def statistics(vectors: Mapping[str, np.ndarray]) -> list[float | None]:
        again = challenge.score(inputs(vectors))
        return [again.score, again.shift]

    draws = score_draws(q.items, data, statistics, spec.values.aggregation, spec.bootstrap, seed)
    low, high, used = interval(draws[:, 0]) if draws.size else (np.nan, np.nan, 0)
    steps = [
        {
            "step": t,
            "century": centuries[t] if t < len(centuries) else None,
            "target_century": centuries[target],
            "similarity": sim,
            "shift_similarity": scored.shift_steps.get(t),
        }
        for t, (target, sim) in sorted(scored.steps.items())
    ]
    shift = None
    if scored.shift is not None:
        s_low, s_high, s_used = interval(draws[:, 1]) if draws.size else (np.nan, np.nan, 0)
        shift = {
            "score": scored.shift,
            "version": challenge.shift_version,
            "ci95": {"low": s_low, "high": s_high, "samples": s_used, "method": BOOTSTRAP_METHOD},
            "draws": _finite_or_none(draws[:, 1]) if draws.size else [],
        }
    return {
        "schema": SCHEMA,
        "challenge": challenge.describe(),
        "algorithm": dict(algorithm),
        "seed": seed,
        "score": scored.score,
        "version": challenge.version,
        "ci95": {"low": low, "high": high, "samples": used, "method": BOOTSTRAP_METHOD},
        # draw k of every run of this questionnaire and seed resamples the same items: the
        # difference of two runs' draws is their paired bootstrap (docs/statistics.md)
        "bootstrap": {
            "seed": seed,
            "samples": spec.bootstrap,
            "items_sha256": q.items_sha256,
            "draws": _finite_or_none(draws[:, 0]) if draws.size else [],
        },
        "shift": shift,
        "steps": steps,
        "vectors": {
            "actual": {c: results[f"a{i}"]["vector"] for i, c in enumerate(centuries)},
            "examinee": {str(t): results[f"e{t}"]["vector"] for t in examinee},
            "simulated": [results[f"s{i + 1}"]["vector"] for i in range(len(simulated))],
        },
        "per_item": {
            "item_ids": [it.item_id for it in q.items],
            "p": {k: _per_item(q.items, r) for k, r in results.items()},
        },
        "complete": all(bool(r.get("complete", True)) for r in results.values()),
        "durations_s": dict(durations or {}),
        "spec": spec.describe(),
        "provenance": provenance(
            command="score",
            questionnaire_sha256=q.items_sha256,
            seeds={"run": seed, "bootstrap": seed},
        ),
    }


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _per_item(items: Sequence[Any], result: Mapping[str, Any]) -> list[list[float] | None]:
    """One model's choice distribution per questionnaire item, in questionnaire order."""
    rows = {row["item_id"]: row["p"] for row in result["items"]}
    return [rows.get(it.item_id) for it in items]
