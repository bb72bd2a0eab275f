"""Shared-prefix, shared-context forward passes for log-likelihood scoring.

``forward_hidden`` scores a batch of (context, continuations) rows in two forward passes on top
of a cached common prefix: one over the rest of every context (left-padded), one over all
continuations of all rows (right-padded, each row's context cache selected by index). Padding
is masked out and position ids are explicit, so results equal full unpadded forwards up to
floating-point rounding (tested to 1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache


@dataclass(frozen=True)
class Tokenized:
    """A tokenised request: context ids and one id list per continuation."""

    context: list[int]
    continuations: list[list[int]]


def common_prefix(contexts: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Longest common prefix of ``contexts``, leaving at least one token of each context."""
    if not contexts:
        return ()
    limit = min(len(c) for c in contexts) - 1
    first = contexts[0]
    length = 0
    while length < limit and all(c[length] == first[length] for c in contexts):
        length += 1
    return tuple(first[:length])


#: Requests are grouped by this many opening tokens (then by length) to share prefixes.
SORT_PREFIX = 48
#: Shortest common prefix of a batch worth encoding once.
_MIN_SHARED_PREFIX = 4


def batch_prefix(contexts: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The common prefix of a batch's contexts if it is worth encoding once, else ``()``."""
    prefix = common_prefix(contexts)
    return prefix if len(prefix) >= _MIN_SHARED_PREFIX else ()


def prefix_cache(model: Any, prefix: Sequence[int], device: torch.device) -> list[tuple[Any, Any]]:
    """Encode ``prefix`` once; return its per-layer (keys, values) tensors (batch size 1)."""
    ids = torch.tensor([list(prefix)], device=device)
    out = model.base_model(input_ids=ids, use_cache=True)
    cache = out.cache
    return [(layer.keys, layer.values) for layer in cache.layers]


def _cache_for(model: Any, kv: list[tuple[Any, Any]] | None, batch: int) -> DynamicCache:
    if kv is None:
        return DynamicCache(config=model.config)
    # expand() makes views; the forward pass concatenates into new tensors and never writes
    # into the shared prefix tensors.
    data = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv]
    return DynamicCache(ddp_cache_data=data, config=model.config)


def upcast(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits to float32 before a softmax; float32/float64 stay as they are."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def _logprobs_at(model: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = upcast(model.get_output_embeddings()(hidden))
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


def forward_hidden(
    model: Any,
    rows: Sequence[Tokenized],
    prefix_len: int,
    kv: list[tuple[Any, Any]] | None,
    device: torch.device,
) -> list[list[tuple[float, int]]]:
    """Score every continuation of every row; return (sum logprob, n tokens) per continuation.

    Args:
        model: A transformers causal LM (``base_model`` + output embeddings are used).
        rows: Tokenised requests whose contexts all start with the cached prefix.
        prefix_len: Length of that prefix (0 = no prefix).
        kv: The prefix cache from ``prefix_cache`` (None when ``prefix_len`` is 0).
        device: Model device.
    """
    batch = len(rows)
    suffixes = [r.context[prefix_len:] for r in rows]
    width = max(len(s) for s in suffixes)
    ids = torch.zeros((batch, width), dtype=torch.long)
    suffix_mask = torch.zeros((batch, width), dtype=torch.long)
    positions = torch.zeros((batch, width), dtype=torch.long)
    for i, suffix in enumerate(suffixes):
        n = len(suffix)
        ids[i, width - n :] = torch.tensor(suffix)
        suffix_mask[i, width - n :] = 1
        positions[i, width - n :] = torch.arange(prefix_len, prefix_len + n)
    context_mask = torch.cat([torch.ones((batch, prefix_len), dtype=torch.long), suffix_mask], 1)
    cache = _cache_for(model, kv, batch)
    out = model.base_model(
        input_ids=ids.to(device),
        attention_mask=context_mask.to(device),
        position_ids=positions.to(device),
        cache=cache,
        use_cache=True,
    )
    cache = out.cache
    last = out.last_hidden_state[:, -1]

    # First token of every continuation: predicted from the context's last position.
    owners = [i for i, r in enumerate(rows) for _ in r.continuations]
    conts = [c for r in rows for c in r.continuations]
    first = torch.tensor([c[0] for c in conts], device=device)
    totals = _logprobs_at(model, last[torch.tensor(owners, device=device)], first).tolist()

    longer = [j for j, c in enumerate(conts) if len(c) > 1]
    if longer:
        span = max(len(conts[j]) - 1 for j in longer)
        opt_ids = torch.zeros((len(longer), span), dtype=torch.long)
        opt_mask = torch.zeros((len(longer), span), dtype=torch.long)
        targets = torch.zeros((len(longer), span), dtype=torch.long)
        for row, j in enumerate(longer):
            tokens = conts[j]
            opt_ids[row, : len(tokens) - 1] = torch.tensor(tokens[:-1])
            targets[row, : len(tokens) - 1] = torch.tensor(tokens[1:])
            opt_mask[row, : len(tokens) - 1] = 1
        select = torch.tensor([owners[j] for j in longer])
        cache.batch_select_indices(select.to(device))
        lengths = torch.tensor([prefix_len + len(suffixes[owners[j]]) for j in longer])
        opt_positions = lengths[:, None] + torch.arange(span)[None, :]
        mask = torch.cat([context_mask[select], opt_mask], 1)
        hidden = model.base_model(
            input_ids=opt_ids.to(device),
            attention_mask=mask.to(device),
            position_ids=opt_positions.to(device),
            cache=cache,
            use_cache=True,
        ).last_hidden_state
        valid = opt_mask.bool().to(device)
        picked = _logprobs_at(model, hidden[valid], targets.to(device)[valid])
        sums = torch.zeros(len(longer), dtype=picked.dtype, device=device)
        sums.index_add_(0, valid.nonzero()[:, 0], picked)
        for row, j in enumerate(longer):
            totals[j] += float(sums[row])

    results: list[list[tuple[float, int]]] = [[] for _ in rows]
    for j, owner in enumerate(owners):
        results[owner].append((float(totals[j]), len(conts[j])))
    return results
