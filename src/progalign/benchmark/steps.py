"""The benchmark's unit jobs. Each reads finished artefacts, writes its own atomically and is
skipped when its output exists, so ``progalign run`` and the Snakemake DAG share them and a
killed run resumes where it stopped."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from progalign.benchmark.pool import PoolItem, build_pool
from progalign.benchmark.preferences import (
    Preference,
    elicit,
    load_preferences,
    save_preferences,
    summary,
)
from progalign.benchmark.protocol import Challenge, Examinee, Feedback, StepContext
from progalign.benchmark.spec import BenchmarkSpec
from progalign.errors import ProgalignError
from progalign.evaluation.api import evaluate_model, open_backend
from progalign.evaluation.templates import load_templates
from progalign.io import atomic_dir, read_json, read_jsonl, scratch_dir, write_json, write_jsonl
from progalign.provenance import provenance
from progalign.questionnaire.store import load_questionnaire

log = logging.getLogger(__name__)


def pool_for(spec: BenchmarkSpec) -> list[PoolItem]:
    """The comparison pool of the spec's questionnaire."""
    q = load_questionnaire(spec.questionnaire)
    return build_pool(
        q.items,
        load_templates(q.templates_dir),
        spec.pool.question_types,
        spec.pool.max_items,
        spec.pool.seed,
    )


def values(
    spec: BenchmarkSpec, model: Path, out: Path, calibrate: bool = True, **extra: Any
) -> Path:
    """Evaluate ``model`` into a value-vector JSON at ``out`` (skipped when it exists).

    ``calibrate=False`` skips the calibration items (docs/evaluation.md) whatever the spec
    says: examinees and simulated humans are measured the way their judges were, and
    re-measuring the calibration of each of their dozens of checkpoints would cost the quick
    default minutes.
    """
    if not out.exists():
        options = spec.values if calibrate else replace(spec.values, calibration=False)
        result = evaluate_model(str(model), spec.questionnaire, options, **extra)
        write_json(out, result)
    return out


def preferences(spec: BenchmarkSpec, model: Path, out: Path) -> list[Preference]:
    """Elicit ``model``'s preferences over the pool into ``out`` (skipped when it exists)."""
    if not out.exists():
        pool = pool_for(spec)
        if not pool:
            raise ProgalignError("the comparison pool is empty (check benchmark.pool)")
        backend = open_backend(str(model), spec.values)
        prefs = elicit(backend, pool, spec.elicit)
        save_preferences(out, prefs)
        log.info("preferences of %s: %s", model, summary(prefs))
    return load_preferences(out)


def answers(spec: BenchmarkSpec, model: Path, prefs_path: Path, out: Path) -> list[tuple[str, str]]:
    """(prompt, answer) pairs of ``model`` on the pool, for the simulated humans' SFT.

    ``choice``: the answer is the response the model prefers (read from ``prefs_path``,
    elicited first if absent). ``generate``: a free-text answer (upstream).
    """
    if not out.exists():
        if spec.coevolve.answers == "choice":
            prefs = preferences(spec, model, prefs_path)
            rows = [
                {"prompt": p.prompt, "answer": pair[0]}
                for p in prefs
                if (pair := p.pair) is not None
            ]
        elif spec.coevolve.answers == "generate":
            pool = pool_for(spec)
            backend = open_backend(str(model), spec.values)
            texts = [
                backend.format_prompt(p.instruction, p.input, spec.elicit.prompt_format)
                for p in pool
            ]
            generated = backend.generate(
                texts,
                max_new_tokens=spec.coevolve.max_new_tokens,
                temperature=spec.coevolve.temperature,
                seed=spec.elicit.seed,
                progress=True,
            )
            rows = [
                {"prompt": p.prompt, "answer": a.strip()}
                for p, a in zip(pool, generated, strict=True)
                if a.strip()
            ]
        else:
            raise ProgalignError(f"unknown coevolve answers mode {spec.coevolve.answers!r}")
        write_jsonl(out, rows)
    return read_answers(out)


def read_answers(path: Path) -> list[tuple[str, str]]:
    """(prompt, answer) pairs from an answers JSONL file."""
    return [(str(r["prompt"]), str(r["answer"])) for r in read_jsonl(path)]


def examinee_step(
    spec: BenchmarkSpec,
    examinee: Examinee,
    seed: int,
    step: int,
    previous: Path | None,
    feedback: Path,
    out: Path,
) -> Path:
    """One examinee update: ``previous`` step folder (None: the start) -> ``out`` folder.

    ``out`` receives ``model/``, ``state.json`` and ``step.json`` (timings, provenance).
    """
    if (out / "state.json").exists():
        return out
    if previous is None:
        model, state = spec.model(spec.centuries[0]), examinee.initial_state()
    else:
        model, state = previous / "model", read_json(previous / "state.json")
        if not (model / "config.json").exists():
            raise ProgalignError(f"{previous}: no model (was it deleted as temporary?)")
    prefs = load_preferences(feedback)
    century = spec.centuries[step] if step < len(spec.centuries) else f"step{step}"
    started = time.perf_counter()
    with atomic_dir(out) as tmp, scratch_dir(out) as scratch:
        ctx = StepContext(spec.model(spec.centuries[0]), scratch, seed, spec.training)
        new_state = examinee.update(
            state, model, Feedback(step, century, prefs), tmp / "model", ctx
        )
        if not (tmp / "model" / "config.json").exists():
            raise ProgalignError(f"{examinee.name}.update wrote no model at step {step}")
        write_json(tmp / "state.json", new_state)
        write_json(
            tmp / "step.json",
            {
                "step": step,
                "century": century,
                "seed": seed,
                "examinee": examinee.describe(),
                "feedback": {"path": str(feedback), **summary(prefs)},
                "duration_s": round(time.perf_counter() - started, 3),
                "provenance": provenance(command="step examinee"),
            },
        )
    return out


def humans_step(
    spec: BenchmarkSpec,
    judge: Challenge,
    seed: int,
    step: int,
    human: Path,
    history_answers: Path,
    examinee_model: Path,
    out: Path,
) -> Path:
    """A simulated-feedback judge's step: H_{t-1} (``human``) -> H_t in ``out/model``, by the
    challenge's own :meth:`Challenge.update_humans` (PG-Coevolve: two SFT stages).

    ``history_answers`` holds M_t's answers (shared); the examinee's answers are produced here.
    """
    if judge.feedback != "simulated":
        raise ProgalignError(f"challenge {judge.label!r} keeps no simulated humans")
    if (out / "humans.json").exists():
        return out
    started = time.perf_counter()
    history = read_answers(history_answers)
    with atomic_dir(out) as tmp, scratch_dir(out) as scratch:
        influence = answers(
            spec, examinee_model, tmp / "examinee_preferences.jsonl", tmp / "examinee_answers.jsonl"
        )
        ctx = StepContext(spec.model(spec.centuries[0]), scratch, seed, spec.training)
        metrics = judge.update_humans(human, history, influence, tmp / "model", ctx)
        write_json(
            tmp / "humans.json",
            {
                "step": step,
                "seed": seed,
                "challenge": judge.describe(),
                "history_answers": len(history),
                "examinee_answers": len(influence),
                "training": metrics,
                "duration_s": round(time.perf_counter() - started, 3),
                "provenance": provenance(command="step humans"),
            },
        )
    return out
