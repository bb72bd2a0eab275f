"""Evaluate a model on the questionnaire: prompts → backend → per-item choices → value vector."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from progalign.backends.base import Backend, ContinuationScore, LLRequest, PromptFormat
from progalign.evaluation.matching import REFUSAL, AnswerMatcher, Embedder
from progalign.evaluation.prompts import (
    PLAIN,
    PermutationScheme,
    Prompt,
    Scoring,
    build_prompts,
    candidates,
    check_question_types,
    question_types,
)
from progalign.evaluation.templates import Templates
from progalign.evaluation.vector import DIMENSIONS, Aggregation, value_vector
from progalign.questionnaire.items import Item
from progalign.settings import EvaluationSettings

Mode = Literal["logprob", "generate"]
#: How an option's log-likelihood is normalised before the softmax over options: per token, per
#: UTF-8 byte of the continuation (lm-eval's ``acc_norm``; rescaled to the options' mean byte
#: length), or not at all (summed). docs/evaluation.md.
Normalise = Literal["tokens", "bytes", "none"]


_DEFAULTS = EvaluationSettings()  # the config's evaluation defaults (progalign.settings)


@dataclass(frozen=True)
class EvalSettings:
    """How a model is asked and how its answers are credited (all recorded in the result)."""

    mode: Mode = _DEFAULTS.mode
    scoring: Scoring = "texts"
    normalise: Normalise = "tokens"
    permutations: PermutationScheme = _DEFAULTS.permutations
    prompt_format: PromptFormat = _DEFAULTS.prompt_format
    aggregation: Aggregation = _DEFAULTS.aggregation
    bootstrap: int = _DEFAULTS.bootstrap
    seed: int = _DEFAULTS.seed
    max_new_tokens: int = 48
    temperature: float = 0.0
    question_types: tuple[str, ...] | None = _DEFAULTS.question_types  # None: every type


@dataclass
class _Tally:
    """Per (item, question type): summed choice distributions and answer counts."""

    mass: np.ndarray
    valid: int = 0
    invalid: int = 0
    refusals: int = 0


def _choice_probs(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    values = np.exp(values - values.max())
    return values / values.sum()


def types_asked(item: Item, settings: EvalSettings) -> tuple[str, ...]:
    """The question types an item is asked under ``settings`` (``plain`` scoring: one)."""
    if settings.scoring == "plain":
        return (PLAIN,)
    return question_types(item, settings.question_types)


def _request(prompt: Prompt, backend: Backend, templates: Templates, s: EvalSettings) -> LLRequest:
    """A plain prompt is its own context; the upstream forms go through the prompt format."""
    context = (
        prompt.input
        if prompt.qtype == PLAIN
        else backend.format_prompt(prompt.instruction, prompt.input, s.prompt_format)
    )
    return LLRequest(context, candidates(prompt, templates.questions.get(prompt.qtype), s.scoring))


def _normalised(
    options: Sequence[ContinuationScore], texts: Sequence[str], normalise: Normalise
) -> np.ndarray:
    if normalise == "tokens":
        return np.array([o.mean_logprob for o in options])
    if normalise == "bytes":
        # per byte, rescaled to the options' mean length: each option's log-likelihood as if
        # all had the same length (the choice is the per-byte one; probabilities keep the scale
        # of a summed log-likelihood instead of crowding at 1/k)
        n_bytes = np.array([max(len(t.encode()), 1) for t in texts], dtype=float)
        return np.array([o.logprob for o in options]) / n_bytes * n_bytes.mean()
    if normalise == "none":
        return np.array([o.logprob for o in options])
    raise ValueError(f"unknown normalisation {normalise!r} (tokens, bytes, none)")


def _tally_logprob(
    prompts: Sequence[Prompt], backend: Backend, templates: Templates, s: EvalSettings
) -> dict[tuple[str, str], _Tally]:
    requests = [_request(p, backend, templates, s) for p in prompts]
    scored = backend.loglikelihood(requests, progress=True)
    tallies: dict[tuple[str, str], _Tally] = {}
    for prompt, request, options in zip(prompts, requests, scored, strict=True):
        raw = _normalised(options, request.continuations, s.normalise)
        tally = tallies.setdefault(
            (prompt.item_id, prompt.qtype), _Tally(np.zeros(len(prompt.order)))
        )
        # NaN/+inf (e.g. overflowing half-precision logits) or no finite option: not an answer
        if np.isnan(raw).any() or np.isposinf(raw).any() or not np.isfinite(raw).any():
            tally.invalid += 1
            continue
        shown = _choice_probs(raw)
        for position, original in enumerate(prompt.order):  # credit by content
            tally.mass[original] += shown[position]
        tally.valid += 1
    return tallies


def _tally_generate(
    prompts: Sequence[Prompt],
    backend: Backend,
    templates: Templates,
    s: EvalSettings,
    embedder: Embedder | None,
) -> tuple[dict[tuple[str, str], _Tally], list[dict[str, Any]]]:
    if s.scoring == "plain":
        raise ValueError("plain scoring scores option likelihoods; use mode 'logprob'")
    texts = [backend.format_prompt(p.instruction, p.input, s.prompt_format) for p in prompts]
    answers = backend.generate(
        texts,
        max_new_tokens=s.max_new_tokens,
        temperature=s.temperature,
        seed=s.seed,
        progress=True,
    )
    matcher = AnswerMatcher(templates.refusals, embedder=embedder)
    tallies: dict[tuple[str, str], _Tally] = {}
    log: list[dict[str, Any]] = []
    for prompt, answer in zip(prompts, answers, strict=True):
        tally = tallies.setdefault(
            (prompt.item_id, prompt.qtype), _Tally(np.zeros(len(prompt.order)))
        )
        match = matcher.match(answer, templates.questions[prompt.qtype], prompt.shown)
        original = None if match.position is None else prompt.order[match.position]
        if original is not None:
            tally.mass[original] += 1.0
            tally.valid += 1
        elif match.status == REFUSAL:
            tally.refusals += 1
        else:
            tally.invalid += 1
        log.append(
            {
                "item_id": prompt.item_id,
                "qtype": prompt.qtype,
                "order": list(prompt.order),
                "answer": answer,
                "match": match.status,
                "action": original,
            }
        )
    return tallies, log


def evaluate(
    items: Sequence[Item],
    templates: Templates,
    backend: Backend,
    settings: EvalSettings,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Evaluate ``backend`` on ``items``; return the result record (without provenance).

    Per item and question type, the choice distribution over the *original* actions is the
    mean over the asked option orders (each order weighs the same; upstream summed raw
    probability masses instead). An item's P(action) is the mean over its valid question types.
    """
    started = time.perf_counter()
    if settings.scoring != "plain":
        check_question_types(settings.question_types, items)
    prompts = build_prompts(
        items, templates, settings.permutations, settings.question_types, settings.scoring
    )
    answers: list[dict[str, Any]] = []
    if settings.mode == "logprob":
        tallies = _tally_logprob(prompts, backend, templates, settings)
    elif settings.mode == "generate":
        tallies, answers = _tally_generate(prompts, backend, templates, settings, embedder)
    else:
        raise ValueError(f"unknown mode {settings.mode!r} (logprob, generate)")
    inference_s = time.perf_counter() - started

    per_item: list[dict[str, Any]] = []
    probabilities: list[np.ndarray | None] = []
    totals: dict[str, int] = defaultdict(int)
    for item in items:
        by_type: dict[str, list[float] | None] = {}
        invalid: dict[str, int] = {}
        refusals: dict[str, int] = {}
        valid_dists = []
        for qtype in types_asked(item, settings):
            tally = tallies[(item.item_id, qtype)]
            dist = tally.mass / tally.valid if tally.valid else None
            by_type[qtype] = None if dist is None else [float(x) for x in dist]
            invalid[qtype], refusals[qtype] = tally.invalid, tally.refusals
            totals["invalid"] += tally.invalid
            totals["refusals"] += tally.refusals
            if dist is not None:
                valid_dists.append(dist)
        p = np.mean(valid_dists, axis=0) if valid_dists else None
        probabilities.append(p)
        per_item.append(
            {
                "item_id": item.item_id,
                "group": item.group,
                "p": None if p is None else [float(x) for x in p],
                "p_by_type": by_type,
                "invalid": invalid,
                "refusals": refusals,
            }
        )
    vec = value_vector(
        items, probabilities, settings.aggregation, settings.bootstrap, settings.seed
    )
    result: dict[str, Any] = {
        "schema": "progalign.values/1",
        "dimensions": list(DIMENSIONS),
        "vector": [float(x) for x in vec.vector],
        "ci95": {"low": [float(x) for x in vec.ci_low], "high": [float(x) for x in vec.ci_high]},
        "complete": vec.complete,
        "groups": {g: {"items": vec.n_items[g], "valid": vec.n_valid[g]} for g in vec.n_items},
        "counts": {"prompts": len(prompts), **totals},
        "settings": asdict(settings),
        "items": per_item,
        "timings": {
            "inference_s": round(inference_s, 3),
            "prompts_per_s": round(len(prompts) / max(inference_s, 1e-9), 2),
        },
    }
    if answers:
        result["answers"] = answers
    return result
