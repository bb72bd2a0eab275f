"""Held-out perplexity of models on century texts (is each century model *of its century*?)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from progalign.training.hislm import corpus_blocks


@torch.inference_mode()
def block_nll(
    model: Any, blocks: Sequence[Sequence[int]], batch_size: int = 8
) -> tuple[float, int]:
    """Summed next-token negative log-likelihood over ``blocks`` and the number of predictions."""
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        ids = torch.tensor([list(b) for b in blocks[start : start + batch_size]])
        logits = model(ids).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"
        )
        total += float(nll)
        count += ids[:, 1:].numel()
    return total, count


def perplexity_matrix(
    models: Mapping[str, str | Path],
    texts: Mapping[str, Sequence[str]],
    max_seq_len: int = 256,
    batch_size: int = 8,
) -> dict[str, dict[str, float]]:
    """Perplexity of every model (rows) on every century's texts (columns).

    All models must share a tokenizer (one family); the texts are tokenised once with the first
    model's tokenizer.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = next(iter(models.values()))
    tokenizer = AutoTokenizer.from_pretrained(first)
    blocks = {c: corpus_blocks(tokenizer, t, max_seq_len) for c, t in texts.items()}
    matrix: dict[str, dict[str, float]] = {}
    for name, path in tqdm(list(models.items()), desc="perplexity", unit="model"):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        row = {}
        for century, century_blocks in blocks.items():
            total, count = block_nll(model, century_blocks, batch_size)
            row[century] = math.exp(total / max(count, 1))
        matrix[name] = row
    return matrix
