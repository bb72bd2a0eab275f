"""Log-likelihoods from cached lower-layer activations (DESIGN §8).

In the embedded family every model — historical, examinee, simulated human — is the base with
only its top k layers trained, so the embeddings and lower layers, and their activations on
the questionnaire, are the same in all of them. This scorer stores those activations on disk,
keyed by a fingerprint of the lower weights and the token ids, and runs only the upper layers
per model. A model whose lower layers differ gets another fingerprint (a cold cache, never a
wrong one). Sequences are right-padded: with causal attention, padding after a token cannot
change it, so results equal an unpadded full forward up to float rounding (tested).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from progalign.backends.base import ContinuationScore
from progalign.backends.kv import upcast
from progalign.backends.split import _layers, lower_hidden, upper_hidden
from progalign.backends.tokens import Tokenized
from progalign.errors import SettingError
from progalign.io import atomic_open

log = logging.getLogger(__name__)


def lower_fingerprint(model: Any, depth: int) -> str:
    """sha256 over the embeddings and the first ``depth`` decoder layers' parameters."""
    layers = _layers(model)
    if not 0 < depth < len(layers):
        raise SettingError(f"lower_cache_layers={depth}, but the model has {len(layers)} layers "
                           f"(use 1..{len(layers) - 1}, or null)")
    digest = hashlib.sha256(f"{type(model).__name__}:{depth}".encode())
    tensors = [model.get_input_embeddings().weight,
               *(p for layer in layers[:depth] for p in layer.parameters())]
    for t in tensors:
        digest.update(t.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


class LowerStore:
    """Lower-layer activations on disk: one safetensors file per token sequence."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ids: Sequence[int]) -> Path:
        key = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, ids: Sequence[int]) -> torch.Tensor | None:
        """The stored activations (length × hidden), or None."""
        path = self._path(ids)
        if not path.exists():
            return None
        try:
            return load_file(str(path))["h"]
        except Exception:  # a damaged entry is recomputed, never used
            log.warning("unreadable cache entry %s; recomputing", path)
            return None

    def put(self, ids: Sequence[int], hidden: torch.Tensor) -> None:
        """Store activations atomically."""
        path = self._path(ids)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        save_file({"h": hidden.contiguous()}, str(tmp))
        with open(tmp, "rb") as src, atomic_open(path, "wb") as dst:
            dst.write(src.read())
        tmp.unlink()


def _right_pad(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    width = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros((len(rows), width, rows[0].shape[-1]))
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


@torch.inference_mode()
def loglikelihood_lower_cached(
    model: Any, tokenized: Sequence[Tokenized], depth: int, store: LowerStore,
    device: torch.device, batch_size: int, progress: bool = False,
) -> list[list[ContinuationScore]]:
    """Score every continuation from cached lower activations and the model's upper layers."""
    seqs = [(i, j, tok.context + cont, len(tok.context), len(cont))
            for i, tok in enumerate(tokenized) for j, cont in enumerate(tok.continuations)]
    seqs.sort(key=lambda s: len(s[2]))
    results: list[list[ContinuationScore]] = [
        [ContinuationScore(0.0, 0)] * len(t.continuations) for t in tokenized]
    hits = 0
    bar = tqdm(total=len(seqs), desc="scoring (cached lower layers)", unit="seq",
               disable=not progress)
    for start in range(0, len(seqs), batch_size):
        batch = seqs[start : start + batch_size]
        lowers: list[torch.Tensor | None] = [store.get(s[2]) for s in batch]
        hits += sum(h is not None for h in lowers)
        missing = [k for k, h in enumerate(lowers) if h is None]
        if missing:
            width = max(len(batch[k][2]) for k in missing)
            ids = torch.zeros((len(missing), width), dtype=torch.long, device=device)
            for row, k in enumerate(missing):
                ids[row, : len(batch[k][2])] = torch.tensor(batch[k][2])
            computed = lower_hidden(model, ids, depth)
            for row, k in enumerate(missing):
                hidden = computed[row, : len(batch[k][2])].to("cpu")
                store.put(batch[k][2], hidden)
                lowers[k] = hidden
        ready = [h for h in lowers if h is not None]
        final = upper_hidden(model, _right_pad(ready).to(device), depth)
        head = model.get_output_embeddings()
        for row, (i, j, ids_list, ctx_len, n) in enumerate(batch):
            positions = slice(ctx_len - 1, ctx_len - 1 + n)
            logits = upcast(head(final[row, positions]))
            target = torch.tensor(ids_list[ctx_len:], device=device)
            picked = torch.log_softmax(logits, dim=-1).gather(1, target[:, None])
            results[i][j] = ContinuationScore(float(picked.sum()), n)
        bar.update(len(batch))
    bar.close()
    log.info("lower-layer cache: %d of %d sequences reused", hits, len(seqs))
    return results
