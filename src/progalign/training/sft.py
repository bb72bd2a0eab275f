"""Supervised fine-tuning on a timeless instruction set (stage 2 of historical-model training).

Records are ``{instruction, input?, output}`` (Alpaca format, as the upstream TimelessQA). They
become prompt/completion conversations for TRL's ``SFTTrainer``, so the model's chat template is
used and the loss covers the completions only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from progalign.errors import InputError, ProgalignError
from progalign.io import read_jsonl


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
        rows.append({"prompt": [{"role": "user", "content": user}],
                     "completion": [{"role": "assistant", "content": r["output"]}]})
    return rows


def sft_in_place(
    model: Any,
    tokenizer: Any,
    records: Sequence[dict[str, str]],
    *,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    seed: int,
    scratch_parent: Path,
) -> dict[str, Any]:
    """Fine-tune ``model`` (its trainable parameters) on ``records``; returns loss figures."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if tokenizer.chat_template is None:
        raise ProgalignError("SFT needs a tokenizer with a chat template")
    scratch = Path(tempfile.mkdtemp(prefix=".sft-", dir=scratch_parent))
    try:
        config = SFTConfig(
            output_dir=str(scratch),
            num_train_epochs=epochs,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            data_seed=seed,
            use_cpu=not torch.cuda.is_available(),
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            dataloader_num_workers=0,
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(to_conversations(records)),
            processing_class=tokenizer,
        )
        result = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"records": len(records), "train_loss": result.training_loss}
