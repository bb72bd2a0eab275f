"""Supervised fine-tuning with TRL's ``SFTTrainer``, completion-only loss, in two places:

* the optional SFT phase of a historical model's training (:func:`sft_phase`, a phase of the
  ``hislm`` stage) on a timeless instruction set: records are ``{instruction, input?, output}``
  (Alpaca format, as the upstream TimelessQA);
* PG-Coevolve's simulated human (:func:`train_sft_pairs`, a stage of its own) on
  (prompt, completion) pairs.

Either way the records become prompt/completion conversations, so the model's chat template is
used and the loss covers the completions only, and the trainer runs inside
:func:`progalign.training.stage.run_stage`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.errors import InputError, ProgalignError
from progalign.io import read_jsonl
from progalign.training.launch import delegate
from progalign.training.stage import (
    TRAINING_FILE,
    Phase,
    StageContext,
    TrainSettings,
    device_arguments,
    digest,
    run_trl_stage,
    trainer_arguments,
)


def read_instructions(path: str | Path) -> list[dict[str, str]]:
    """Read Alpaca-format records from a JSONL or JSON-list file, validating each.

    Raises:
        InputError: naming the file and record when ``instruction``/``output`` is missing.
    """
    import json

    file = Path(path)
    if file.suffix == ".json":
        try:
            rows = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(str(file), f"not a JSON list ({exc})") from None
        if not isinstance(rows, list):
            raise InputError(str(file), "expected a JSON list of records")
    else:
        rows = read_jsonl(file)
    records = []
    for number, row in enumerate(rows, start=1):
        for key in ("instruction", "output"):
            if not isinstance(row, dict) or not str(row.get(key, "")).strip():
                raise InputError(str(file), f"record {number} has no {key!r}", row=number)
        records.append({k: str(row.get(k) or "") for k in ("instruction", "input", "output")})
    return records


def to_conversations(records: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """Prompt/completion conversations (the user turn is instruction + blank line + input)."""
    rows = []
    for r in records:
        user = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
        rows.append(
            {
                "prompt": [{"role": "user", "content": user}],
                "completion": [{"role": "assistant", "content": r["output"]}],
            }
        )
    return rows


def sft_phase(
    records: Sequence[dict[str, str]],
    *,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
) -> Phase:
    """A phase fine-tuning the stage's model (its trainable parameters) on instruction
    ``records``; its result is ``{"records", "train_loss"}``. It runs with plain forwards
    (no lower-layer memo), as the instruction texts are seen once."""

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        from progalign.training.launch import current_memory
        from progalign.training.memory import trainer_options

        if ctx.tokenizer.chat_template is None:
            raise ProgalignError("SFT needs a tokenizer with a chat template")
        config = SFTConfig(
            output_dir=str(ctx.scratch),
            num_train_epochs=epochs,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            data_seed=seed,
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            dataloader_num_workers=0,
            **device_arguments(),
            **trainer_options(current_memory()),
        )
        return SFTTrainer(
            model=ctx.model,
            args=config,
            train_dataset=Dataset.from_list(to_conversations(records)),
            processing_class=ctx.tokenizer,
        )

    def run(trainer: Any) -> dict[str, Any]:
        return {"records": len(records), "train_loss": trainer.train().training_loss}

    return Phase("sft", build, run, lower_memo=False)


def train_sft_pairs(
    model_dir: Path, records: Sequence[tuple[str, str]], out_dir: Path, settings: TrainSettings
) -> dict[str, Any]:
    """Supervised fine-tuning on (prompt, completion) pairs (PG-Coevolve's simulated human).

    The pairs become prompt/completion conversations for TRL's ``SFTTrainer``; the loss covers
    the completion tokens only.

    Args:
        model_dir: Starting model (HF folder with a chat template).
        records: ``(user turn, assistant reply)`` pairs.
        out_dir: Output folder (written atomically; replaced if present).
        settings: Hyper-parameters (``beta``, ``sft_weight`` and the RLOO fields are unused).

    Returns:
        The record also written to ``out_dir/training.json``.

    Raises:
        ProgalignError: no records, a missing model folder, or bad settings.
    """
    if not records:
        raise ProgalignError("SFT: no (prompt, completion) records to train on")
    for number, record in enumerate(records, start=1):
        if len(record) != 2 or not all(isinstance(x, str) for x in record):
            raise ProgalignError(
                f"SFT: record {number} is not a (prompt, completion) pair of strings"
            )
    launched = delegate(
        "sft",
        out_dir,
        TRAINING_FILE,
        {
            "model_dir": str(model_dir),
            "records": [list(r) for r in records],
            "out_dir": str(out_dir),
            "settings": dataclasses.asdict(settings),
        },
    )
    if launched is not None:  # trained under accelerate launch (progalign.training.launch)
        return launched

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        rows = [
            {
                "prompt": [{"role": "user", "content": p}],
                "completion": [{"role": "assistant", "content": c}],
            }
            for p, c in records
        ]
        config = SFTConfig(
            **trainer_arguments(settings, ctx.scratch),
            max_length=settings.max_length,
            completion_only_loss=True,
            packing=False,
        )
        return SFTTrainer(
            model=ctx.model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=ctx.tokenizer,
        )

    summary = {
        "n_records": len(records),
        "n_samples": len(records),
        "inputs_sha256": digest([list(r) for r in records]),
    }
    return run_trl_stage(
        "sft",
        model_dir,
        out_dir,
        settings,
        build,
        summary,
        algorithm="SFT, completion-only loss (TRL SFTTrainer)",
    )
