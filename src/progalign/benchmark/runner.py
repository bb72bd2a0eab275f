"""``progalign run``: one (algorithm, challenge, seed) in one process, through the same unit
jobs as the workflow, resumable from its last finished step.

Timeline (docs/semantics.md#timeline): the examinee starts from the first century's model;
the judge ticks first, so the examinee's first update uses the second century's feedback; one
update per later century that the challenge evaluates.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from progalign.benchmark import steps as jobs
from progalign.benchmark.layout import Layout, Timeline
from progalign.benchmark.registry import get_algorithm, get_challenge
from progalign.benchmark.scoring import score_run
from progalign.benchmark.spec import BenchmarkSpec
from progalign.io import read_json, write_json

log = logging.getLogger(__name__)


def run_benchmark(
    spec: BenchmarkSpec, algorithm: str, challenge: str, seed: int, root: Path
) -> dict[str, Any]:
    """Run (or resume) one benchmark and write its score JSON; return the result."""
    examinee = get_algorithm(algorithm)(**spec.params)
    judge = get_challenge(challenge)(**spec.challenge_params.get(challenge, {}))
    layout = Layout(root, spec.family)
    target = layout.score(judge.label, algorithm, seed)
    if target.exists():
        log.info("%s exists; nothing to do", target)
        result: dict[str, Any] = read_json(target)
        return result
    centuries = spec.centuries
    timeline = Timeline(layout, centuries, {c: spec.model(c) for c in centuries})
    evaluated = judge.evaluated_steps(len(centuries))
    traj, simulated_feedback = judge.trajectory, judge.feedback == "simulated"
    durations: dict[str, float] = {}

    def timed(name: str, started: float) -> None:
        durations[name] = round(durations.get(name, 0.0) + time.perf_counter() - started, 3)

    started = time.perf_counter()
    actual = {c: jobs.values(spec, spec.model(c), layout.values(c)) for c in centuries}
    timed("judge_values", started)
    examinee_values: dict[int, Path] = {}
    simulated: list[Path] = []
    for t in evaluated:
        century = centuries[t]
        log.info("%s/%s seed %d: step %d (%s)", challenge, algorithm, seed, t, century)
        started = time.perf_counter()
        feedback = timeline.feedback(traj, simulated_feedback, algorithm, seed, t)
        source = (
            timeline.human(traj, algorithm, seed, t)
            if simulated_feedback
            else (spec.model(century))
        )
        jobs.preferences(spec, source, feedback)
        timed("feedback", started)
        started = time.perf_counter()
        step_dir = layout.step(traj, algorithm, seed, t)
        jobs.examinee_step(
            spec, examinee, seed, t, timeline.previous(traj, algorithm, seed, t), feedback, step_dir
        )
        timed("examinee_update", started)
        started = time.perf_counter()
        if not simulated_feedback:
            examinee_values[t] = jobs.values(
                spec,
                step_dir / "model",
                layout.step_values(traj, algorithm, seed, t),
                calibrate=False,
            )
        else:
            history = timeline.history_answers(t)
            jobs.answers(spec, spec.model(century), layout.preferences(century), history)
            humans = jobs.humans_step(
                spec,
                judge,
                seed,
                t,
                timeline.human(traj, algorithm, seed, t),
                history,
                step_dir / "model",
                layout.humans(traj, algorithm, seed, t),
            )
            simulated.append(
                jobs.values(
                    spec,
                    humans / "model",
                    layout.humans_values(traj, algorithm, seed, t),
                    calibrate=False,
                )
            )
        timed("evaluation", started)
    result = score_run(
        spec, judge, examinee.describe(), seed, actual, examinee_values, simulated, durations
    )
    write_json(target, result)
    log.info(
        "%s/%s seed %d: score %.4f [%.4f, %.4f]",
        challenge,
        algorithm,
        seed,
        result["score"],
        result["ci95"]["low"],
        result["ci95"]["high"],
    )
    return result


def summary_line(result: dict[str, Any]) -> str:
    """One line for the terminal."""
    return json.dumps(
        {
            "challenge": result["challenge"]["label"],
            "algorithm": result["algorithm"]["name"],
            "seed": result["seed"],
            "score": round(result["score"], 6),
            "ci95": [round(result["ci95"]["low"], 6), round(result["ci95"]["high"], 6)],
        }
    )
