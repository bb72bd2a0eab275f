"""Evaluate one model into a value-vector record: the library entry point behind ``progalign
values``, also used in-process by the benchmark runner."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from progalign.backends.base import Backend
from progalign.backends.factory import load_backend
from progalign.errors import SettingError
from progalign.evaluation.calibration import calibration_share
from progalign.evaluation.engine import EvalSettings, Mode, Normalise, evaluate
from progalign.evaluation.matching import Embedder
from progalign.evaluation.prompts import PermutationScheme
from progalign.evaluation.templates import load_templates
from progalign.evaluation.vector import Aggregation
from progalign.provenance import provenance
from progalign.questionnaire.items import Item
from progalign.questionnaire.store import Questionnaire, load_questionnaire
from progalign.settings import EvaluationSettings, Settings

log = logging.getLogger(__name__)

#: Models below this size answer letter prompts degenerately: score option texts after a plain
#: cue instead (docs/evaluation.md, "Small models").
TEXT_SCORING_BELOW = 1_000_000_000
#: Option-likelihood normalisation per scoring (docs/evaluation.md).
NORMALISE: dict[str, Normalise] = {"plain": "bytes", "texts": "tokens", "letters": "none"}


_EVAL = EvaluationSettings()


@dataclass(frozen=True)
class ValueOptions:
    """Everything that decides how a model is evaluated (recorded in the result).

    The settings shared with the experiment config take their defaults from
    ``progalign.settings.EvaluationSettings`` (the one definition); the rest are run-time only.
    ``top_k_layers`` (the config's ``training.top_k_layers``) says the model differs from its
    family only in its top k decoder layers, so the hf backend reuses cached activations of the
    others; ``lower_cache_layers`` names that depth directly instead. ``tensor_parallel`` is
    vLLM's tensor parallel size (the workflow passes the resource plan's; docs/resources.md).
    """

    backend: str = _EVAL.backend
    mode: Mode = _EVAL.mode
    scoring: str = _EVAL.scoring
    permutations: PermutationScheme = _EVAL.permutations
    prompt_format: str = _EVAL.prompt_format
    aggregation: Aggregation = _EVAL.aggregation
    bootstrap: int = _EVAL.bootstrap
    seed: int = _EVAL.seed
    batch_size: int = _EVAL.batch_size
    question_types: tuple[str, ...] | None = _EVAL.question_types
    calibration: bool = _EVAL.calibration
    max_new_tokens: int = 48
    temperature: float = 0.0
    device: str = "auto"
    dtype: str = "auto"
    threads: int | None = None
    tensor_parallel: int | None = None
    top_k_layers: int | None = None
    lower_cache_layers: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ValueOptions:
        """Build from resolved experiment settings (evaluation section, trained layers)."""
        values: dict[str, Any] = {
            **settings.evaluation.model_dump(),
            "top_k_layers": settings.training.top_k_layers,
            **overrides,
        }
        return cls(**values)


def open_backend(model: str, options: ValueOptions) -> Backend:
    """Load the scoring backend for ``model`` with the options' device, dtype and threads."""
    backend_options: dict[str, Any] = {"device": options.device, "dtype": options.dtype}
    if options.backend == "hf":
        backend_options.update(
            batch_size=options.batch_size,
            threads=options.threads,
            lower_cache_layers=options.lower_cache_layers,
            top_k_layers=options.top_k_layers,
        )
    if options.backend == "vllm" and options.tensor_parallel is not None:
        backend_options["tensor_parallel_size"] = options.tensor_parallel
    return load_backend(options.backend, model, **backend_options)


def choose_scoring(
    backend: Backend, requested: str, question_types: tuple[str, ...] | None = None
) -> tuple[str, str]:
    """Resolve ``auto`` scoring from the model size; return (scoring, reason).

    Below 1e9 parameters ``auto`` scores option texts after a plain cue (``plain``), unless
    question types were asked for: then the option texts inside those upstream forms
    (``texts``). ``plain`` asks no upstream question form, so it takes no question types.

    Raises:
        SettingError: ``plain`` scoring with question types.
    """
    if requested == "plain" and question_types is not None:
        raise SettingError(
            "scoring 'plain' asks no upstream question form: drop "
            f"question_types {list(question_types)} or choose scoring 'texts'"
        )
    if requested != "auto":
        return requested, "requested"
    n_params = backend.n_parameters()
    if n_params is not None and n_params < TEXT_SCORING_BELOW:
        small = f"auto: {n_params} parameters; models under 1e9 answer letter prompts degenerately"
        if question_types is not None:
            return "texts", (
                f"{small}, so the option texts of the requested question types "
                "are scored by per-token likelihood"
            )
        return "plain", (
            f"{small}, so each option text is scored as the continuation of the "
            "scenario and a plain cue, by per-byte likelihood"
        )
    return "letters", f"auto: {n_params} parameters; letter/yes-no answers scored"


def eval_settings(options: ValueOptions, scoring: str) -> EvalSettings:
    """The engine's settings for ``options`` once ``auto`` scoring is resolved."""
    return EvalSettings(
        mode=options.mode,
        scoring=scoring,  # type: ignore[arg-type]
        normalise=NORMALISE[scoring],
        permutations=options.permutations,
        prompt_format=options.prompt_format,  # type: ignore[arg-type]
        aggregation=options.aggregation,
        bootstrap=options.bootstrap,
        seed=options.seed,
        max_new_tokens=options.max_new_tokens,
        temperature=options.temperature,
        question_types=None if scoring == "plain" else options.question_types,
    )


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
    q = (
        questionnaire
        if isinstance(questionnaire, Questionnaire)
        else load_questionnaire(questionnaire)
    )
    templates = load_templates(q.templates_dir)
    chosen = list(q.items) if items is None else items
    backend = backend or open_backend(model, options)
    scoring, reason = choose_scoring(backend, options.scoring, options.question_types)
    settings = eval_settings(options, scoring)
    result = evaluate(chosen, templates, backend, settings, embedder=embedder)
    if options.calibration and scoring != "letters" and options.mode == "logprob":
        result["calibration"] = calibration_share(backend, templates, settings)
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
        options=asdict(options),
        backend=backend.describe(),
        seeds={"bootstrap": options.seed, "generation": options.seed},
        **provenance_extra,
    )
    result["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    return result
