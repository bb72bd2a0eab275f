"""The resolved settings of a benchmark, built from the workflow's config (one source of truth
for ``progalign run``, ``progalign step`` and the Snakemake rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

from progalign.benchmark.pool import ALL_TYPES, MAX_ITEMS, POOL_SEED
from progalign.benchmark.preferences import ElicitMode, ElicitSettings
from progalign.errors import ProgalignError
from progalign.evaluation.api import ValueOptions
from progalign.training.preference import TrainSettings

T = TypeVar("T")

#: Training stages every spec must define.
STAGES = ("dpo", "reward", "rloo", "sft_history", "sft_influence")


@dataclass(frozen=True)
class PoolSettings:
    """Which questions form the comparison pool."""

    question_types: tuple[str, ...] = ALL_TYPES
    max_items: int | None = MAX_ITEMS
    seed: int = POOL_SEED


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything a benchmark step needs besides its inputs.

    Attributes:
        centuries: The timeline, in order (one human-proxy model each).
        family: Name of the historical-model family (names shared artefacts).
        models: Century -> model folder.
        questionnaire: Folder of the questionnaire (items.jsonl, templates).
        values: How every model is evaluated into a value vector.
        pool: The comparison pool.
        elicit: How preferences are elicited from a human proxy.
        training: Per stage, keyword arguments of ``TrainSettings``.
        params: Algorithm parameters (given to every algorithm, as upstream).
        challenge_params: Per challenge name, its parameters.
        bootstrap: Bootstrap samples for score intervals.
        coevolve_answers: ``choice`` (a model's answer is its preferred response) or
            ``generate`` (free text, as upstream).
        answer_tokens: Maximum new tokens for generated answers.
        answer_temperature: Sampling temperature of generated answers (upstream 0.25).
    """

    centuries: tuple[str, ...]
    models: Mapping[str, Path]
    questionnaire: Path
    family: str = "custom"
    values: ValueOptions = field(default_factory=ValueOptions)
    pool: PoolSettings = field(default_factory=PoolSettings)
    elicit: ElicitSettings = field(default_factory=ElicitSettings)
    training: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    challenge_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    bootstrap: int = 1000
    coevolve_answers: str = "choice"
    answer_tokens: int = 64
    answer_temperature: float = 0.25

    def model(self, century: str) -> Path:
        """The human-proxy model of ``century``."""
        try:
            return self.models[century]
        except KeyError:
            raise ProgalignError(f"no model for century {century} "
                                 f"(have {', '.join(self.models)})") from None

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (recorded in every result)."""
        from dataclasses import asdict

        return {
            "family": self.family, "centuries": list(self.centuries),
            "models": {c: str(p) for c, p in self.models.items()},
            "questionnaire": str(self.questionnaire), "values": asdict(self.values),
            "pool": asdict(self.pool), "elicit": asdict(self.elicit),
            "training": {k: dict(v) for k, v in self.training.items()},
            "params": dict(self.params),
            "challenge_params": {k: dict(v) for k, v in self.challenge_params.items()},
            "bootstrap": self.bootstrap, "coevolve_answers": self.coevolve_answers,
            "answer_tokens": self.answer_tokens, "answer_temperature": self.answer_temperature,
        }


def _checked(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """``cls(**values)``, with a bad key or value reported as the config key it came from."""
    try:
        return cls(**values)
    except (TypeError, ValueError, ProgalignError) as exc:
        raise ProgalignError(f"config: {where}: {exc}") from None


def spec_from_config(config: Mapping[str, Any], models: Mapping[str, Path] | Path,
                     questionnaire: Path, threads: int | None = None,
                     require_models: bool = True) -> BenchmarkSpec:
    """Build a spec from the workflow config (validated against its schema).

    Args:
        config: The parsed config (sections ``models``, ``evaluation``, ``benchmark``,
            ``training``).
        models: Century -> folder, or a family folder holding one sub-folder per century.
        questionnaire: The questionnaire folder.
        threads: Torch threads for evaluation.
        require_models: Check that every century's model folder exists (a single workflow
            step only needs the ones it uses).

    Raises:
        ProgalignError: on a missing section or model, or a bad training, pool, elicitation
            or coevolve setting (naming the config key).
    """
    bench = config.get("benchmark") or {}
    centuries: Sequence[str] = config.get("models", {}).get("centuries") or []
    if not centuries and not isinstance(models, Path):
        centuries = sorted(models)
    if isinstance(models, Path):
        family = models
        if not centuries:
            centuries = sorted(p.name for p in family.iterdir() if (p / "config.json").exists())
        models = {c: family / c for c in centuries}
    missing = [c for c in centuries if not (Path(models.get(c, "")) / "config.json").exists()]
    if require_models and missing:
        raise ProgalignError(f"no model folder for centuries {missing} in {sorted(models)}")
    training = config.get("training") or {}
    absent = [s for s in STAGES if s not in training]
    if absent:
        raise ProgalignError(f"config: training section lacks stages {absent}")
    for stage, values in training.items():
        _checked(TrainSettings, {"seed": 0, **(values or {})}, f"training.{stage}")
    pool = bench.get("pool") or {}
    unknown = set(pool.get("question_types", ALL_TYPES)) - set(ALL_TYPES)
    if unknown:
        raise ProgalignError(f"config: benchmark.pool.question_types: unknown {sorted(unknown)} "
                             f"(known: {list(ALL_TYPES)})")
    elicit = _checked(ElicitSettings, bench.get("elicitation") or {}, "benchmark.elicitation")
    if elicit.mode not in get_args(ElicitMode):
        raise ProgalignError(f"config: benchmark.elicitation.mode: unknown {elicit.mode!r} "
                             f"(known: {list(get_args(ElicitMode))})")
    coevolve = bench.get("coevolve") or {}
    if coevolve.get("answers", "choice") not in ("choice", "generate"):
        raise ProgalignError(f"config: benchmark.coevolve.answers: unknown "
                             f"{coevolve['answers']!r} (choice, generate)")
    return BenchmarkSpec(
        centuries=tuple(centuries),
        models={c: Path(models[c]) for c in centuries if c in models},
        questionnaire=questionnaire,
        family=str(config.get("models", {}).get("family", "custom")),
        values=ValueOptions.from_config(config.get("evaluation") or {}, threads=threads),
        pool=PoolSettings(tuple(pool.get("question_types", ALL_TYPES)),
                          pool.get("max_items", MAX_ITEMS), pool.get("seed", POOL_SEED)),
        elicit=elicit,
        training=training,
        params=bench.get("params") or {},
        challenge_params=bench.get("challenge_params") or {},
        bootstrap=int(bench.get("bootstrap", 1000)),
        coevolve_answers=coevolve.get("answers", "choice"),
        answer_tokens=int(coevolve.get("max_new_tokens", 64)),
        answer_temperature=float(coevolve.get("temperature", 0.25)),
    )
