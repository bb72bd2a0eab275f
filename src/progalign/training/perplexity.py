"""Held-out perplexity of models on century texts (is each century model *of its century*?).

For a family trained with ``--top-k-layers`` the lower layers are shared: their activations on
each century's text are computed once and every model only runs its own upper layers
(``progalign.lowerlayers``), which cuts the cost of the matrix by about (L - k) / L.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from progalign.lowerlayers import lower_hidden, shared_depth, upper_hidden
from progalign.training.hislm import corpus_blocks


def _nll(model: Any, hidden: torch.Tensor, ids: torch.Tensor) -> float:
    logits = model.get_output_embeddings()(hidden[:, :-1]).float()
    return float(
        torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"
        )
    )


@torch.inference_mode()
def perplexity_matrix(
    models: Mapping[str, str | Path],
    texts: Mapping[str, Sequence[str]],
    max_seq_len: int = 256,
    batch_size: int = 8,
    share_lower: bool = True,
) -> dict[str, dict[str, float]]:
    """Perplexity of every model (rows) on every century's texts (columns).

    All models must share a tokenizer (one family); the texts are tokenised once with the first
    model's tokenizer.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = next(iter(models.values()))
    tokenizer = AutoTokenizer.from_pretrained(first)
    loaded = {
        name: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        for name, path in models.items()
    }
    depth = shared_depth(list(loaded.values())) if share_lower else 0
    reference = next(iter(loaded.values()))
    matrix: dict[str, dict[str, float]] = {name: {} for name in loaded}
    for century, century_texts in tqdm(list(texts.items()), desc="perplexity", unit="century"):
        blocks = corpus_blocks(tokenizer, century_texts, max_seq_len)
        totals = dict.fromkeys(loaded, 0.0)
        count = 0
        for start in range(0, len(blocks), batch_size):
            ids = torch.tensor(blocks[start : start + batch_size])
            lower = lower_hidden(reference, ids, depth)  # shared by every model
            for name, model in loaded.items():
                totals[name] += _nll(model, upper_hidden(model, lower, depth), ids)
            count += ids[:, 1:].numel()
        for name in loaded:
            matrix[name][century] = math.exp(totals[name] / max(count, 1))
    return matrix
