"""Attention masks the engine builds itself, so that no library default decides what attends to
what. Each is additive: 0 where a query may see a key, the dtype's minimum elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def additive(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """0 where ``allowed``, ``dtype``'s minimum elsewhere (same shape)."""
    mask = torch.zeros(allowed.shape, dtype=dtype)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)


def causal(n: int, width: int | None = None) -> torch.Tensor:
    """1 × 1 × n × width: query i (of the last ``n`` of ``width`` positions) sees keys ``..i``."""
    width = n if width is None else width
    return additive(torch.ones((n, width), dtype=torch.bool).tril(diagonal=width - n))[None, None]


def continuations(context: int, lengths: Sequence[int]) -> torch.Tensor:
    """1 × 1 × t × (context + t) for continuations of ``lengths`` (t tokens in all) packed in
    one row after a context: each token sees the whole context and the earlier tokens of its
    own continuation."""
    total = sum(lengths)
    segment = torch.tensor([j for j, n in enumerate(lengths) for _ in range(n)])
    own = (segment[:, None] == segment[None, :]) & torch.ones(
        (total, total), dtype=torch.bool
    ).tril()
    allowed = torch.cat([torch.ones((total, context), dtype=torch.bool), own], dim=1)
    return additive(allowed)[None, None]


def packed(
    segments: Sequence[Sequence[int]],
    width: int,
    prefix: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """batch × 1 × width × (prefix + width) over ``prefix`` shared context tokens and
    ``width`` packed ones, rows right-padded: a token sees the shared prefix, earlier context
    tokens (segment 0) and earlier tokens of its own continuation (segment j + 1); padding
    (segment -1) sees only the prefix and itself."""
    seg = torch.full((len(segments), width), -1, dtype=torch.long)
    for i, row in enumerate(segments):
        seg[i, : len(row)] = torch.tensor(row)
    index = torch.arange(width)
    causal_ = index[None, :, None] >= index[None, None, :]
    visible = (seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None])
    allowed = causal_ & visible & (seg[:, None, :] >= 0)
    allowed |= torch.eye(width, dtype=torch.bool)[None]
    allowed = torch.cat(
        [torch.ones((len(segments), width, prefix), dtype=torch.bool), allowed], dim=2
    )
    return additive(allowed, dtype)[:, None].to(device)


def left_padded(real: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """batch × 1 × width × width, causal over a left-padded batch whose real tokens are
    ``real`` (batch × width, boolean); padding sees only itself (and is never read)."""
    width = real.shape[1]
    index = torch.arange(width)
    allowed = (index[None, :, None] >= index[None, None, :]) & real[:, None, :]
    allowed |= torch.eye(width, dtype=torch.bool)[None]
    return additive(allowed, dtype)[:, None]
