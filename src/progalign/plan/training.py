"""The fewest whole nodes that hold a training job, and its memory savings."""

from __future__ import annotations

from dataclasses import dataclass

from progalign.errors import SettingError
from progalign.plan.architecture import Architecture
from progalign.plan.constants import GB, TRAIN_USABLE
from progalign.plan.jobs import Job, training_load
from progalign.plan.memory import training_terms
from progalign.settings import Settings

#: Engines from most to least sharded: a job launches once, so when its stages name different
#: engines (the RLHF step: reward model, then RLOO) it runs under the one that shards most.
SHARDING_ORDER = ("zero3", "fsdp", "zero2", "ddp")
#: Memory savings tried in order, cheapest in time first: (activation checkpointing, RLOO
#: generation gathers the whole policy).
SAVINGS = ((False, True), (True, True), (True, False))


@dataclass(frozen=True)
class TrainingFit:
    """A training job's planned layout.

    Attributes:
        nodes: Whole nodes (every GPU of each, as upstream).
        engine: ``single`` (one process) or the job's engine.
        stage: The stage needing the most memory per GPU.
        terms: Its bytes per GPU, term by term.
        checkpointing: Activation checkpointing on.
        gather_for_generation: RLOO gathers the whole policy to generate.
    """

    nodes: int
    engine: str
    stage: str
    terms: dict[str, float]
    checkpointing: bool
    gather_for_generation: bool


def job_engine(job: Job, settings: Settings, ranks: int) -> str:
    """``single`` for one process, else the most sharding engine its stages name."""
    if ranks == 1:
        return "single"
    named = {getattr(settings.resources.engines, stage) for stage in job.training}
    return next(e for e in SHARDING_ORDER if e in named)


def _savings(engine: str, stages: tuple[str, ...]) -> tuple[tuple[bool, bool], ...]:
    layerwise = "rloo" in stages and engine in ("zero3", "fsdp")
    return tuple(s for s in SAVINGS if s[1] or layerwise)


def _worst(
    arch: Architecture,
    job: Job,
    settings: Settings,
    engine: str,
    ranks: int,
    saving: tuple[bool, bool],
) -> tuple[str, dict[str, float]]:
    need = {
        stage: training_terms(arch, training_load(settings, stage), engine, ranks, *saving)
        for stage in job.training
    }
    stage = max(need, key=lambda s: sum(need[s].values()))
    return stage, need[stage]


def training_fit(job: Job, arch: Architecture, settings: Settings) -> TrainingFit:
    """The fewest nodes (then the cheapest savings) whose every stage fits a GPU.

    Raises:
        SettingError: nothing fits within ``resources.max_nodes``, naming the stage, its need
            per GPU at the most nodes with every saving, and what a GPU has.
    """
    res = settings.resources
    usable = TRAIN_USABLE * res.gpu_memory_gb * GB
    for nodes in range(1, res.max_nodes + 1):
        ranks = nodes * res.gpus_per_node
        engine = job_engine(job, settings, ranks)
        for saving in _savings(engine, job.training):
            stage, terms = _worst(arch, job, settings, engine, ranks, saving)
            if sum(terms.values()) <= usable:
                return TrainingFit(nodes, engine, stage, terms, *saving)
    ranks = res.max_nodes * res.gpus_per_node
    engine = job_engine(job, settings, ranks)
    saving = _savings(engine, job.training)[-1]
    stage, terms = _worst(arch, job, settings, engine, ranks, saving)
    usable_gb = TRAIN_USABLE * res.gpu_memory_gb
    raise SettingError(
        f"resource plan: stage {stage} ({job.rule}) of {arch.name} needs "
        f"{sum(terms.values()) / GB:.1f} GB per GPU even with {engine} over {res.max_nodes} "
        f"node(s) x {res.gpus_per_node} GPUs and activation checkpointing; a GPU has "
        f"{res.gpu_memory_gb:g} GB ({TRAIN_USABLE:.0%} usable: {usable_gb:.1f} GB). "
        "Allow more nodes (resources.max_nodes), larger GPUs (resources.gpu_memory_gb) "
        "or a more sharded engine (resources.engines)"
    )
