"""Fingerprints of lower layers, the store-key format and the on-disk activation store.

Store keys are tuples of ints, hashed (sha256 of the comma-joined decimals) into file names, and
the one format for every kind of row:

* ``(*tokens)``: a row computed in one piece, its first token at position 0
  (the training memo's right-padded rows);
* ``(-1 - start, *tokens)``: the same row with its first token at position ``start`` > 0
  (a left-padded row of the training memo);
* ``(*context, SPLIT, *continuation_1, SPLIT, *continuation_2, ...)``: a context and its
  continuations packed in one row, computed context-first (the evaluation's rows).

Token ids are never negative and a packed row's context is never empty, so the three never
share a key. A store lives in a folder named by the :func:`fingerprint` of the lower weights:
a model whose lower layers differ reads another folder (a cold cache, never a wrong one).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from progalign.errors import SettingError
from progalign.lowerlayers.adapters import adapter_for

log = logging.getLogger(__name__)

#: Separates context and continuations in the keys of packed rows.
SPLIT = -2


def row_key(tokens: Sequence[int], start: int = 0) -> tuple[int, ...]:
    """Key of a row of ``tokens`` whose first token sits at position ``start``."""
    return (-1 - start, *tokens) if start else tuple(tokens)


def parse_row_key(key: tuple[int, ...]) -> tuple[int, list[int]]:
    """``(start, tokens)`` of a :func:`row_key`."""
    if key and key[0] < 0:
        return -1 - key[0], list(key[1:])
    return 0, list(key)


def packed_key(context: Sequence[int], continuations: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Key of a context and its continuations packed in one row."""
    key = list(context)
    for cont in continuations:
        key += [SPLIT, *cont]
    return tuple(key)


def fingerprint(model: Any, depth: int) -> str:
    """sha256 over the embeddings and the first ``depth`` decoder layers' parameters.

    Raises:
        SettingError: ``depth`` is not between 1 and the number of layers - 1, or the
            architecture has no adapter.
    """
    adapter = adapter_for(model)
    n_layers = len(adapter.layers)
    if not 0 < depth < n_layers:
        raise SettingError(
            f"lower_cache_layers={depth}, but the model has {n_layers} layers "
            f"(use 1..{n_layers - 1}, or null)"
        )
    # The backbone class, not the head: a reward model (sequence classifier) made from a
    # causal LM has the same lower layers and shares its activations.
    digest = hashlib.sha256(f"{adapter.backbone}:{depth}".encode())
    for t in adapter.lower_tensors(depth):  # hashed in place, without a copy of ~500 MB
        raw = t.detach().to("cpu").contiguous().view(torch.uint8).numpy()
        digest.update(raw.data)
    return digest.hexdigest()[:32]


class LowerStore:
    """Lower-layer activations on disk: one safetensors file per store key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: Sequence[int]) -> Path:
        """The file of ``key``."""
        digest = hashlib.sha256(",".join(map(str, key)).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.safetensors"

    def get(self, key: Sequence[int]) -> torch.Tensor | None:
        """The stored activations (length × hidden), or None."""
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.exists():
            return None
        try:
            return load_file(str(path))["h"]
        except Exception:  # a damaged entry is recomputed, never used
            log.warning("unreadable cache entry %s; recomputing", path)
            return None

    def put(self, key: Sequence[int], hidden: torch.Tensor) -> None:
        """Store activations atomically; concurrent writers of one entry (two jobs filling a
        cold store) each write their own temporary file, and the last rename wins."""
        from safetensors.torch import save

        from progalign.io import atomic_open

        with atomic_open(self.path(key), "wb") as handle:
            handle.write(save({"h": hidden.contiguous()}))


def store_for(model: Any, depth: int) -> LowerStore:
    """The run-wide store of ``model``'s bottom ``depth`` layers (in the progalign cache)."""
    return store_of(fingerprint(model, depth))


def store_of(fingerprint: str) -> LowerStore:
    """The run-wide store of the lower layers with this :func:`fingerprint` (hashing a model's
    lower weights takes about a second on the CPU: callers that have it pass it here)."""
    from progalign.io import cache_dir

    return LowerStore(cache_dir() / "lower-activations" / fingerprint)
