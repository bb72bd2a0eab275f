"""Frozen lower layers of RLOO's prompts, encoded once with their keys and values
(docs/semantics.md#shared-lower-layers).

RLOO samples fresh completions of the same few prompts at every step. With only the top layers
training, the lower layers' keys, values and outputs on a prompt never change, so they are
computed once per prompt (:func:`encode_prompt`) and reused three ways:

* generation: inside :func:`prefilled_generate`, ``generate`` gets a cache whose lower layers
  come from the prompt states and whose upper layers are run on the stored activations, so
  only the last prompt token and the new tokens go through the whole model;
* the memo's rows (policy, reference and reward model log-probabilities): a row that starts
  with a known prompt computes only its remaining tokens, on top of the prompt's keys and
  values (:func:`extend`);
* the same prompt at another start position (left padding): RoPE keys are rotated by the
  offset (the adapter's ``shift_keys``), which is exact in real arithmetic and equal to a plain
  forward up to float rounding (tested).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

import progalign.lowerlayers.masks as masks
from progalign.lowerlayers.adapters import adapter_for
from progalign.lowerlayers.layers import lower_pass, run_upper
from progalign.lowerlayers.patches import patched


@dataclass
class PromptState:
    """A prompt's lower-layer outputs (length × hidden) and per-layer keys and values
    (``1 × kv_heads × length × head_dim``), at positions ``0 .. length - 1``."""

    hidden: torch.Tensor
    kv: list[tuple[torch.Tensor, torch.Tensor]]

    def nbytes(self) -> int:
        """Memory held by the state."""
        size = sum(t.numel() * t.element_size() for kv in self.kv for t in kv)
        return size + self.hidden.numel() * self.hidden.element_size()


@torch.no_grad()
def encode_prompt(model: Any, tokens: list[int], depth: int, device: torch.device) -> PromptState:
    """The lower ``depth`` layers on ``tokens`` alone, keeping their keys and values."""
    adapter = adapter_for(model)
    n = len(tokens)
    cache = adapter.new_cache()
    hidden = lower_pass(model, tokens, range(n), masks.causal(n), depth, cache, device)
    return PromptState(hidden.clone(), adapter.cache_kv(cache, slice(None, depth)))


@torch.no_grad()
def extend(
    model: Any, state: PromptState, rest: list[int], start: int, depth: int, device: torch.device
) -> torch.Tensor:
    """Lower activations of ``prompt + rest`` placed at position ``start`` (one row,
    length × hidden): the prompt's from ``state``, the rest computed on its keys and values."""
    adapter = adapter_for(model)
    n = state.hidden.shape[0]
    if not rest:
        return state.hidden
    cache = adapter.new_cache(adapter.shift_keys(state.kv, start))
    positions = range(start + n, start + n + len(rest))
    tail = lower_pass(
        model, rest, positions, masks.causal(len(rest), n + len(rest)), depth, cache, device
    )
    return torch.cat([state.hidden, tail])


def _prefilled_cache(
    model: Any, states: list[PromptState], width: int, depth: int, device: torch.device
) -> Any:
    """A cache over the first ``width`` columns of a left-padded batch: row i holds
    ``states[i]`` without its last token, right-aligned. Lower layers are copied from the
    states; upper layers run on the stored activations under the padding mask."""
    hidden_size = states[0].hidden.shape[-1]
    dtype = states[0].hidden.dtype
    batch = len(states)
    hidden = torch.zeros((batch, width, hidden_size), dtype=dtype)
    real = torch.zeros((batch, width), dtype=torch.bool)
    positions = torch.zeros((batch, width), dtype=torch.long)
    cache = adapter_for(model).new_cache()
    for layer in range(depth):
        k0, v0 = states[0].kv[layer]
        keys = k0.new_zeros((batch, k0.shape[1], width, k0.shape[-1]))
        values = v0.new_zeros((batch, v0.shape[1], width, v0.shape[-1]))
        for row, state in enumerate(states):
            n = state.hidden.shape[0] - 1
            keys[row, :, width - n :] = state.kv[layer][0][0, :, :n]
            values[row, :, width - n :] = state.kv[layer][1][0, :, :n]
        cache.layers[layer].update(keys, values)
    for row, state in enumerate(states):
        n = state.hidden.shape[0] - 1
        hidden[row, width - n :] = state.hidden[:n]
        real[row, width - n :] = True
        positions[row, width - n :] = torch.arange(n)
    run_upper(
        model,
        hidden.to(device),
        depth,
        masks.left_padded(real, dtype).to(device),
        positions.to(device),
        cache=cache,
    )
    return cache


@contextmanager
def prefilled_generate(model: Any, memo: Any) -> Iterator[None]:
    """Inside the block, ``model.generate`` starts from prompt states kept in ``memo.prompts``
    (a :class:`~progalign.lowerlayers.memo.LowerMemo`).

    Applies to a left-padded ``input_ids`` + ``attention_mask`` call without a cache of its
    own and one sequence per row; any other call goes to the original ``generate``.

    Raises:
        SettingError: the model's architecture has no adapter.
    """
    adapter_for(model)
    original = model.generate
    depth = memo.depth

    def generate(*args: Any, **kwargs: Any) -> Any:
        ids: torch.Tensor | None = kwargs.get("input_ids")
        mask: torch.Tensor | None = kwargs.get("attention_mask")
        config = kwargs.get("generation_config")
        if (
            not args
            and ids is not None
            and mask is not None
            and ids.shape[1] >= 2
            and set(kwargs) <= {"input_ids", "attention_mask", "generation_config"}
            and getattr(config, "num_return_sequences", 1) in (None, 1)
        ):
            rows = _left_padded(ids, mask)
            if rows is not None:
                states = [memo.prompt_state(model, tokens, ids.device) for tokens in rows]
                cache = _prefilled_cache(model, states, ids.shape[1] - 1, depth, ids.device)
                memo.stats["prefilled"] = memo.stats.get("prefilled", 0) + len(rows)
                return original(**kwargs, cache=cache)
        memo.stats["bypassed"] += 1
        return original(*args, **kwargs)

    with patched(model, "generate", generate):
        yield


def _left_padded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]] | None:
    """Each row's real tokens if every row is left-padded (real tokens end the row), else None."""
    rows = []
    width = ids.shape[1]
    for row, m in zip(ids, mask, strict=True):
        n = int(m.sum())
        if n < 1 or not bool(m[width - n :].all()):
            return None
        rows.append(row[width - n :].tolist())
    return rows
