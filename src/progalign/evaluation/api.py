"""Evaluate one model into a value-vector record: the library entry point behind ``progalign
values``, also used in-process by the benchmark runner."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from progalign.backends.base import Backend, load_backend
from progalign.evaluation.engine import EvalSettings, Mode, evaluate
from progalign.evaluation.matching import Embedder
from progalign.evaluation.prompts import PermutationScheme
from progalign.evaluation.templates import load_templates
from progalign.evaluation.vector import Aggregation
from progalign.provenance import provenance
from progalign.questionnaire.items import Item
from progalign.questionnaire.store import Questionnaire, load_questionnaire

log = logging.getLogger(__name__)

#: Models below this size answer letter prompts degenerately (DESIGN §4): score option texts.
TEXT_SCORING_BELOW = 1_000_000_000


@dataclass(frozen=True)
class ValueOptions:
    """Everything that decides how a model is evaluated (recorded in the result)."""

    backend: str = "hf"
    mode: Mode = "logprob"
    scoring: str = "auto"
    permutations: PermutationScheme = "cyclic"
    prompt_format: str = "chat"
    aggregation: Aggregation = "progressgym-2024"
    bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 16
    max_new_tokens: int = 48
    temperature: float = 0.0
    device: str = "auto"
    dtype: str = "auto"
    threads: int | None = None
    lower_cache_layers: int | None = None
    question_types: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, section: dict[str, Any], **overrides: Any) -> ValueOptions:
        """Build from the config's ``evaluation`` section (unknown keys are ignored)."""
        known = {k: v for k, v in section.items() if k in cls.__dataclass_fields__}
        known.update(overrides)
        if known.get("question_types") is not None:
            known["question_types"] = tuple(known["question_types"])
        return cls(**known)


def open_backend(model: str, options: ValueOptions) -> Backend:
    """Load the scoring backend for ``model`` with the options' device, dtype and threads."""
    backend_options: dict[str, Any] = {"device": options.device, "dtype": options.dtype}
    if options.backend == "hf":
        backend_options.update(batch_size=options.batch_size, threads=options.threads,
                               lower_cache_layers=options.lower_cache_layers)
    return load_backend(options.backend, model, **backend_options)


def choose_scoring(backend: Backend, requested: str) -> tuple[str, str]:
    """Resolve ``auto`` scoring from the model size; return (scoring, reason)."""
    if requested != "auto":
        return requested, "requested"
    n_params = backend.n_parameters()
    if n_params is not None and n_params < TEXT_SCORING_BELOW:
        return "texts", (f"auto: {n_params} parameters; models under 1e9 answer letter prompts "
                         "degenerately, so option texts are scored by length-normalised likelihood")
    return "letters", f"auto: {n_params} parameters; letter/yes-no answers scored"


def evaluate_model(
    model: str,
    questionnaire: Questionnaire | str | Path,
    options: ValueOptions,
    items: list[Item] | None = None,
    embedder: Embedder | None = None,
    backend: Backend | None = None,
    **provenance_extra: Any,
) -> dict[str, Any]:
    """Evaluate ``model`` on a questionnaire; return the full result record with provenance.

    Args:
        model: Model folder or repo id (already resolved).
        questionnaire: A loaded questionnaire or its folder.
        options: Evaluation options.
        items: A subset of the questionnaire's items (default: all).
        embedder: Optional semantic matcher for generate mode.
        backend: An already loaded backend for ``model`` (default: load one).
        **provenance_extra: Extra provenance fields (e.g. the command and its arguments).
    """
    started = time.perf_counter()
    q = questionnaire if isinstance(questionnaire, Questionnaire) else load_questionnaire(
        questionnaire)
    templates = load_templates(q.templates_dir)
    chosen = list(q.items) if items is None else items
    backend = backend or open_backend(model, options)
    scoring, reason = choose_scoring(backend, options.scoring)
    settings = EvalSettings(
        mode=options.mode, scoring=scoring, length_normalise=scoring == "texts",  # type: ignore[arg-type]
        permutations=options.permutations, prompt_format=options.prompt_format,  # type: ignore[arg-type]
        aggregation=options.aggregation, bootstrap=options.bootstrap, seed=options.seed,
        max_new_tokens=options.max_new_tokens, temperature=options.temperature,
        question_types=options.question_types,
    )
    result = evaluate(chosen, templates, backend, settings, embedder=embedder)
    actions = {it.item_id: list(it.actions) for it in chosen}
    for row in result["items"]:
        row["actions"] = actions[row["item_id"]]
    result["scoring_choice"] = reason
    result["questionnaire"] = {
        "protocol": q.meta.get("protocol"),
        "items_sha256": q.items_sha256,
        "n_items": len(chosen),
        "subsample": q.meta.get("subsample"),
        "sources": q.meta.get("sources"),
    }
    result["provenance"] = provenance(
        options=asdict(options), backend=backend.describe(),
        seeds={"bootstrap": options.seed, "generation": options.seed}, **provenance_extra,
    )
    result["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    return result
