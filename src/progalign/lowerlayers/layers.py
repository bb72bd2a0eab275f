"""Running a decoder in two parts: the shared lower layers and a model's own upper layers
(docs/semantics.md#shared-lower-layers). Tests check every function against plain forwards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import progalign.lowerlayers.masks as masks
from progalign.lowerlayers.adapters import adapter_for

KV = list[tuple[torch.Tensor, torch.Tensor]]


def n_layers(model: Any) -> int:
    """Number of decoder layers."""
    return len(adapter_for(model).layers)


def shared_depth(models: Sequence[Any]) -> int:
    """Number of bottom decoder layers (with the embeddings) equal in all ``models``.

    Returns 0 when the embeddings differ or the architectures do not match.
    """
    first = adapter_for(models[0])
    embed = models[0].get_input_embeddings().weight
    others = []
    for other in models[1:]:
        if type(other) is not type(models[0]):
            return 0
        adapter = adapter_for(other)
        if len(adapter.layers) != len(first.layers):
            return 0
        if not torch.equal(other.get_input_embeddings().weight, embed):
            return 0
        others.append(adapter)
    depth = 0
    for i, layer in enumerate(first.layers):
        params = list(layer.parameters())
        if any(
            not all(
                torch.equal(a, b) for a, b in zip(params, m.layers[i].parameters(), strict=True)
            )
            for m in others
        ):
            break
        depth = i + 1
    return depth


def _positions(hidden: torch.Tensor, start: int = 0) -> torch.Tensor:
    return torch.arange(start, start + hidden.shape[1], device=hidden.device).unsqueeze(0)


def run_upper(
    model: Any,
    hidden: torch.Tensor,
    depth: int,
    mask: Any,
    positions: torch.Tensor,
    cache: Any = None,
) -> torch.Tensor:
    """Layers ``depth..`` and the final norm on ``hidden`` under ``mask`` (no grad mode set).

    With ``cache`` (a ``DynamicCache`` whose upper layers may hold earlier keys and values,
    which ``mask`` then covers first), the new keys and values are appended to it.
    """
    adapter = adapter_for(model)
    rotary = adapter.rotary(hidden, positions)
    hidden = adapter.run(hidden, slice(depth, None), mask, rotary, positions, cache)
    return adapter.norm(hidden)


@torch.inference_mode()
def lower_hidden(model: Any, ids: torch.Tensor, depth: int) -> torch.Tensor:
    """Hidden states after the embeddings and the first ``depth`` layers (unpadded batch)."""
    adapter = adapter_for(model)
    hidden = adapter.embed(ids)
    positions = _positions(hidden)
    mask = adapter.causal_mask(hidden, positions)
    rotary = adapter.rotary(hidden, positions)
    return adapter.run(hidden, slice(None, depth), mask, rotary, positions)


@torch.inference_mode()
def upper_hidden(model: Any, hidden: torch.Tensor, depth: int) -> torch.Tensor:
    """Finish the forward pass from layer ``depth``: final normalised hidden states."""
    positions = _positions(hidden)
    mask = adapter_for(model).causal_mask(hidden, positions)
    return run_upper(model, hidden, depth, mask, positions)


@torch.no_grad()
def lower_row(
    model: Any, tokens: Sequence[int], depth: int, device: torch.device, start: int = 0
) -> torch.Tensor:
    """``lower_hidden`` of one unpadded row whose first token sits at position ``start``
    (length × hidden; a plain tensor, usable in training).

    Rows are computed one at a time on purpose: the bits then depend on the tokens alone, not
    on which rows happened to share a padded batch, so cached values (shared by every job of
    a run) never make a result depend on the order the jobs ran in.
    """
    adapter = adapter_for(model)
    hidden = adapter.embed_row(tokens, device)
    positions = _positions(hidden, start)
    mask = adapter.causal_mask(hidden, positions)
    rotary = adapter.rotary(hidden, positions)
    return adapter.run(hidden, slice(None, depth), mask, rotary, positions)[0].clone()


def lower_pass(
    model: Any,
    tokens: Sequence[int],
    positions: Sequence[int],
    mask: torch.Tensor,
    depth: int,
    cache: Any,
    device: torch.device,
) -> torch.Tensor:
    """Embeddings and layers ``..depth`` on one row with explicit positions and additive mask
    (``masks``), appending the row's keys and values to ``cache``; length × hidden."""
    adapter = adapter_for(model)
    hidden = adapter.embed_row(tokens, device)
    pos = torch.tensor([list(positions)], device=device)
    rotary = adapter.rotary(hidden, pos)
    mask = mask.to(device=device, dtype=hidden.dtype)
    return adapter.run(hidden, slice(None, depth), mask, rotary, pos, cache)[0]


@torch.no_grad()
def lower_packed(
    model: Any,
    context: Sequence[int],
    continuations: Sequence[Sequence[int]],
    depth: int,
    device: torch.device,
) -> torch.Tensor:
    """Lower activations of a context followed by each of its continuations, packed
    (``len(context) + sum(len(c))`` × hidden): what ``context + c`` gives at each ``c``.

    Two passes: the context alone (its keys and values kept), then all continuations in one
    row on top of it, each seeing the context and its own earlier tokens at the positions it
    would have alone. The weights are read twice instead of once per option, and the context
    is encoded once. The result depends on the context and the ordered continuations only;
    it equals :func:`lower_row` of each joined sequence up to float rounding (tested).
    """
    adapter = adapter_for(model)
    n = len(context)
    cache = adapter.new_cache()
    head = lower_pass(model, context, range(n), masks.causal(n), depth, cache, device)
    tokens = [t for c in continuations for t in c]
    if not tokens:
        return head.clone()
    positions = [n + i for c in continuations for i in range(len(c))]
    rest = adapter.new_cache(adapter.cache_kv(cache, slice(None, depth)))
    tail = lower_pass(
        model,
        tokens,
        positions,
        masks.continuations(n, [len(c) for c in continuations]),
        depth,
        rest,
        device,
    )
    return torch.cat([head, tail])


def upper_prefix_kv(model: Any, hidden: torch.Tensor, depth: int, device: torch.device) -> KV:
    """Keys and values of the upper layers on a shared prefix, from its lower activations
    (length × hidden)."""
    adapter = adapter_for(model)
    n = hidden.shape[0]
    cache = adapter.new_cache()
    mask = masks.causal(n).to(device, hidden.dtype)
    run_upper(
        model,
        hidden[None].to(device),
        depth,
        mask,
        torch.arange(n, device=device)[None],
        cache=cache,
    )
    return adapter.cache_kv(cache, slice(depth, None))


def upper_prefix_cache(model: Any, kv: KV, depth: int, batch: int) -> Any:
    """A cache holding ``kv`` (from :func:`upper_prefix_kv`) in the upper layers for every
    row of a batch (copied in)."""
    cache = adapter_for(model).new_cache()
    for layer, (keys, values) in zip(cache.layers[depth:], kv, strict=True):
        layer.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1))
    return cache
