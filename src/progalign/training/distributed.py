"""What :func:`progalign.training.stage.run_stage` does differently in a launched rank.

Under ``accelerate launch`` every rank builds the same trainer; transformers and TRL
distribute through accelerate by themselves (DDP, FSDP or DeepSpeed, from the accelerate
config). This module holds the rank's few differences: which rank writes the output, where
the other ranks keep their scratch, how the weights are gathered on save, and what the record
says about the run (docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from progalign.io import atomic_dir

#: Trainer files that ``Trainer.save_model`` adds and a plain model folder does not hold.
_TRAINER_FILES = ("training_args.bin",)


def rank() -> int:
    """Global rank of this process (0 outside a launch)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes of the run (1 outside a launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Whether this process writes the output (global rank 0)."""
    return rank() == 0


@contextlib.contextmanager
def output_folder(out_dir: Path) -> Iterator[Path]:
    """The folder this rank builds the stage's output in.

    The main rank builds ``out_dir`` atomically (:func:`progalign.io.atomic_dir`: moved into
    place only when complete); the others get a private temporary folder for their trainer's
    scratch, removed on exit, and write nothing beside the output.
    """
    if is_main():
        with atomic_dir(out_dir) as tmp:
            yield tmp
    else:
        with tempfile.TemporaryDirectory(prefix=f"progalign-rank{rank()}-") as tmp:
            yield Path(tmp)


def save_trained(trainer: Any, tokenizer: Any, folder: Path) -> None:
    """Save the trained weights as a plain Hugging Face folder (every rank calls this).

    ``Trainer.save_model`` gathers a sharded model first (ZeRO-3: the 16-bit weights,
    ``zero3_save_16bit_model``; FSDP: ``accelerator.get_state_dict`` with a full state dict)
    and writes on the main process only; the trainer's own files are removed afterwards.
    """
    trainer.save_model(str(folder))
    if is_main():
        for name in _TRAINER_FILES:
            (folder / name).unlink(missing_ok=True)
        tokenizer.save_pretrained(folder)


def deepspeed_launch() -> bool:
    """Whether this process is a rank of an accelerate DeepSpeed launch (accelerate's flag)."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def deepspeed_model_init() -> Any:
    """Under a DeepSpeed launch, make models load sharded (ZeRO-3 ``zero3_init``).

    The stages load their models before the trainer exists; this sets the DeepSpeed
    configuration that ``from_pretrained`` consults, as ``TrainingArguments`` does for an
    accelerate DeepSpeed launch, so that under ZeRO-3 each rank loads only its shard (the
    policy, DPO's reference, the reward model; docs/distributed.md).

    Returns:
        The accelerate ``DeepSpeedPlugin`` (keep it referenced for the process's life), or
        None without DeepSpeed.
    """
    if not deepspeed_launch():
        return None
    from accelerate.utils import DeepSpeedPlugin

    plugin = DeepSpeedPlugin()
    plugin.set_deepspeed_weakref()
    return plugin


def cpu_deepspeed() -> bool:
    """Whether this process is a rank of a DeepSpeed launch on a machine without CUDA."""
    import torch

    return deepspeed_launch() and not torch.cuda.is_available()


def prepare_cpu_deepspeed() -> None:
    """Let DeepSpeed run on CPU ranks (gloo), as it runs on GPU ranks.

    accelerate 1.15 treats a rank that is not on CPU and finds no GPU as not distributed
    (one process) while DeepSpeed's CPU accelerator joins all ranks over gloo, so the batch
    sizes DeepSpeed checks disagree. Building accelerate's process state with the gloo backend
    first, and letting the trainer keep it (``use_configured_state``:
    :func:`progalign.training.stage.device_arguments`), gives both the launch's world size.
    Does nothing elsewhere.
    """
    if not cpu_deepspeed():
        return
    from accelerate import PartialState

    PartialState(backend="gloo")


def engine(accelerator: Any) -> str:
    """The engine of a trainer's accelerator: ``ddp``, ``fsdp``, ``deepspeed-zero<N>`` or
    ``single-process``."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    if kind == DistributedType.DEEPSPEED:
        return f"deepspeed-zero{accelerator.state.deepspeed_plugin.zero_stage}"
    if kind == DistributedType.FSDP:
        return "fsdp"
    if kind == DistributedType.NO:
        return "single-process"
    return "ddp"


def held_share(model: Any) -> float | None:
    """Share of ``model``'s parameter elements this rank holds: about 1/world size when
    ZeRO-3 partitions them (DeepSpeed's ``ds_tensor`` shards), None when every rank holds
    them whole."""
    params = list(model.parameters())
    if not params or not all(hasattr(p, "ds_tensor") for p in params):
        return None
    held = sum(p.ds_tensor.numel() for p in params)
    return round(held / sum(p.ds_numel for p in params), 4)


def description(trainer: Any, launch: dict[str, Any], memo_off: bool) -> dict[str, Any]:
    """The record's ``provenance.distributed`` entry of a launched run.

    Args:
        trainer: The stage's (last) trainer.
        launch: The launch description of the request (command, machines, accelerate config
            file and its sha256).
        memo_off: Whether the lower-layer memo was switched off for the run.
    """
    accelerator = trainer.accelerator
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(accelerator.num_processes)))
    return {
        "world_size": accelerator.num_processes,
        "num_machines": max(1, accelerator.num_processes // max(1, local)),
        "engine": engine(accelerator),
        "backend": getattr(accelerator.state, "backend", None),
        "launch": launch.get("launch"),
        "accelerate_config": launch.get("accelerate_config"),
        "accelerate_config_sha256": launch.get("accelerate_config_sha256"),
        "lower_layer_memo": "off (distributed run)" if memo_off else None,
        "parameter_share": held_share(trainer.model),
    }
