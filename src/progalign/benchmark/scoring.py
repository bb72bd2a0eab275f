"""Scoring one (challenge, algorithm, seed): the result JSON with score, interval, per-step
similarities, every vector and provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from progalign.benchmark.bootstrap import ItemData, item_data, score_interval
from progalign.benchmark.protocol import Challenge, ScoreInput
from progalign.benchmark.spec import BenchmarkSpec
from progalign.io import read_json
from progalign.provenance import provenance
from progalign.questionnaire.store import load_questionnaire

SCHEMA = "progalign.score/1"


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
        return ScoreInput(actual=a, examinee={t: vectors[f"e{t}"] for t in examinee},
                          simulated=sims)

    scored = challenge.score(inputs({k: _vector(r) for k, r in results.items()}))
    q = load_questionnaire(spec.questionnaire)
    data: dict[str, ItemData] = {k: item_data(q.items, r) for k, r in results.items()}
    low, high, used = score_interval(
        q.items, data, lambda v: challenge.score(inputs(v)).score,
        spec.values.aggregation, spec.bootstrap, seed,
    )
    steps = [{"step": t, "century": centuries[t] if t < len(centuries) else None,
              "target_century": centuries[target], "similarity": sim}
             for t, (target, sim) in sorted(scored.steps.items())]
    return {
        "schema": SCHEMA,
        "challenge": challenge.describe(),
        "algorithm": dict(algorithm),
        "seed": seed,
        "score": scored.score,
        "version": challenge.version,
        "ci95": {"low": low, "high": high, "samples": used, "method":
                 "percentile bootstrap over questionnaire items (within groups)"},
        "steps": steps,
        "vectors": {
            "actual": {c: results[f"a{i}"]["vector"] for i, c in enumerate(centuries)},
            "examinee": {str(t): results[f"e{t}"]["vector"] for t in examinee},
            "simulated": [results[f"s{i + 1}"]["vector"] for i in range(len(simulated))],
        },
        "complete": all(bool(r.get("complete", True)) for r in results.values()),
        "durations_s": dict(durations or {}),
        "spec": spec.describe(),
        "provenance": provenance(command="score", questionnaire_sha256=q.items_sha256,
                                 seeds={"run": seed, "bootstrap": seed}),
    }
