"""Split a decoder-only model into shared lower layers and per-model upper layers.

In a family where only the top k layers were trained (``train-hislm --top-k-layers``), the
embeddings and the lower layers are identical in every model, so their activations on a text are
too. ``lower_hidden`` computes them once; ``upper_hidden`` finishes the forward pass of any model
of the family from there (docs/semantics.md#shared-lower-layers). Tests check equality with a
plain full forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def _layers(model: Any) -> Any:
    layers = getattr(model.base_model, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no decoder layer list")
    return layers


def shared_depth(models: Sequence[Any]) -> int:
    """Number of bottom decoder layers (with the embeddings) equal in all ``models``.

    Returns 0 when the embeddings differ or the architectures do not match.
    """
    first = models[0]
    first_layers = _layers(first)
    embed = first.get_input_embeddings().weight
    for other in models[1:]:
        if len(_layers(other)) != len(first_layers) or type(other) is not type(first):
            return 0
        if not torch.equal(other.get_input_embeddings().weight, embed):
            return 0
    depth = 0
    for i, layer in enumerate(first_layers):
        params = list(layer.parameters())
        if any(
            not all(torch.equal(a, b) for a, b in zip(params, _layers(m)[i].parameters(),
                                                      strict=True))
            for m in models[1:]
        ):
            break
        depth = i + 1
    return depth


def _mask_and_positions(model: Any, hidden: torch.Tensor,
                        start: int = 0) -> tuple[Any, torch.Tensor, Any]:
    from transformers.masking_utils import create_causal_mask

    base = model.base_model
    positions = torch.arange(start, start + hidden.shape[1], device=hidden.device).unsqueeze(0)
    mask = create_causal_mask(
        config=base.config, inputs_embeds=hidden, attention_mask=None, cache=None,
        position_ids=positions,
    )
    rotary = base.rotary_emb(hidden, position_ids=positions)
    return mask, positions, rotary


def run_upper(model: Any, hidden: torch.Tensor, depth: int, mask: Any,
              positions: torch.Tensor, cache: Any = None) -> torch.Tensor:
    """Layers ``depth..`` and the final norm on ``hidden`` under ``mask`` (no grad mode set).

    With ``cache`` (a ``DynamicCache`` whose upper layers may hold earlier keys and values,
    which ``mask`` then covers first), the new keys and values are appended to it.
    """
    base = model.base_model
    rotary = base.rotary_emb(hidden, position_ids=positions)
    extra = {} if cache is None else {"cache": cache, "use_cache": True}
    for layer in _layers(model)[depth:]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary,
                       position_ids=positions, **extra)
    return base.norm(hidden)


@torch.inference_mode()
def lower_hidden(model: Any, ids: torch.Tensor, depth: int) -> torch.Tensor:
    """Hidden states after the embeddings and the first ``depth`` layers (unpadded batch)."""
    hidden = model.get_input_embeddings()(ids)
    mask, positions, rotary = _mask_and_positions(model, hidden)
    for layer in _layers(model)[:depth]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary,
                       position_ids=positions)
    return hidden


@torch.no_grad()
def lower_row(model: Any, tokens: Sequence[int], depth: int, device: torch.device,
              start: int = 0) -> torch.Tensor:
    """``lower_hidden`` of one unpadded row whose first token sits at position ``start``
    (length × hidden; a plain tensor, usable in training).

    Rows are computed one at a time on purpose: the bits then depend on the tokens alone, not
    on which rows happened to share a padded batch, so cached values (shared by every job of
    a run) never make a result depend on the order the jobs ran in.
    """
    hidden = model.get_input_embeddings()(torch.tensor([list(tokens)], device=device))
    mask, positions, rotary = _mask_and_positions(model, hidden, start)
    for layer in _layers(model)[:depth]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary,
                       position_ids=positions)
    return hidden[0].clone()


@torch.inference_mode()
def upper_hidden(model: Any, hidden: torch.Tensor, depth: int) -> torch.Tensor:
    """Finish the forward pass from layer ``depth``: final normalised hidden states."""
    mask, positions, _ = _mask_and_positions(model, hidden)
    return run_upper(model, hidden, depth, mask, positions)


def _pass_with_cache(model: Any, tokens: Sequence[int], positions: Sequence[int],
                     mask: torch.Tensor, depth: int, cache: Any,
                     device: torch.device) -> torch.Tensor:
    """Embeddings and layers ``..depth`` on one row, with explicit positions and additive mask
    (no library default decides what attends to what)."""
    hidden = model.get_input_embeddings()(torch.tensor([list(tokens)], device=device))
    pos = torch.tensor([list(positions)], device=device)
    rotary = model.base_model.rotary_emb(hidden, position_ids=pos)
    mask = mask.to(device=device, dtype=hidden.dtype)
    for layer in _layers(model)[:depth]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary,
                       position_ids=pos, cache=cache, use_cache=True)
    return hidden[0]


def _additive(allowed: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(allowed.shape, dtype=torch.float32)
    return mask.masked_fill_(~allowed, torch.finfo(torch.float32).min)[None, None]


@torch.no_grad()
def lower_packed(model: Any, context: Sequence[int], continuations: Sequence[Sequence[int]],
                 depth: int, device: torch.device) -> torch.Tensor:
    """Lower activations of a context followed by each of its continuations, packed
    (``len(context) + sum(len(c))`` × hidden): what ``context + c`` gives at each ``c``.

    Two passes: the context alone (its keys and values kept), then all continuations in one
    row on top of it, each seeing the context and its own earlier tokens at the positions it
    would have alone. The weights are read twice instead of once per option, and the context
    is encoded once. The result depends on the context and the ordered continuations only;
    it equals :func:`lower_row` of each joined sequence up to float rounding (tested).
    """
    from transformers import DynamicCache

    n = len(context)
    cache = DynamicCache(config=model.config)
    causal = torch.ones((n, n), dtype=torch.bool).tril()
    head = _pass_with_cache(model, context, range(n), _additive(causal), depth, cache, device)
    tokens = [t for c in continuations for t in c]
    if not tokens:
        return head.clone()
    positions = [n + i for c in continuations for i in range(len(c))]
    segment = torch.tensor([j for j, c in enumerate(continuations) for _ in c])
    own = (segment[:, None] == segment[None, :]) & torch.ones(
        (len(tokens), len(tokens)), dtype=torch.bool).tril()
    allowed = torch.cat([torch.ones((len(tokens), n), dtype=torch.bool), own], dim=1)
    kv = [(layer.keys, layer.values) for layer in cache.layers[:depth]]  # type: ignore[union-attr]
    rest = DynamicCache(ddp_cache_data=kv, config=model.config)  # concatenates into new tensors
    tail = _pass_with_cache(model, tokens, positions, _additive(allowed), depth, rest, device)
    return torch.cat([head, tail])
