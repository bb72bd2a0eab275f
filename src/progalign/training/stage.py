"""The stage runner every training goes through: historical models (``train-hislm``, with its
optional SFT phase), DPO, the reward model, RLOO and SFT on pairs.

:func:`run_stage` seeds, loads the tokenizer and the model, freezes all but the top layers,
serves the frozen lower layers from one memo (:mod:`progalign.lowerlayers`), runs the stage's
phases (each a trainer and what to do with it), saves the model and the stage's record, and
writes the output folder atomically: everything is built in a hidden sibling of the output
and moved into place only when complete, so a failed or killed job leaves no output. Every
patch it makes (the memo's forward, RLOO's prefilled ``generate``, TRL's LM-head flag) is a
context manager, undone on every path out of the phase or stage.

Also here: the types and helpers the TRL stages share (:class:`PreferencePair`,
:func:`run_trl_stage`; :class:`TrainSettings` and :data:`UPSTREAM_SETTINGS` are defined with
every other setting in :mod:`progalign.settings`), so that
``dpo``, ``reward``, ``rloo`` and ``sft`` import this module and
:mod:`progalign.training.preference` imports them, never the other way round.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError, SettingError
from progalign.io import atomic_dir, write_json
from progalign.settings import TrainSettings

log = logging.getLogger(__name__)

TRAINING_FILE = "training.json"


@dataclass(frozen=True)
class PreferencePair:
    """One preference of the human proxy.

    Attributes:
        prompt: The user turn (instruction + blank line + input); TRL renders it with the
            model's chat template (conversational format).
        chosen: The preferred assistant reply.
        rejected: The other reply.
        weight: Integer sample weight, realised by replicating the pair ``weight`` times
            (upstream replicated extrapolated pairs ``min(|w|, 5)`` times). At least 1.
    """

    prompt: str
    chosen: str
    rejected: str
    weight: int = 1


# --------------------------------------------------------------------------------------------
# Helpers shared by the stages.


def freeze_below_top(model: Any, k: int | None) -> dict[str, int]:
    """Leave only the top ``k`` decoder layers and the final norm trainable (None: all).

    Returns:
        Counts of trainable and total parameters.
    """
    if k is not None:
        layers = getattr(model.base_model, "layers", None)
        if layers is None:
            raise ProgalignError(f"{type(model).__name__}: no decoder layers to select top k from")
        if not 0 < k <= len(layers):
            raise ProgalignError(f"top_k_layers={k}, but the model has {len(layers)} layers")
        for param in model.parameters():
            param.requires_grad_(False)
        trainable = [*layers[len(layers) - k :]]
        norm = getattr(model.base_model, "norm", None)
        if norm is not None:
            trainable.append(norm)
        for module in trainable:
            for param in module.parameters():
                param.requires_grad_(True)
    total = sum(_numel(p) for p in model.parameters())
    train = sum(_numel(p) for p in model.parameters() if p.requires_grad)
    return {"trainable": train, "total": total}


def _numel(param: Any) -> int:
    """Elements of a parameter (its full size when DeepSpeed ZeRO-3 holds only a shard)."""
    return int(getattr(param, "ds_numel", param.numel()))


def check_model_dir(path: Path, role: str = "model") -> Path:
    """Return ``path`` if it holds a Hugging Face model (``config.json``), else raise.

    Raises:
        ProgalignError: naming the folder.
    """
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ProgalignError(f"{role} folder {folder} has no config.json (not a model folder)")
    return folder


def replicate(pairs: Sequence[PreferencePair], stage: str) -> list[PreferencePair]:
    """Expand each pair into ``weight`` copies (deterministic order: replicas follow the original).

    Raises:
        ProgalignError: empty input, a non-string field, or a weight that is not an integer ≥ 1.
    """
    if not pairs:
        raise ProgalignError(f"{stage}: no preference pairs to train on (skip this update)")
    out: list[PreferencePair] = []
    for number, pair in enumerate(pairs, start=1):
        if not all(isinstance(x, str) for x in (pair.prompt, pair.chosen, pair.rejected)):
            raise ProgalignError(
                f"{stage}: pair {number} has a prompt/chosen/rejected that is not text"
            )
        if isinstance(pair.weight, bool) or not isinstance(pair.weight, int) or pair.weight < 1:
            raise ProgalignError(
                f"{stage}: pair {number} has weight {pair.weight!r}; need an integer ≥ 1 "
                "(the number of replications)"
            )
        out.extend([pair] * pair.weight)
    return out


def pairs_summary(
    pairs: Sequence[PreferencePair], samples: Sequence[PreferencePair]
) -> dict[str, Any]:
    """Counts and a content hash of the pairs, for ``training.json``."""
    return {
        "n_pairs": len(pairs),
        "n_samples": len(samples),
        "inputs_sha256": digest([dataclasses.asdict(p) for p in pairs]),
    }


def preference_rows(samples: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """TRL conversational preference rows (explicit prompt)."""
    return [
        {
            "prompt": [{"role": "user", "content": s.prompt}],
            "chosen": [{"role": "assistant", "content": s.chosen}],
            "rejected": [{"role": "assistant", "content": s.rejected}],
        }
        for s in samples
    ]


def digest(obj: Any) -> str:
    """sha256 of ``obj`` as canonical JSON (the inputs hash of a record)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def on_gpu() -> bool:
    """Whether training runs on a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def device_arguments() -> dict[str, Any]:
    """The device fields of every trainer's arguments (``TrainingArguments`` and subclasses).

    bf16 autocast on a GPU that supports it, the CPU otherwise; a DeepSpeed rank on a machine
    without CUDA keeps the process state its rank entry prepared
    (:func:`progalign.training.distributed.prepare_cpu_deepspeed`, docs/distributed.md).
    """
    import torch

    from progalign.training.distributed import cpu_deepspeed

    if cpu_deepspeed():
        keep_state = {"use_configured_state": True}
        return {"use_cpu": False, "bf16": False, "accelerator_config": keep_state}
    gpu = on_gpu()
    return {"use_cpu": not gpu, "bf16": gpu and torch.cuda.is_bf16_supported()}


def trainer_arguments(settings: TrainSettings, scratch: Path) -> dict[str, Any]:
    """Keyword arguments common to every TRL config (``TrainingArguments`` fields)."""
    from progalign.training.launch import current_memory
    from progalign.training.memory import trainer_options

    return {
        "output_dir": str(scratch),
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "lr_scheduler_type": settings.lr_scheduler,
        "lr_scheduler_kwargs": dict(settings.lr_scheduler_kwargs or {}),
        "warmup_steps": settings.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "seed": settings.seed,
        "data_seed": settings.seed,
        **device_arguments(),
        "fp16": False,
        # Off unless the job was told to save memory (the resource plan: docs/resources.md).
        **trainer_options(current_memory()),
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_strategy": "steps",
        "logging_steps": 1,
        "report_to": "none",
        "dataloader_num_workers": 0,
    }


def load_tokenizer(model_dir: Path) -> Any:
    """Load the tokenizer; it must have a chat template (conversational data)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.chat_template is None:
        raise ProgalignError(f"{model_dir}: the tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: Path) -> Any:
    """Load a causal LM with float32 (master) weights; the trainer autocasts to bf16 on a GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)


@contextmanager
def _timer(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(time.perf_counter() - start, 3)


# --------------------------------------------------------------------------------------------
# The stage runner.


@dataclass
class StageContext:
    """What a phase's trainer factory gets: the loaded model and tokenizer, a scratch folder,
    the stage's lower-layer memo (None: off for this phase) and the phase's patches."""

    model: Any
    tokenizer: Any
    scratch: Path
    memo: Any = None  # LowerMemo shared by every model of the phase (None: off)
    patches: ExitStack = field(default_factory=ExitStack)

    def enter(self, patch: Any) -> Any:
        """Enter a context manager (a patch) until the phase ends, on every path."""
        return self.patches.enter_context(patch)

    def reuse_lower(self, other: Any) -> None:
        """Serve ``other``'s frozen lower layers from this phase's memo (reference, reward)."""
        from progalign.lowerlayers import memo_forward

        if self.memo is not None:
            try:
                self.enter(memo_forward(other, self.memo))
            except ValueError as exc:  # other lower weights, or trainable ones: plain forward
                log.info(
                    "not reusing lower-layer activations for %s: %s", type(other).__name__, exc
                )


def _train(trainer: Any) -> Any:
    return trainer.train()


@dataclass(frozen=True)
class Phase:
    """One trainer of a stage.

    Attributes:
        name: Key of the phase's result in :attr:`StageOutcome.results`.
        build: Makes the trainer from a :class:`StageContext`.
        run: Trains with it; what it returns is the phase's result (default: ``train()``'s).
        lower_memo: Serve the frozen lower layers from the stage's memo during this phase.
    """

    name: str
    build: Callable[[StageContext], Any]
    run: Callable[[Any], Any] = _train
    lower_memo: bool = True


@dataclass
class StageOutcome:
    """What a stage's record is made from (the model is saved when the record is asked for)."""

    model: Any
    tokenizer: Any
    trainer: Any  # the last phase's
    results: dict[str, Any]
    parameters: dict[str, int]
    memo: Any
    timings: dict[str, float]

    def lower_layers(self) -> dict[str, int] | None:
        """The memo's record entry: depth and hit counts (None: no memo)."""
        if self.memo is None:
            return None
        return {"reused_below": self.memo.depth, **self.memo.stats}


@dataclass(frozen=True)
class Stage:
    """A training stage for :func:`run_stage`.

    Attributes:
        name: Short stage name (``hislm``, ``dpo``, ``reward``, ``rloo``, ``sft``).
        model: Starting model (folder, or a repo id where the loaders accept one).
        out_dir: Final output folder (written atomically; replaced if present).
        seed: Seed set before loading.
        top_k_layers: Only the top k decoder layers train (and their lower layers are reused);
            None trains all.
        phases: The trainers, run in order on the same model.
        record: Makes the record (written to ``record_file`` in the output) from the outcome.
        record_file: File name of the record.
        load_model: Loads the model to train.
        load_tokenizer: Loads the tokenizer (saved with the model).
        prepare: Freezes parameters; default :func:`freeze_below_top` with ``top_k_layers``.
        lower_disk: Share lower-layer activations across jobs through the on-disk store (right
            for fixed texts, wasteful for freshly sampled ones).
        trl_labelled_only: Make TRL's fused LM head score labelled positions only (TRL
            stages).
    """

    name: str
    model: str | Path
    out_dir: Path
    seed: int
    top_k_layers: int | None
    phases: Sequence[Phase]
    record: Callable[[StageOutcome], dict[str, Any]]
    record_file: str = TRAINING_FILE
    load_model: Callable[[Any], Any] = load_causal_lm
    load_tokenizer: Callable[[Any], Any] = load_tokenizer
    prepare: Callable[[Any], dict[str, int]] | None = None
    lower_disk: bool = True
    trl_labelled_only: bool = True


def run_stage(stage: Stage) -> dict[str, Any]:
    """Load, train phase after phase, and write the model and its record atomically.

    In a rank of a launched run (:mod:`progalign.training.launch`) every rank trains, only the
    main rank writes the output, the weights are gathered on save
    (:func:`progalign.training.distributed.save_trained`), the lower-layer memo is off when
    there is more than one process, and the record's provenance gets a ``distributed`` entry.

    Returns:
        The record written to ``out_dir/<record_file>`` (empty on ranks other than the main).
    """
    from transformers import set_seed

    from progalign.lowerlayers import (
        memo_forward,
        training_memo,
        trl_scores_labelled_positions_only,
    )
    from progalign.training import distributed
    from progalign.training.launch import current_memory, launched
    from progalign.training.memory import MemorySaving

    if not stage.phases:
        raise SettingError(f"stage {stage.name} has no phases")
    launch = launched()  # None: in-process, as always; else a rank of a launched run
    memo_off = launch is not None and distributed.world_size() > 1
    started = time.perf_counter()
    timings: dict[str, float] = {}
    folder = atomic_dir if launch is None else distributed.output_folder
    with folder(Path(stage.out_dir)) as tmp, ExitStack() as patches:
        if stage.trl_labelled_only:
            patches.enter_context(trl_scores_labelled_positions_only())
        with _timer(timings, "load_s"):
            set_seed(stage.seed)
            tokenizer = stage.load_tokenizer(stage.model)
            model = stage.load_model(stage.model)
            prepare = stage.prepare or (lambda m: freeze_below_top(m, stage.top_k_layers))
            counts = prepare(model)
            # in a distributed run each rank would fill its own memo from its share of the
            # data; not shown correct there, so it is off (recorded)
            top_k = None if memo_off else stage.top_k_layers
            memo = training_memo(model, top_k, disk=stage.lower_disk)
        scratch = tmp / ".trainer"
        results: dict[str, Any] = {}
        trainer: Any = None
        with _timer(timings, "train_s"):
            for phase in stage.phases:
                with ExitStack() as phase_patches:
                    ctx = StageContext(
                        model,
                        tokenizer,
                        scratch / phase.name,
                        memo if phase.lower_memo else None,
                        phase_patches,
                    )
                    ctx.scratch.mkdir(parents=True)
                    if ctx.memo is not None:
                        ctx.enter(memo_forward(model, ctx.memo))
                    trainer = phase.build(ctx)
                    results[phase.name] = phase.run(trainer)
        shutil.rmtree(scratch, ignore_errors=True)
        with _timer(timings, "save_s"):
            if launch is None:
                trained = trainer.accelerator.unwrap_model(trainer.model)
                trained.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
            else:  # every rank: a sharded model is gathered collectively
                distributed.save_trained(trainer, tokenizer, tmp)
        timings["total_s"] = round(time.perf_counter() - started, 3)
        if not distributed.is_main():
            return {}  # the main rank writes the record
        record = stage.record(
            StageOutcome(model, tokenizer, trainer, results, counts, memo, timings)
        )
        if launch is not None:
            memo_was_off = memo_off and stage.top_k_layers is not None
            record.setdefault("provenance", {})["distributed"] = distributed.description(
                trainer, launch, memo_was_off
            )
        saving = current_memory()
        if saving != MemorySaving():  # recorded when the job was told to save memory
            record.setdefault("provenance", {})["memory_saving"] = saving.to_json()
        write_json(tmp / stage.record_file, record)
    return record


def run_trl_stage(
    stage: str,
    model_dir: Path,
    out_dir: Path,
    settings: TrainSettings,
    build: Callable[[StageContext], Any],
    summary: dict[str, Any],
    *,
    algorithm: str,
    load_model: Callable[[Path], Any] = load_causal_lm,
    prepare: Callable[[Any], dict[str, int]] | None = None,
    inputs: dict[str, Path] | None = None,
    deviations: Sequence[str] = (),
    lower_disk: bool = True,
) -> dict[str, Any]:
    """:func:`run_stage` for a one-trainer TRL stage, recorded in ``training.json``.

    Args:
        stage: Short stage name (``dpo``, ``reward``, ``rloo``, ``sft``).
        model_dir: Starting model folder.
        out_dir: Final output folder.
        settings: Hyper-parameters.
        build: Makes the TRL trainer from a :class:`StageContext`.
        summary: Stage-specific counts merged into the record (read when it is written).
        algorithm: Human-readable description recorded in ``training.json``.
        load_model: Loads the model to train (default: causal LM in float32).
        prepare: Freezes parameters; default :func:`freeze_below_top` with ``top_k_layers``.
        inputs: Further input models, identified in the record by name.
        deviations: Documented departures from upstream, recorded verbatim.
        lower_disk: See :class:`Stage`.

    Returns:
        The record written to ``out_dir/training.json``.
    """
    model_dir = check_model_dir(model_dir)

    def record(done: StageOutcome) -> dict[str, Any]:
        from progalign.backends.identity import model_identity
        from progalign.provenance import device_description, provenance

        history = [
            {k: v for k, v in row.items() if isinstance(v, int | float)}
            for row in done.trainer.state.log_history
        ]
        return {
            "stage": stage,
            "algorithm": algorithm,
            "model": model_identity(str(model_dir)),
            "inputs": {k: model_identity(str(v)) for k, v in (inputs or {}).items()},
            "settings": dataclasses.asdict(settings),
            **summary,
            "parameters": done.parameters,
            "lower_layers": done.lower_layers(),
            "train_loss": done.results["train"].training_loss,
            "steps": done.trainer.state.global_step,
            "history": history,
            "deviations": list(deviations),
            "timings": done.timings,
            "provenance": provenance(
                command=f"train-{stage}",
                device=device_description("cuda" if on_gpu() else "cpu"),
            ),
        }

    written = run_stage(
        Stage(
            name=stage,
            model=model_dir,
            out_dir=Path(out_dir),
            seed=settings.seed,
            top_k_layers=settings.top_k_layers,
            phases=(Phase("train", build),),
            record=record,
            load_model=load_model,
            prepare=prepare,
            lower_disk=lower_disk,
        )
    )
    if written:  # empty on the other ranks of a launched run
        log.info(
            "%s: trained %s in %.1f s (%d steps, loss %.4f)",
            stage,
            out_dir,
            written["timings"]["total_s"],
            written["steps"],
            written["train_loss"],
        )
    return written
