"""The resolved settings of a benchmark, built from the workflow's config (one source of truth
for ``progalign run``, ``progalign step`` and the Snakemake rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from progalign.benchmark.preferences import ElicitSettings
from progalign.errors import ProgalignError
from progalign.evaluation.api import ValueOptions
from progalign.settings import STAGES, CoevolveSettings, PoolSettings, Settings, resolve


@dataclass(frozen=True)
class BenchmarkSpec:
    """Everything a benchmark step needs besides its inputs (built by :func:`spec_from_config`).

    Attributes:
        centuries: The timeline, in order (one human-proxy model each).
        family: Name of the historical-model family (names shared artefacts).
        models: Century -> model folder.
        questionnaire: Folder of the questionnaire (items.jsonl, templates).
        values: How every model is evaluated into a value vector.
        pool: The comparison pool.
        elicit: How preferences are elicited from a human proxy.
        training: Per stage, keyword arguments of ``TrainSettings`` (but the seed).
        params: Algorithm parameters (given to every algorithm, as upstream).
        challenge_params: Per challenge name, its parameters.
        bootstrap: Bootstrap samples for score intervals.
        coevolve: How PG-Coevolve's simulated humans answer.
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
    bootstrap: int = Settings().benchmark.bootstrap
    coevolve: CoevolveSettings = field(default_factory=CoevolveSettings)

    def model(self, century: str) -> Path:
        """The human-proxy model of ``century``."""
        try:
            return self.models[century]
        except KeyError:
            raise ProgalignError(
                f"no model for century {century} (have {', '.join(self.models)})"
            ) from None

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (recorded in every result)."""

        return {
            "family": self.family,
            "centuries": list(self.centuries),
            "models": {c: str(p) for c, p in self.models.items()},
            "questionnaire": str(self.questionnaire),
            "values": asdict(self.values),
            "pool": self.pool.model_dump(mode="json"),
            "elicit": asdict(self.elicit),
            "training": {k: dict(v) for k, v in self.training.items()},
            "params": dict(self.params),
            "challenge_params": {k: dict(v) for k, v in self.challenge_params.items()},
            "bootstrap": self.bootstrap,
            "coevolve": self.coevolve.model_dump(mode="json"),
        }


def spec_from_config(
    config: Mapping[str, Any] | Settings,
    models: Mapping[str, Path] | Path,
    questionnaire: Path,
    threads: int | None = None,
    require_models: bool = True,
    tensor_parallel: int | None = None,
) -> BenchmarkSpec:
    """Build a spec from the experiment's config, resolved as the workflow resolves it.

    Args:
        config: The config mapping (validated and completed by ``progalign.settings.resolve``)
            or resolved settings.
        models: Century -> folder, or a family folder holding one sub-folder per century.
        questionnaire: The questionnaire folder.
        threads: Torch threads for evaluation.
        require_models: Check that every century's model folder exists (a single workflow
            step only needs the ones it uses).
        tensor_parallel: vLLM tensor parallel size of the evaluation backend.

    Raises:
        SettingError: a bad key or value (named by its config key).
        ProgalignError: a missing model folder.
    """
    settings = config if isinstance(config, Settings) else resolve(config)
    resolved = settings.to_config()
    centuries = settings.models.centuries
    if "centuries" not in settings.models.model_fields_set:  # the timeline of the models given
        centuries = tuple(
            sorted(models)
            if not isinstance(models, Path)
            else sorted(p.name for p in models.iterdir() if (p / "config.json").exists())
        )
    if isinstance(models, Path):
        family = models
        models = {c: family / c for c in centuries}
    missing = [c for c in centuries if not (Path(models.get(c, "")) / "config.json").exists()]
    if require_models and missing:
        raise ProgalignError(f"no model folder for centuries {missing} in {sorted(models)}")
    bench = settings.benchmark
    return BenchmarkSpec(
        centuries=centuries,
        models={c: Path(models[c]) for c in centuries if c in models},
        questionnaire=questionnaire,
        family=settings.models.family,
        values=ValueOptions.from_settings(
            settings, threads=threads, tensor_parallel=tensor_parallel
        ),
        pool=bench.pool,
        elicit=ElicitSettings(**bench.elicitation.model_dump()),
        training={stage: resolved["training"][stage] for stage in STAGES},
        params=bench.params,
        challenge_params=bench.challenge_params,
        bootstrap=bench.bootstrap,
        coevolve=bench.coevolve,
    )
