"""The 36 published ProgressGym historical models (HistLlama3; docs/semantics.md#historical-models).

``PKU-Alignment/ProgressGym-HistLlama3-{8B,70B}-C0{13..21}-{pretrain,instruct}-v0.x``: the 8B
family is published as ``-v0.2`` and the 70B family as ``-v0.1`` (both kinds). The upstream
downloader used ids without the version suffix (presumably Hub rename redirects); we always use
the published ids, which huggingface_hub follows if renamed again.

The ids are defined in :mod:`progalign.hublock`; the revisions live in the Hub revision lock
(``progalign hub pin``, docs/hub.md), not here: a fetch is given its commit, and without one
(or ``allow_unpinned``) it is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from progalign.errors import DownloadError
from progalign.hub.download import download_files, list_repo_files
from progalign.hub.transfer import RemoteFile
from progalign.hublock import (
    CENTURIES,
    KINDS,
    ORG,
    SIZES,
    VERSIONS,
    published_model_id,
)
from progalign.hublock import normalise_model as _normalise

__all__ = [
    "CENTURIES",
    "KINDS",
    "ORG",
    "PUBLISHED_MODELS",
    "SIZES",
    "VERSIONS",
    "PublishedModel",
    "fetch_published_model",
    "model_family",
    "published_model_id",
    "select_model_files",
]

log = logging.getLogger(__name__)
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")
_TOKENIZER_EXTRA = (".model", ".txt", ".tiktoken")
_SKIP = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth")


@dataclass(frozen=True)
class PublishedModel:
    """One published HistLlama3 model (its pinned commit is in the Hub revision lock)."""

    size: str
    century: str
    kind: str
    repo_id: str

    @property
    def family(self) -> str:
        """Our family name, e.g. ``histllama3-8b-instruct``."""
        return model_family(self.size, self.kind)


def model_family(size: str, kind: str) -> str:
    """Our family folder name for a size and kind, e.g. ``histllama3-70b-pretrain``."""
    size_n, _, kind_n = _normalise(size, CENTURIES[0], kind)
    return f"histllama3-{size_n.lower()}-{kind_n}"


#: All 36 published models, keyed by (size, century, kind).
PUBLISHED_MODELS: dict[tuple[str, str, str], PublishedModel] = {
    (s, c, k): PublishedModel(s, c, k, published_model_id(s, c, k))
    for s in SIZES
    for k in KINDS
    for c in CENTURIES
}


def select_model_files(files: list[RemoteFile]) -> list[RemoteFile]:
    """Keep what ``from_pretrained`` needs from a model repo's top level.

    Configs and tokenizer files, the card, and one weight format: safetensors when the repo has
    them (else PyTorch ``.bin``). Sub-folders (checkpoints, ``original/``) and training state are
    left out.
    """
    top = [f for f in files if "/" not in f.path and f.path not in _SKIP]
    has_st = any(f.path.endswith(".safetensors") for f in top)
    weight_ext = ".safetensors" if has_st else ".bin"
    keep = []
    for f in top:
        name = f.path
        if name.endswith(_WEIGHTS):
            if name.endswith(weight_ext):
                keep.append(f)
        elif name.endswith((".json", ".md", *_TOKENIZER_EXTRA)) or name.startswith("LICENSE"):
            keep.append(f)
    return keep


def fetch_published_model(
    size: str,
    century: str | int,
    kind: str,
    out_root: str | os.PathLike[str],
    revision: str | None = None,
    *,
    endpoint: str | None = None,
    allow_unpinned: bool = False,
    repo_id: str | None = None,
    token: str | bool | None = None,
    progress: bool = True,
) -> Path:
    """Fetch a published HistLlama3 model into ``out_root/<family>/<century>/``, verified.

    Args:
        size: ``"8B"`` or ``"70B"``.
        century: ``"C013"`` … ``"C021"``.
        kind: ``"pretrain"`` or ``"instruct"``.
        out_root: Root of the model tree (``resources/models``).
        revision: Full 40-hex commit (``progalign hub fetch-model`` takes it from the lock).
        endpoint: Hub base URL (default: ``$HF_ENDPOINT`` or huggingface.co).
        allow_unpinned: Accept a branch/tag and record the commit it resolves to.
        repo_id: Override the repo id (a mirror or a fork).
        token: Hub token (``None``: the saved one, ``False``: none).
        progress: Show progress bars.

    Returns:
        The model folder (HF format, with a ``progalign-download.json`` manifest).

    Raises:
        DownloadError: no pinned revision, unknown repo/revision, unreachable Hub, a repo without
            ``config.json`` or weights, or a file failing verification.
    """
    size_n, cent_n, kind_n = _normalise(size, century, kind)
    entry = PUBLISHED_MODELS[(size_n, cent_n, kind_n)]
    repo = repo_id or entry.repo_id
    if revision is None and not allow_unpinned:
        raise DownloadError(
            f"{repo}: no pinned revision is known for this model; pass revision= / --revision "
            "with a full 40-hex commit id (progalign hub pin records them in the lock)"
        )
    ref, listing = list_repo_files(
        repo,
        "model",
        revision or "main",
        endpoint=endpoint,
        allow_unpinned=allow_unpinned,
        token=token,
    )
    files = select_model_files(listing)
    names = {f.path for f in files}
    if "config.json" not in names or not any(
        f.path.endswith((".safetensors", ".bin")) for f in files
    ):
        raise DownloadError(
            f"{ref.uri()}: not a transformers model repo (config.json or weights missing); "
            f"files: {sorted(f.path for f in listing)[:20]}"
        )
    out_dir = Path(out_root) / entry.family / cent_n
    log.info(
        "%s -> %s (%d files, %.1f GB)",
        ref.uri(),
        out_dir,
        len(files),
        sum(f.size for f in files) / 1e9,
    )
    return download_files(ref, files, out_dir, token=token, progress=progress)
