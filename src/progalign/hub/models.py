"""The 36 published ProgressGym historical models (HistLlama3; docs/semantics.md#historical-models).

``PKU-Alignment/ProgressGym-HistLlama3-{8B,70B}-C0{13..21}-{pretrain,instruct}-v0.x``: the 8B
family is published as ``-v0.2`` and the 70B family as ``-v0.1`` (both kinds). The upstream
downloader used ids without the version suffix (presumably Hub rename redirects); we always use
the published ids, which huggingface_hub follows if renamed again.

Revisions are placeholders (``None``): the Hub is unreachable from the machines this kit was
written on, so the commits could not be looked up. Paper presets pass them explicitly; without
one (or ``allow_unpinned``) a fetch is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from progalign.errors import DownloadError
from progalign.hub.download import download_files, list_repo_files
from progalign.hub.transfer import RemoteFile

log = logging.getLogger(__name__)

ORG = "PKU-Alignment"
SIZES = ("8B", "70B")
KINDS = ("pretrain", "instruct")
CENTURIES = tuple(f"C{c:03d}" for c in range(13, 22))
#: Version suffix of the published repos, per model size.
VERSIONS = {"8B": "v0.2", "70B": "v0.1"}
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")
_TOKENIZER_EXTRA = (".model", ".txt", ".tiktoken")
_SKIP = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth")


@dataclass(frozen=True)
class PublishedModel:
    """One published HistLlama3 model and the commit we pin it to (None: unknown)."""

    size: str
    century: str
    kind: str
    repo_id: str
    revision: str | None = None

    @property
    def family(self) -> str:
        """Our family name, e.g. ``histllama3-8b-instruct``."""
        return model_family(self.size, self.kind)


def _normalise(size: str, century: str | int, kind: str) -> tuple[str, str, str]:
    size_n = str(size).strip().upper()
    cent = str(century).strip().upper()
    cent_n = f"C{int(cent):03d}" if cent.isdigit() else cent
    kind_n = str(kind).strip().lower()
    if size_n not in SIZES:
        raise DownloadError(f"size: {size!r} is not one of {SIZES}")
    if cent_n not in CENTURIES:
        raise DownloadError(f"century: {century!r} is not one of {CENTURIES[0]}…{CENTURIES[-1]}")
    if kind_n not in KINDS:
        raise DownloadError(f"kind: {kind!r} is not one of {KINDS}")
    return size_n, cent_n, kind_n


def published_model_id(size: str, century: str | int, kind: str) -> str:
    """Return the Hub id of a published model.

    Args:
        size: ``"8B"`` or ``"70B"``.
        century: ``"C013"`` … ``"C021"`` (or 13 … 21).
        kind: ``"pretrain"`` or ``"instruct"``.

    Example:
        >>> published_model_id("8B", "C017", "instruct")
        'PKU-Alignment/ProgressGym-HistLlama3-8B-C017-instruct-v0.2'
    """
    size_n, cent_n, kind_n = _normalise(size, century, kind)
    return f"{ORG}/ProgressGym-HistLlama3-{size_n}-{cent_n}-{kind_n}-{VERSIONS[size_n]}"


def model_family(size: str, kind: str) -> str:
    """Our family folder name for a size and kind, e.g. ``histllama3-70b-pretrain``."""
    size_n, _, kind_n = _normalise(size, CENTURIES[0], kind)
    return f"histllama3-{size_n.lower()}-{kind_n}"


#: All 36 published models, keyed by (size, century, kind); revisions are placeholders (None).
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
        revision: Full 40-hex commit (default: the table's, which is a None placeholder).
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
    rev = revision or entry.revision
    if rev is None and not allow_unpinned:
        raise DownloadError(
            f"{repo}: no pinned revision is known for this model (the table holds placeholders); "
            "pass revision= / --revision with a full 40-hex commit id"
        )
    ref, listing = list_repo_files(
        repo, "model", rev or "main", endpoint=endpoint, allow_unpinned=allow_unpinned, token=token
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
