"""What each workflow rule runs: its training stages, whether it runs inference, on which
model, and the resource keys it sets on a CPU run (kept as they were before the plan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from progalign.errors import SettingError
from progalign.plan.constants import PROMPT_TOKENS
from progalign.plan.memory import TrainingLoad
from progalign.settings import Settings

#: The training stages of one examinee update, per algorithm optimiser (``Examinee.optimiser``);
#: "any" (a plug-in without one) plans for every preference stage.
OPTIMISER_STAGES: dict[str, tuple[str, ...]] = {
    "dpo": ("dpo",),
    "rlhf": ("reward", "rloo"),
    "any": ("dpo", "reward", "rloo"),
}
#: Resource keys a model rule sets on a CPU run.
CPU_KEYS = ("mem_mb", "runtime", "gpu")


@dataclass(frozen=True)
class Job:
    """One rule (and, for the examinee steps, one optimiser).

    Attributes:
        rule: The Snakemake rule.
        variant: The optimiser of an examinee step ("" elsewhere).
        training: Training stages the job runs, in order.
        inference: The job evaluates or generates with a model.
        model: "base" (``models.base``) or "family" (the historical models and their
            descendants).
        new_tokens: Generated tokens per inference sequence (on top of the prompt).
        cpu_keys: Resource keys the rule sets on a CPU run; () = threads only.
        gpu: The job runs model code on GPUs (False: a download, or perplexity outside
            ``source: train``, whose DAG never runs it).
        backend: Its inference backend when not ``evaluation.backend`` (perplexity: hf).
    """

    rule: str
    variant: str = ""
    training: tuple[str, ...] = ()
    inference: bool = True
    model: str = "family"
    new_tokens: int = 0
    cpu_keys: tuple[str, ...] = CPU_KEYS
    gpu: bool = True
    backend: str | None = None


def workflow_jobs(settings: Settings) -> list[Job]:
    """Every model job of the workflow under ``settings`` (the rules a source does not define
    are left out: train-hislm without ``source: train``, the download without ``source: hub``)."""
    bench = settings.benchmark
    elicit = bench.elicitation.max_new_tokens if bench.elicitation.mode == "generate" else 0
    answer = bench.coevolve.max_new_tokens if bench.coevolve.answers == "generate" else 0
    jobs = [
        Job("values_base", model="base"),
        Job("values_judge"),
        Job("preferences", new_tokens=elicit),
        Job("answers", new_tokens=answer),
    ]
    # defined under every source; its inputs (the embedded corpus) exist only for source train
    train = settings.models.source == "train"
    jobs.append(Job("perplexity", cpu_keys=(), gpu=train, backend="hf"))
    if settings.models.source == "train":
        jobs.append(Job("hislm", training=("pretrain",), inference=False))
    if settings.models.source == "hub":
        jobs.append(Job("hub_model", inference=False, cpu_keys=("runtime",), gpu=False))
    for variant, stages in OPTIMISER_STAGES.items():
        jobs.append(Job("examinee_step", variant, stages, inference=False))
        jobs.append(Job("history_step", variant, stages))
    for rule in ("humans_step", "humans_step_feedback"):
        jobs.append(Job(rule, training=("sft",), new_tokens=max(elicit, answer)))
    return jobs


def _hislm_recipe(settings: Settings) -> tuple[int, int]:
    path = Path(settings.models.hislm_recipe)
    if not path.is_file():
        raise SettingError(f"models.hislm_recipe: {path} not found (the plan reads its batch)")
    recipe = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("hislm", {})
    return int(recipe.get("batch_size", 8)), int(recipe.get("max_seq_len", 1024))


def training_load(settings: Settings, stage: str) -> TrainingLoad:
    """The micro-batch of ``stage`` from the training settings: SFT and continued pretraining
    batch·length tokens, DPO and the reward model 2·batch·length (chosen and rejected), RLOO
    batch·length tokens with as many sequences generated at once."""
    top_k = settings.training.top_k_layers
    if stage == "pretrain":
        batch, length = _hislm_recipe(settings)
        return TrainingLoad(stage, batch * length, top_k)
    if stage == "sft":
        a, b = settings.training.sft_history, settings.training.sft_influence
        tokens = max(a.batch_size * a.max_length, b.batch_size * b.max_length)
        return TrainingLoad(stage, tokens, top_k)
    s = getattr(settings.training, stage)
    if stage in ("dpo", "reward"):
        return TrainingLoad(stage, 2 * s.batch_size * s.max_length, top_k)
    generated = s.batch_size * min(s.max_length, PROMPT_TOKENS + s.max_new_tokens)
    return TrainingLoad(stage, s.batch_size * s.max_length, top_k, generated)
