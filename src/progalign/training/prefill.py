"""Frozen lower layers of RLOO's prompts, encoded once with their keys and values
(docs/semantics.md#shared-lower-layers).

RLOO samples fresh completions of the same few prompts at every step. With only the top layers
training, the lower layers' keys, values and outputs on a prompt never change, so they are
computed once per prompt (:func:`encode_prompt`) and reused three ways:

* generation: :func:`install_prefill` hands ``generate`` a cache whose lower layers come from
  the prompt states and whose upper layers are run on the stored activations, so only the
  last prompt token and the new tokens go through the whole model;
* the memo's rows (policy, reference and reward model log-probabilities): a row that starts
  with a known prompt computes only its remaining tokens, on top of the prompt's keys and
  values (:func:`extend`);
* the same prompt at another start position (left padding): RoPE keys are rotated by the
  offset, which is exact in real arithmetic (rotations compose) and equal to a plain forward up
  to float rounding (tested).

Only Llama-style rotary attention is handled; other models keep the plain paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from progalign.backends.split import _additive, _pass_with_cache, run_upper


@dataclass
class PromptState:
    """A prompt's lower-layer outputs (length × hidden) and per-layer keys and values
    (``1 × kv_heads × length × head_dim``), at positions ``0 .. length - 1``."""

    hidden: torch.Tensor
    kv: list[tuple[torch.Tensor, torch.Tensor]]


def supported(model: Any) -> bool:
    """True for models whose attention this module reproduces (Llama-style rotary)."""
    return getattr(model.config, "model_type", None) == "llama"


def _causal(n: int, width: int) -> torch.Tensor:
    """Additive mask: query i (of the last ``n`` of ``width`` positions) sees keys ``..i``."""
    return _additive(torch.ones((n, width), dtype=torch.bool).tril(diagonal=width - n))


@torch.no_grad()
def encode_prompt(model: Any, tokens: list[int], depth: int,
                  device: torch.device) -> PromptState:
    """The lower ``depth`` layers on ``tokens`` alone, keeping their keys and values."""
    from transformers import DynamicCache

    n = len(tokens)
    cache = DynamicCache(config=model.config)
    hidden = _pass_with_cache(model, tokens, range(n), _causal(n, n), depth, cache, device)
    kv = [(layer.keys, layer.values) for layer in cache.layers[:depth]]  # type: ignore[union-attr]
    return PromptState(hidden.clone(), kv)  # type: ignore[arg-type]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _shifted(model: Any, state: PromptState,
             offset: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The prompt's keys as if it started at position ``offset`` (values do not move)."""
    if offset == 0:
        return state.kv
    keys = state.kv[0][0]
    probe = torch.zeros((1, 1, keys.shape[-1]), dtype=keys.dtype, device=keys.device)
    cos, sin = model.base_model.rotary_emb(probe, position_ids=torch.tensor([[offset]],
                                                                             device=keys.device))
    cos, sin = cos[:, None], sin[:, None]  # broadcast over heads and positions
    return [(k * cos + _rotate_half(k) * sin, v) for k, v in state.kv]


@torch.no_grad()
def extend(model: Any, state: PromptState, rest: list[int], start: int, depth: int,
           device: torch.device) -> torch.Tensor:
    """Lower activations of ``prompt + rest`` placed at position ``start`` (one row,
    length × hidden): the prompt's from ``state``, the rest computed on its keys and values."""
    from transformers import DynamicCache

    n = state.hidden.shape[0]
    if not rest:
        return state.hidden
    cache = DynamicCache(ddp_cache_data=_shifted(model, state, start), config=model.config)
    positions = range(start + n, start + n + len(rest))
    tail = _pass_with_cache(model, rest, positions, _causal(len(rest), n + len(rest)), depth,
                            cache, device)
    return torch.cat([state.hidden, tail])


def _prefilled_cache(model: Any, states: list[PromptState], width: int, depth: int,
                     device: torch.device) -> Any:
    """A cache over the first ``width`` columns of a left-padded batch: row i holds
    ``states[i]`` without its last token, right-aligned. Lower layers are copied from the
    states; upper layers run on the stored activations under the padding mask."""
    from transformers import DynamicCache

    hidden_size = states[0].hidden.shape[-1]
    dtype = states[0].hidden.dtype
    batch = len(states)
    hidden = torch.zeros((batch, width, hidden_size), dtype=dtype)
    real = torch.zeros((batch, width), dtype=torch.bool)
    positions = torch.zeros((batch, width), dtype=torch.long)
    cache = DynamicCache(config=model.config)
    for layer in range(depth):
        k0, v0 = states[0].kv[layer]
        keys = k0.new_zeros((batch, k0.shape[1], width, k0.shape[-1]))
        values = v0.new_zeros((batch, v0.shape[1], width, v0.shape[-1]))
        for row, state in enumerate(states):
            n = state.hidden.shape[0] - 1
            keys[row, :, width - n:] = state.kv[layer][0][0, :, :n]
            values[row, :, width - n:] = state.kv[layer][1][0, :, :n]
        cache.layers[layer].update(keys, values)  # type: ignore[union-attr]
    for row, state in enumerate(states):
        n = state.hidden.shape[0] - 1
        hidden[row, width - n:] = state.hidden[:n]
        real[row, width - n:] = True
        positions[row, width - n:] = torch.arange(n)
    index = torch.arange(width)
    allowed = (index[None, :, None] >= index[None, None, :]) & real[:, None, :]
    allowed |= torch.eye(width, dtype=torch.bool)[None]  # padding sees itself (never read)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed,
                                                                torch.finfo(dtype).min)
    run_upper(model, hidden.to(device), depth, mask[:, None].to(device), positions.to(device),
              cache=cache)
    return cache


def install_prefill(model: Any, memo: Any) -> Callable[[], None]:
    """Make ``model.generate`` start from prompt states kept in ``memo.prompts``.

    Applies to a left-padded ``input_ids`` + ``attention_mask`` call without a cache of its
    own and one sequence per row; any other call goes to the original ``generate``.
    Returns the undo function.
    """
    original = model.generate
    depth = memo.depth

    def generate(*args: Any, **kwargs: Any) -> Any:
        ids: torch.Tensor | None = kwargs.get("input_ids")
        mask: torch.Tensor | None = kwargs.get("attention_mask")
        config = kwargs.get("generation_config")
        if (not args and ids is not None and mask is not None and ids.shape[1] >= 2
                and set(kwargs) <= {"input_ids", "attention_mask", "generation_config"}
                and getattr(config, "num_return_sequences", 1) in (None, 1)):
            rows = _left_padded(ids, mask)
            if rows is not None:
                states = [memo.prompt_state(model, tokens, ids.device) for tokens in rows]
                cache = _prefilled_cache(model, states, ids.shape[1] - 1, depth, ids.device)
                memo.stats["prefilled"] = memo.stats.get("prefilled", 0) + len(rows)
                return original(**kwargs, cache=cache)
        memo.stats["bypassed"] += 1
        return original(*args, **kwargs)

    model.generate = generate

    def undo() -> None:
        if model.__dict__.get("generate") is generate:
            del model.generate

    return undo


def _left_padded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]] | None:
    """Each row's real tokens if every row is left-padded (real tokens end the row), else None."""
    rows = []
    width = ids.shape[1]
    for row, m in zip(ids, mask, strict=True):
        n = int(m.sum())
        if n < 1 or not bool(m[width - n:].all()):
            return None
        rows.append(row[width - n:].tolist())
    return rows
