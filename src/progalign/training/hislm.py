"""Continued pre-training of a base causal LM on one century (``progalign train-hislm``).

The century's documents are tokenised, joined with EOS and cut into ``max_seq_len`` blocks
(the tail shorter than a block is dropped); a seeded share of blocks is held out for the
validation loss. Training uses ``transformers.Trainer``. With ``top_k_layers`` only the top
decoder layers and the final norm learn; everything below, embeddings and output layer included,
stays frozen, so every model of a family shares its lower-layer activations (the evaluation can
then cache them, docs/semantics.md#shared-lower-layers). The output is written atomically: a
killed job leaves no folder that looks finished.
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from progalign.errors import ProgalignError
from progalign.io import atomic_dir, sha256_file, write_json
from progalign.training.config import HislmConfig

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
    total = sum(p.numel() for p in model.parameters())
    train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": train, "total": total}


def _epoch_memo(model: Any, top_k: int | None) -> tuple[Any, Any] | None:
    """Reuse the frozen lower layers' activations from the first epoch in later ones (and in
    validation); memory only, as another century's corpus never repeats these blocks."""
    from progalign.training.lowermemo import enabled, install, memo_for

    layers = getattr(model.base_model, "layers", None)
    if top_k is None or layers is None or top_k >= len(layers) or not enabled():
        return None
    memo = memo_for(model, len(layers) - top_k, disk=False)
    return memo, install(model, memo)


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

    kwargs: dict[str, Any] = {}
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
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
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
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, set_seed

    started = time.perf_counter()
    set_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    blocks = corpus_blocks(tokenizer, [r["content"] for r in corpus], cfg.max_seq_len,
                           cfg.max_tokens)
    if len(blocks) < 2:
        raise ProgalignError(
            f"the corpus gives {len(blocks)} block(s) of {cfg.max_seq_len} tokens; "
            "need at least 2 (lower max_seq_len or add text)"
        )
    train, val = _split(blocks, cfg.val_fraction, cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    counts = freeze_below_top(model, cfg.top_k_layers)
    memo = _epoch_memo(model, cfg.top_k_layers)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.trainer-", dir=out.parent))
    try:
        steps = max(1, int(len(train) * cfg.epochs / (cfg.batch_size * cfg.gradient_accumulation)))
        trainer = Trainer(
            model=model,
            args=_arguments(cfg, scratch, bool(val), steps),
            train_dataset=_Blocks(train),
            eval_dataset=_Blocks(val) if val else None,
        )
        result = trainer.train()
        history = [
            {k: v for k, v in row.items() if k in ("epoch", "step", "loss", "eval_loss")}
            for row in trainer.state.log_history
        ]
        eval_loss = trainer.evaluate()["eval_loss"] if val else None
        if memo is not None:
            memo[1]()  # restore the plain forward before the optional SFT and saving
        sft = None
        if sft_file is not None:
            from progalign.training.sft import read_instructions, sft_in_place

            sft = sft_in_place(
                model, tokenizer, read_instructions(sft_file), epochs=cfg.sft_epochs,
                learning_rate=cfg.sft_learning_rate, batch_size=cfg.batch_size,
                max_length=cfg.sft_max_length, seed=cfg.seed, scratch_parent=scratch,
            )
            sft["file"] = {str(sft_file): sha256_file(sft_file)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record: dict[str, Any] = {
        "kind": "historical-model",
        "base": base,
        "config": {k: v for k, v in vars(cfg).items() if k != "extra"},
        "parameters": counts,
        "lower_layers": None if memo is None else {"reused_below": memo[0].depth,
                                                   **memo[0].stats},
        "corpus": {
            "documents": len(corpus),
            "files": {str(p): sha256_file(p) for p in corpus_files},
            "train_blocks": len(train),
            "val_blocks": len(val),
            "tokens": (len(train) + len(val)) * cfg.max_seq_len,
        },
        "train_loss": result.training_loss,
        "eval_loss": eval_loss,
        "history": history,
        "sft": sft,
        "seconds": round(time.perf_counter() - started, 1),
    }
    from progalign.models import PROVENANCE_FILE
    from progalign.provenance import provenance

    record["provenance"] = provenance(command="train-hislm")
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / PROVENANCE_FILE, record)
    log.info("trained %s in %.0f s: train loss %.3f, eval loss %s", out, record["seconds"],
             record["train_loss"], eval_loss)
    return record
