"""Log-likelihoods from cached lower-layer activations (docs/semantics.md#shared-lower-layers).

In the embedded family every model — historical, examinee, simulated human — is the base with
only its top k layers trained, so the embeddings and lower layers, and their activations on
the questionnaire, are the same in all of them. This scorer stores those activations on disk,
keyed by a fingerprint of the lower weights and the token ids (one packed row per prompt: its
context and all of its options, computed context-first), and runs only the upper layers per
model, the longest common prefix of a batch (chat preamble, question header) once per batch.
A model whose lower layers differ gets another fingerprint (a cold cache, never a wrong one).
The layers, masks, keys and store are the engine's (:mod:`progalign.lowerlayers`).
Sequences are right-padded: with causal attention, padding after a token cannot change it, so
results equal an unpadded full forward up to float rounding (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm

from progalign.backends.base import ContinuationScore
from progalign.backends.kv import SORT_PREFIX, batch_prefix, upcast
from progalign.backends.tokens import Tokenized
from progalign.lowerlayers import (
    LowerStore,
    lower_packed,
    masks,
    packed_key,
    run_upper,
    upper_prefix_cache,
    upper_prefix_kv,
)

log = logging.getLogger(__name__)


def _packed_rows(
    model: Any,
    tokenized: Sequence[Tokenized],
    depth: int,
    store: LowerStore,
    device: torch.device,
) -> tuple[list[torch.Tensor], int, int]:
    """Per request, its context's and continuations' lower activations packed in one row
    (:func:`~progalign.lowerlayers.lower_packed`): from the store, else computed and stored.

    Returns:
        The rows, and how many distinct requests came from the store, out of how many.
    """
    keys = [packed_key(tok.context, tok.continuations) for tok in tokenized]
    found: dict[tuple[int, ...], torch.Tensor] = {}
    hits = 0
    for tok, key in zip(tokenized, keys, strict=True):
        if key in found:
            continue
        if (hit := store.get(key)) is not None:
            hits += 1
        else:
            hit = lower_packed(model, tok.context, tok.continuations, depth, device).to("cpu")
            store.put(key, hit)
        found[key] = hit
    return [found[key] for key in keys], hits, len(found)


def _layout(n: int, conts: Sequence[Sequence[int]]) -> tuple[list[int], list[int]]:
    """Positions and segments of a packed row: the context (segment 0), then continuation j
    (segment j + 1) at the positions it would have right after the context."""
    positions, segments = list(range(n)), [0] * n
    for j, cont in enumerate(conts):
        positions += range(n, n + len(cont))
        segments += [j + 1] * len(cont)
    return positions, segments


@torch.inference_mode()
def loglikelihood_lower_cached(
    model: Any,
    tokenized: Sequence[Tokenized],
    depth: int,
    store: LowerStore,
    device: torch.device,
    batch_size: int,
    progress: bool = False,
    share_prefix: bool = True,
) -> list[list[ContinuationScore]]:
    """Score every continuation from cached lower activations and the model's upper layers.

    The upper layers run once per context: the context and all of its continuations are
    packed into one row whose attention mask keeps the continuations apart (each sees the
    context and its own earlier tokens, at the positions it would have alone). With
    ``share_prefix``, requests are grouped by their opening tokens and the longest common
    prefix of a batch's contexts (chat preamble, question header) goes through the upper
    layers once; every row attends to its keys and values.
    """
    for tok in tokenized:
        if not tok.context:
            raise ValueError("lower-layer scoring needs a non-empty context")
    rows, hits, requested = _packed_rows(model, tokenized, depth, store, device)
    dtype = rows[0].dtype if rows else torch.float32

    def total(i: int) -> int:
        return len(tokenized[i].context) + sum(len(c) for c in tokenized[i].continuations)

    if share_prefix:  # permutations of one item stay adjacent (same prefix, same length)
        order = sorted(
            range(len(tokenized)),
            key=lambda i: (tokenized[i].context[:SORT_PREFIX], total(i), tokenized[i].context),
        )
    else:
        order = sorted(range(len(tokenized)), key=total)
    results: list[list[ContinuationScore]] = [[] for _ in tokenized]
    head = model.get_output_embeddings()
    cached: tuple[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] | None = None
    bar = tqdm(
        total=len(order), desc="scoring (cached lower layers)", unit="prompt", disable=not progress
    )
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        prefix = batch_prefix([tokenized[i].context for i in batch]) if share_prefix else ()
        skip = len(prefix)
        cache = None
        if prefix:
            if cached is None or cached[0] != prefix:
                cached = (prefix, upper_prefix_kv(model, rows[batch[0]][:skip], depth, device))
            cache = upper_prefix_cache(model, cached[1], depth, len(batch))
        packed = [
            (rows[i][skip:], *_layout(len(tokenized[i].context), tokenized[i].continuations))
            for i in batch
        ]
        width = max(h.shape[0] for h, _, _ in packed)
        hidden = torch.zeros((len(batch), width, packed[0][0].shape[-1]), dtype=dtype)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (h, pos, _) in enumerate(packed):
            hidden[row, : h.shape[0]] = h
            positions[row, : h.shape[0]] = torch.tensor(pos[skip:])
        mask = masks.packed([seg[skip:] for _, _, seg in packed], width, skip, dtype, device)
        final = run_upper(model, hidden.to(device), depth, mask, positions.to(device), cache=cache)
        for row, i in enumerate(batch):
            tok = tokenized[i]
            n, offset, where = len(tok.context), len(tok.context), []
            for cont in tok.continuations:  # each option's tokens, predicted from before them
                where += [n - 1, *range(offset, offset + len(cont) - 1)]
                offset += len(cont)
            # one projection for all the options (row indices start after the shared prefix)
            logits = upcast(head(final[row, [w - skip for w in where]]))
            targets = torch.tensor([t for c in tok.continuations for t in c], device=device)
            picked = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
            for part, cont in zip(
                picked.split([len(c) for c in tok.continuations]), tok.continuations, strict=True
            ):
                results[i].append(ContinuationScore(float(part.sum()), len(cont)))
        bar.update(len(batch))
    bar.close()
    log.info("lower-layer cache: %d of %d prompts reused", hits, requested)
    return results
