"""Continued pre-training of a base causal LM on one century (``progalign train-hislm``).

The century's documents are tokenised, joined with EOS and cut into ``max_seq_len`` blocks
(the tail shorter than a block is dropped); a seeded share of blocks is held out for the
validation loss. Training uses ``transformers.Trainer`` inside the stage runner
(:func:`progalign.training.stage.run_stage`), followed by the optional SFT phase
(:func:`progalign.training.sft.sft_phase`). With ``top_k_layers`` only the top decoder layers
and the final norm learn; everything below, embeddings and output layer included, stays frozen,
so every model of a family shares its lower-layer activations (the evaluation can then cache
them, docs/semantics.md#shared-lower-layers), and the pre-training's later epochs and validation
reuse them from memory. The output is written atomically: a killed job leaves no folder that
looks finished.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from progalign.errors import ProgalignError
from progalign.io import sha256_file
from progalign.training.config import HislmConfig
from progalign.training.stage import Phase, Stage, StageOutcome, device_arguments, run_stage

log = logging.getLogger(__name__)


def corpus_blocks(
    tokenizer: Any, texts: Sequence[str], max_seq_len: int, max_tokens: int | None = None
) -> list[list[int]]:
    """Tokenise ``texts`` (EOS after each), cut into full blocks of ``max_seq_len`` tokens."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False).input_ids)
        if eos is not None:
            ids.append(eos)
        if max_tokens is not None and len(ids) >= max_tokens:
            ids = ids[:max_tokens]
            break
    return [ids[i : i + max_seq_len] for i in range(0, len(ids) - max_seq_len + 1, max_seq_len)]


class _Blocks(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    def __init__(self, blocks: list[list[int]]) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ids = torch.tensor(self.blocks[index])
        return {"input_ids": ids, "labels": ids.clone()}


def _split(blocks: list[list[int]], fraction: float, seed: int) -> tuple[list, list]:
    order = list(range(len(blocks)))
    random.Random(seed).shuffle(order)
    n_val = round(len(blocks) * fraction) if fraction > 0 else 0
    if fraction > 0 and len(blocks) > 1:
        n_val = max(1, n_val)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [blocks[i] for i in train], [blocks[i] for i in val]


def _arguments(cfg: HislmConfig, scratch: Path, has_val: bool, steps: int) -> Any:
    from transformers import TrainingArguments

    from progalign.training.launch import current_memory
    from progalign.training.memory import trainer_options

    kwargs: dict[str, Any] = {**device_arguments(), **trainer_options(current_memory())}
    if cfg.lr_scheduler == "polynomial":
        kwargs["lr_scheduler_kwargs"] = {"lr_end": cfg.lr_end, "power": cfg.schedule_power}
    return TrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_strategy="no",
        eval_strategy="epoch" if has_val else "no",
        logging_strategy="steps",
        logging_steps=max(1, steps // 20),
        report_to="none",
        dataloader_num_workers=0,
        **kwargs,
    )


def train_hislm(
    base: str,
    corpus: Sequence[dict[str, Any]],
    out_dir: str | Path,
    cfg: HislmConfig,
    corpus_files: Sequence[Path] = (),
    sft_file: Path | None = None,
) -> dict[str, Any]:
    """Continue pre-training ``base`` on ``corpus`` records; write an HF model folder.

    Args:
        base: Model folder or repo id.
        corpus: Records with ``content`` (and ``creation_year``).
        out_dir: Output folder (replaced atomically on success).
        cfg: Hyper-parameters.
        corpus_files: Files the records came from (hashed into the provenance).
        sft_file: Optional instruction set (Alpaca records) for the SFT stage after
            pre-training (upstream: TimelessQA).

    Returns:
        The provenance record written to ``out_dir/progalign_model.json``.
    """
    from transformers import AutoTokenizer, Trainer

    from progalign.models import PROVENANCE_FILE
    from progalign.provenance import provenance
    from progalign.training.launch import delegate
    from progalign.training.sft import read_instructions, sft_phase

    launched = delegate(
        "hislm",
        Path(out_dir),
        PROVENANCE_FILE,
        {
            "base": str(base),
            "corpus": list(corpus),
            "out_dir": str(out_dir),
            "config": dataclasses.asdict(cfg),
            "corpus_files": [str(p) for p in corpus_files],
            "sft_file": None if sft_file is None else str(sft_file),
        },
    )
    if launched is not None:  # trained under accelerate launch (progalign.training.launch)
        return dict(launched)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(base)
    blocks = corpus_blocks(
        tokenizer, [r["content"] for r in corpus], cfg.max_seq_len, cfg.max_tokens
    )
    if len(blocks) < 2:
        raise ProgalignError(
            f"the corpus gives {len(blocks)} block(s) of {cfg.max_seq_len} tokens; "
            "need at least 2 (lower max_seq_len or add text)"
        )
    train, val = _split(blocks, cfg.val_fraction, cfg.seed)
    steps = max(1, int(len(train) * cfg.epochs / (cfg.batch_size * cfg.gradient_accumulation)))

    def pretrain(ctx: Any) -> Any:
        return Trainer(
            model=ctx.model,
            args=_arguments(cfg, ctx.scratch, bool(val), steps),
            train_dataset=_Blocks(train),
            eval_dataset=_Blocks(val) if val else None,
        )

    def run(trainer: Any) -> dict[str, Any]:
        result = trainer.train()
        history = [
            {k: v for k, v in row.items() if k in ("epoch", "step", "loss", "eval_loss")}
            for row in trainer.state.log_history
        ]
        eval_loss = trainer.evaluate()["eval_loss"] if val else None
        return {"train_loss": result.training_loss, "history": history, "eval_loss": eval_loss}

    phases = [Phase("pretrain", pretrain, run)]
    if sft_file is not None:
        if tokenizer.chat_template is None:
            raise ProgalignError("SFT needs a tokenizer with a chat template")
        phases.append(
            sft_phase(
                read_instructions(sft_file),
                epochs=cfg.sft_epochs,
                learning_rate=cfg.sft_learning_rate,
                batch_size=cfg.batch_size,
                max_length=cfg.sft_max_length,
                seed=cfg.seed,
            )
        )

    def record(done: StageOutcome) -> dict[str, Any]:
        pre = done.results["pretrain"]
        sft = None
        if sft_file is not None:
            sft = {**done.results["sft"], "file": {str(sft_file): sha256_file(sft_file)}}
        return {
            "kind": "historical-model",
            "base": base,
            "config": {k: v for k, v in vars(cfg).items() if k != "extra"},
            "parameters": done.parameters,
            "lower_layers": done.lower_layers(),
            "corpus": {
                "documents": len(corpus),
                "files": {str(p): sha256_file(p) for p in corpus_files},
                "train_blocks": len(train),
                "val_blocks": len(val),
                "tokens": (len(train) + len(val)) * cfg.max_seq_len,
            },
            "train_loss": pre["train_loss"],
            "eval_loss": pre["eval_loss"],
            "history": pre["history"],
            "sft": sft,
            "seconds": round(time.perf_counter() - started, 1),
            "provenance": provenance(command="train-hislm"),
        }

    written = run_stage(
        Stage(
            name="hislm",
            model=base,
            out_dir=Path(out_dir),
            seed=cfg.seed,
            top_k_layers=cfg.top_k_layers,
            phases=phases,
            record=record,
            record_file=PROVENANCE_FILE,
            load_tokenizer=lambda _: tokenizer,
            lower_disk=False,  # another century's corpus never repeats these blocks
            trl_labelled_only=False,
        )
    )
    if written:  # empty on the other ranks of a launched run
        log.info(
            "trained %s in %.0f s: train loss %.3f, eval loss %s",
            out_dir,
            written["seconds"],
            written["train_loss"],
            written["eval_loss"],
        )
    return written
