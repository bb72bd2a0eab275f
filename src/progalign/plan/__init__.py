"""The resource plan: memory per GPU of every training and inference stage, computed from the
model's configuration, and the GPUs, nodes, processes, threads, host memory and vLLM tensor
parallel of each workflow rule that follow from it (docs/resources.md)."""

from progalign.plan.architecture import Architecture, from_config, lookup
from progalign.plan.build import Plan, make_plan
from progalign.plan.derive import RulePlan
from progalign.plan.jobs import OPTIMISER_STAGES, Job
from progalign.plan.memory import TrainingLoad, inference_terms, training_terms

__all__ = [
    "OPTIMISER_STAGES",
    "Architecture",
    "Job",
    "Plan",
    "RulePlan",
    "TrainingLoad",
    "from_config",
    "inference_terms",
    "lookup",
    "make_plan",
    "training_terms",
]
