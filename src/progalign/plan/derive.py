"""From memory to resources: GPUs, nodes, processes, threads, host memory and vLLM tensor
parallel per job, or a :class:`SettingError` naming what does not fit."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from progalign.errors import SettingError
from progalign.plan.architecture import Architecture
from progalign.plan.constants import (
    GB,
    HOST_PROCESS_GB,
    PROMPT_TOKENS,
    VLLM_GPU_MEMORY_UTILIZATION,
)
from progalign.plan.jobs import Job
from progalign.plan.memory import inference_terms
from progalign.settings import ResourcesSettings, Settings

#: Accelerate configuration per engine (helper files under configs/accelerate/).
ACCELERATE_CONFIG = "configs/accelerate/{engine}.yaml"


@dataclass(frozen=True)
class RulePlan:
    """The plan of one job: what it holds per GPU, and the resources that follow.

    Attributes:
        rule: The Snakemake rule.
        variant: The examinee step's optimiser ("" elsewhere).
        stage: The stage that needs the most memory per GPU ("cpu" on a CPU run).
        model: The model's name and parameter count.
        engine: Training engine (``single`` for one process), ``vllm``/``hf`` for inference.
        terms_gb: That stage's memory per GPU, term by term (GB).
        total_gb: Their sum (GB per GPU).
        gpus_per_node: GPUs the job uses on each node (0: none).
        nodes: Nodes.
        processes: Processes in all (one per GPU for training; 1 for inference).
        threads: CPU threads (per node).
        mem_mb: Host memory per node (MB).
        runtime: Minutes.
        tensor_parallel: vLLM tensor parallel of the job's inference (None: none or not vLLM).
        activation_checkpointing: Training recomputes activations.
        gather_for_generation: RLOO under ZeRO-3/FSDP gathers the whole policy to generate.
        reason: One line why.
        cpu_keys: Resource keys of a CPU run (the rule's settings before the plan).
    """

    rule: str
    variant: str
    stage: str
    model: str
    engine: str
    terms_gb: dict[str, float]
    total_gb: float
    gpus_per_node: int
    nodes: int
    processes: int
    threads: int
    mem_mb: int
    runtime: int
    tensor_parallel: int | None
    activation_checkpointing: bool
    gather_for_generation: bool
    reason: str
    cpu_keys: tuple[str, ...] = field(default=(), repr=False)

    @property
    def gpus(self) -> int:
        """GPUs of the whole job."""
        return self.gpus_per_node * self.nodes

    def resources(self) -> dict[str, Any]:
        """Snakemake ``resources:``: ``mem_mb`` per node, ``runtime``, ``gpu`` (the job's
        GPUs, all nodes together) and, for a training job on GPUs, ``nodes`` and ``tasks``
        (one ``accelerate launch`` per node, which starts that node's processes)."""
        if self.stage == "cpu":
            values = {"mem_mb": self.mem_mb, "runtime": self.runtime, "gpu": 0}
            return {k: values[k] for k in self.cpu_keys}
        out: dict[str, Any] = {"mem_mb": self.mem_mb, "runtime": self.runtime, "gpu": self.gpus}
        if self.engine not in ("vllm", "hf"):
            out.update(nodes=self.nodes, tasks=self.nodes)
        return out

    @property
    def launch(self) -> str:
        """The ``accelerate launch`` prefix of a training job with several processes, else ""."""
        if self.processes <= 1 or self.engine in ("vllm", "hf"):
            return ""
        return (
            f"accelerate launch --config_file {ACCELERATE_CONFIG.format(engine=self.engine)}"
            f" --num_machines {self.nodes} --num_processes {self.processes}"
        )

    def arguments(self) -> str:
        """Options the plan adds to the job's command, each with a leading space ("" on CPU)."""
        parts = []
        if self.launch:
            parts.append(f"--launch {shlex.quote(self.launch)}")
        if self.activation_checkpointing:
            parts.append("--activation-checkpointing")
        if not self.gather_for_generation:
            parts.append("--no-gather-for-generation")
        if self.tensor_parallel is not None:
            parts.append(f"--tensor-parallel {self.tensor_parallel}")
        return "".join(f" {p}" for p in parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable record (``progalign plan --json``)."""
        return {
            "rule": self.rule,
            "variant": self.variant,
            "stage": self.stage,
            "model": self.model,
            "engine": self.engine,
            "memory_gb": {k: round(v, 2) for k, v in self.terms_gb.items()},
            "total_gb": round(self.total_gb, 2),
            "gpus_per_node": self.gpus_per_node,
            "nodes": self.nodes,
            "processes": self.processes,
            "threads": self.threads,
            "mem_mb": self.mem_mb,
            "runtime": self.runtime,
            "tensor_parallel": self.tensor_parallel,
            "activation_checkpointing": self.activation_checkpointing,
            "gather_for_generation": self.gather_for_generation,
            "resources": self.resources(),
            "launch": self.launch,
            "reason": self.reason,
        }


def _gb(terms: dict[str, float]) -> dict[str, float]:
    return {k: v / GB for k, v in terms.items()}


def _describe(arch: Architecture) -> str:
    return f"{arch.name} ({arch.parameters / 1e9:.2f}B)"


def cpu_plan(job: Job, res: ResourcesSettings) -> RulePlan:
    """A CPU run: the rule keeps the configured threads, memory and runtime."""
    return RulePlan(
        rule=job.rule,
        variant=job.variant,
        stage="cpu",
        model="",
        engine="single" if job.training else "",
        terms_gb={},
        total_gb=0.0,
        gpus_per_node=0,
        nodes=1,
        processes=1,
        threads=res.threads if job.gpu else 1,
        mem_mb=res.mem_mb,
        runtime=res.runtime,
        tensor_parallel=None,
        activation_checkpointing=False,
        gather_for_generation=True,
        reason="CPU run (resources.gpus_per_node 0): the configured threads, mem_mb, runtime",
        cpu_keys=job.cpu_keys,
    )


def _host_mb(processes_per_node: int, model_bytes: float, res: ResourcesSettings, what: str) -> int:
    need = processes_per_node * HOST_PROCESS_GB + model_bytes / GB
    if need > res.host_memory_gb:
        raise SettingError(
            f"resource plan: {what} needs {need:.0f} GB of host memory per node "
            f"({processes_per_node} processes x {HOST_PROCESS_GB:g} GB + one bf16 copy of each "
            f"model, {model_bytes / GB:.0f} GB); a node has {res.host_memory_gb:g} GB "
            "(resources.host_memory_gb)"
        )
    return math.ceil(need * 1000)


def tensor_parallel_options(arch: Architecture, gpus_per_node: int) -> list[int]:
    """Powers of two up to the node's GPUs that divide the heads (and the KV heads, or are a
    multiple of them), as vLLM requires."""
    sizes, t = [], 1
    while t <= gpus_per_node:
        if arch.num_heads % t == 0 and (arch.num_kv_heads % t == 0 or t % arch.num_kv_heads == 0):
            sizes.append(t)
        t *= 2
    return sizes


def inference_fit(
    job: Job, arch: Architecture, settings: Settings
) -> tuple[int, dict[str, float], str]:
    """The smallest tensor parallel whose memory fits vLLM's share of a GPU (1 for hf).

    Raises:
        SettingError: no size fits, naming the need and what is available.
    """
    res, ev = settings.resources, settings.evaluation
    backend = job.backend or ev.backend
    limit = VLLM_GPU_MEMORY_UTILIZATION * res.gpu_memory_gb * GB
    sequence = PROMPT_TOKENS + job.new_tokens
    sizes = tensor_parallel_options(arch, res.gpus_per_node) if backend == "vllm" else [1]
    terms: dict[str, float] = {}
    for tp in sizes:
        terms = inference_terms(arch, tp, ev.batch_size, sequence)
        if sum(terms.values()) <= limit:
            why = (
                f"{backend}: bf16 weights / {tp} + KV cache for {ev.batch_size} x {sequence} "
                f"tokens fit {VLLM_GPU_MEMORY_UTILIZATION:g} x {res.gpu_memory_gb:g} GB"
            )
            return tp, terms, why
    raise SettingError(
        f"resource plan: inference ({job.rule}) of {_describe(arch)} needs "
        f"{sum(terms.values()) / GB:.1f} GB per GPU with {backend} tensor parallel "
        f"{sizes[-1]}; a GPU has {res.gpu_memory_gb:g} GB ({VLLM_GPU_MEMORY_UTILIZATION:.0%} usable"
        f" for inference), {res.gpus_per_node} per node (resources.gpu_memory_gb, gpus_per_node)"
    )
