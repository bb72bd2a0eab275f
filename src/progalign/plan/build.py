"""The resource plan of a whole workflow: one :class:`RulePlan` per model job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from progalign.errors import SettingError
from progalign.plan.architecture import (
    Architecture,
    base_architecture,
    family_architecture,
)
from progalign.plan.constants import BF16, GB
from progalign.plan.derive import RulePlan, _describe, _gb, _host_mb, cpu_plan, inference_fit
from progalign.plan.jobs import Job, workflow_jobs
from progalign.plan.memory import TRAINING_STAGES
from progalign.plan.training import training_fit
from progalign.settings import Settings


def _loaded_bytes(arch: Architecture, stages: tuple[str, ...]) -> float:
    """One bf16 copy of every model the job's largest stage loads (host memory)."""
    most = 0
    for stage in stages:
        reward, frozen, _ = TRAINING_STAGES[stage]
        count = arch.reward_parameters if reward else arch.parameters
        count += sum(
            arch.reward_parameters if f == "reward model" else arch.parameters for f in frozen
        )
        most = max(most, count)
    return most * BF16


def _architecture(job: Job, settings: Settings) -> Architecture:
    arch = base_architecture(settings) if job.model == "base" else family_architecture(settings)
    if arch is None:
        name = settings.models.base
        raise SettingError(
            f"resource plan: cannot size models.base {name!r} for resources.gpus_per_node "
            f"{settings.resources.gpus_per_node}: not a known model (embedded, tiny, Llama-3 "
            "8B/70B) and no folder with a config.json"
        )
    return arch


def _training_plan(job: Job, arch: Architecture, settings: Settings) -> RulePlan:
    res = settings.resources
    fit = training_fit(job, arch, settings)
    tp = inference_fit(job, arch, settings)[0] if job.inference else None
    vllm_tp = tp if settings.evaluation.backend == "vllm" else None
    saving = ["activation checkpointing"] if fit.checkpointing else []
    if not fit.gather_for_generation:
        saving.append("generation gathers module by module")
    why = (
        f"{fit.stage} under {fit.engine} over {fit.nodes} node(s) x {res.gpus_per_node} GPUs: "
        f"{sum(fit.terms.values()) / GB:.1f} GB per GPU"
        + (f" with {' and '.join(saving)}" if saving else "")
        + f" (fewest whole nodes that fit {res.gpu_memory_gb:g} GB GPUs)"
    )
    return RulePlan(
        rule=job.rule,
        variant=job.variant,
        stage=fit.stage,
        model=_describe(arch),
        engine=fit.engine,
        terms_gb=_gb(fit.terms),
        total_gb=sum(fit.terms.values()) / GB,
        gpus_per_node=res.gpus_per_node,
        nodes=fit.nodes,
        processes=fit.nodes * res.gpus_per_node,
        threads=res.cpus_per_gpu * res.gpus_per_node,
        mem_mb=_host_mb(res.gpus_per_node, _loaded_bytes(arch, job.training), res, job.rule),
        runtime=res.runtime,
        tensor_parallel=vllm_tp,
        activation_checkpointing=fit.checkpointing,
        gather_for_generation=fit.gather_for_generation,
        reason=why,
        cpu_keys=job.cpu_keys,
    )


def _inference_plan(job: Job, arch: Architecture, settings: Settings) -> RulePlan:
    res, backend = settings.resources, job.backend or settings.evaluation.backend
    tp, terms, why = inference_fit(job, arch, settings)
    return RulePlan(
        rule=job.rule,
        variant=job.variant,
        stage="inference",
        model=_describe(arch),
        engine=backend,
        terms_gb=_gb(terms),
        total_gb=sum(terms.values()) / GB,
        gpus_per_node=tp,
        nodes=1,
        processes=1,
        threads=res.cpus_per_gpu * tp,
        mem_mb=_host_mb(tp, arch.parameters * BF16, res, job.rule),
        runtime=res.runtime,
        tensor_parallel=tp if backend == "vllm" else None,
        activation_checkpointing=False,
        gather_for_generation=True,
        reason=why,
        cpu_keys=job.cpu_keys,
    )


def plan_job(job: Job, settings: Settings) -> RulePlan:
    """The plan of one job (a CPU run keeps the configured resources)."""
    res = settings.resources
    if res.gpus_per_node == 0:
        return cpu_plan(job, res)
    if not job.gpu:
        plan = cpu_plan(job, res)
        return RulePlan(
            **{**plan.__dict__, "reason": "no GPU: a download, or not in this source's DAG"}
        )
    arch = _architecture(job, settings)
    if job.training:
        return _training_plan(job, arch, settings)
    return _inference_plan(job, arch, settings)


@dataclass(frozen=True)
class Plan:
    """Every model job's plan, looked up by rule (and optimiser for the examinee steps)."""

    jobs: dict[tuple[str, str], RulePlan]

    def __iter__(self) -> Iterator[RulePlan]:
        return iter(self.jobs.values())

    def get(self, rule: str, variant: str = "") -> RulePlan:
        """The plan of ``rule`` (``variant``: the examinee step's optimiser).

        Raises:
            KeyError: no such job in the plan.
        """
        return self.jobs[(rule, variant)]


def make_plan(settings: Settings) -> Plan:
    """Plan every model job of the workflow.

    Raises:
        SettingError: a stage that no allowed layout holds, naming the stage, its need per
            GPU and what is available.
    """
    return Plan({(j.rule, j.variant): plan_job(j, settings) for j in workflow_jobs(settings)})
