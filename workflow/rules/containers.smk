# Container images (docs/containers.md). Under --sdm apptainer every job runs in CPU_IMAGE (the
# Snakefile's global `container:`), except the model rules that need CUDA or vLLM: their
# `container: rule_image("<rule>")` gives them the GPU image. Only pinned references are
# accepted, never a floating tag (progalign.images.lock):
#   scheme://name@sha256:<64 hex>   (docker://, oras://, ...: apptainer pulls it by digest)
#   path/to/image.sif               with a recorded sha256, checked before a containerised run
# Source, per target (cpu, gpu): config `containers: {cpu: ..., cpu_sha256: ...}`, else the `ref`
# (and `sif_sha256`) recorded in the lock file (config containers.lock) by
# scripts/build-images.sh or `progalign images lock`.
# Without --sdm apptainer the directives are ignored; a recorded reference is still checked for
# its form.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod

from progalign.errors import ProgalignError
from progalign.images.lock import FIX_HINT, pinned, verify_sif

_CONTAINERS = config["containers"]
_IMAGES_LOCK = Path(workflow.basedir) / _CONTAINERS["lock"]
_IN_CONTAINERS = (
    DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method
)
_PINNED = {}
_WARNED = set()


def pinned_image(target):
    """The pinned reference of `target` (cpu or gpu), or None when none is recorded.

    Read once per target, and only when a rule asks for it (so a CPU-only run never reads,
    or fails on, the GPU entry)."""
    if target not in _PINNED:
        try:
            pin = pinned(
                target,
                _IMAGES_LOCK,
                _CONTAINERS.get(target),
                _CONTAINERS.get(f"{target}_sha256"),
            )
            if pin is not None and _IN_CONTAINERS:
                verify_sif(pin)
        except ProgalignError as exc:
            raise WorkflowError(
                f"{exc}. Fix: {FIX_HINT.format(target=target)}"
            ) from None
        _PINNED[target] = None if pin is None else pin.ref
        if _IN_CONTAINERS and pin is not None and "://localhost/" in pin.ref:
            logger.warning(
                f"The {target} image {pin.ref} names this machine's podman storage, which"
                " apptainer cannot pull from; publish it (scripts/build-images.sh --push"
                " REGISTRY) or build a SIF (--sif), then pin that (docs/containers.md)."
            )
    return _PINNED[target]


# The rules that load a model on the accelerator, and whether each evaluates through the
# evaluation backend (vLLM when evaluation.backend is vllm, which only the GPU image has).
MODEL_RULES = {
    "hislm": False,
    "perplexity": False,
    "values_base": True,
    "values_judge": True,
    "preferences": True,
    "answers": True,
    "examinee_step": False,  # trains only; its history twin also evaluates
    "history_step": True,
    "humans_step": True,
    "humans_step_feedback": True,
}


def rule_gpus(name):
    """GPUs the resource plan (PLAN, common.smk) gives the model rule `name` -- the most of any of
    its jobs (the examinee steps plan per optimiser; an image is per rule)."""
    return max(
        (job.gpus for (rule, _), job in PLAN.jobs.items() if rule == name), default=0
    )


def needs_gpu_image(name):
    """Whether the model rule `name` needs CUDA or vLLM (it gets GPUs, or evaluates with vLLM)."""
    if name not in MODEL_RULES:
        raise WorkflowError(f"rule_image({name!r}): not one of {sorted(MODEL_RULES)}")
    vllm = MODEL_RULES[name] and config["evaluation"]["backend"] == "vllm"
    return rule_gpus(name) > 0 or vllm


def rule_image(name):
    """The image of the model rule `name` -- the GPU image if it needs CUDA or vLLM, else CPU_IMAGE.

    Under --sdm apptainer a GPU rule without a pinned GPU image stops the workflow here, while
    the rules are read, before any job starts."""
    if not needs_gpu_image(name):
        return CPU_IMAGE
    image = pinned_image("gpu")
    if image is None and _IN_CONTAINERS:
        raise WorkflowError(
            f"{name} needs the GPU image (CUDA/vLLM; {rule_gpus(name)} GPUs planned, "
            f"evaluation.backend={config['evaluation']['backend']}), but "
            f"{_IMAGES_LOCK} pins none (no gpu: ref, no config containers.gpu). Fix: "
            + FIX_HINT.format(target="gpu")
        )
    nv = "--nv" in workflow.deployment_settings.apptainer_args
    if _IN_CONTAINERS and not nv and "--nv" not in _WARNED:
        _WARNED.add("--nv")
        logger.warning(
            f"{name} (and any other GPU rule) runs in the GPU image; pass"
            ' --apptainer-args="--nv" so that it sees the GPUs (docs/containers.md).'
        )
    return image


CPU_IMAGE = pinned_image("cpu")
if CPU_IMAGE is None and _IN_CONTAINERS:
    logger.warning(
        f"No pinned cpu image (config containers.cpu or {_IMAGES_LOCK}): the CPU rules run on"
        f" the host. Fix: {FIX_HINT.format(target='cpu')}."
    )
