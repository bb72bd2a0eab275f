"""Pinned, verified, resumable and atomic downloads of Hugging Face Hub repositories.

A download is always tied to one full 40-hex commit: the file list and the hash of every file come
from ``HfApi.model_info``/``dataset_info(revision=commit, files_metadata=True)``; each file is
fetched into the raw cache (``$PROGALIGN_CACHE/hf/<type>s/<owner>--<name>/<commit>/``) by
:func:`progalign.hub.transfer.fetch_file` (resumable, checked against its LFS sha256 or git blob
sha1), and the output folder is assembled in a temporary sibling and moved into place only when
every file is verified, with a ``progalign-download.json`` manifest. A killed job leaves partial
files in the cache (resumed next time) and nothing that looks finished in the output.

The Hub endpoint is the ``endpoint`` argument, else ``$HF_ENDPOINT`` read at call time, else
``https://huggingface.co``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants
from huggingface_hub.utils import filter_repo_objects
from tqdm.auto import tqdm

from progalign._version import __version__
from progalign.download import cache_dir
from progalign.errors import DownloadError
from progalign.hub.transfer import RemoteFile, RepoRef, fetch_file, hub_errors
from progalign.hublock import REPO_TYPES as _REPO_TYPES
from progalign.hublock import is_commit
from progalign.io import atomic_dir, read_json, write_json

log = logging.getLogger(__name__)

MANIFEST = "progalign-download.json"


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The Hub base URL: ``endpoint``, else ``$HF_ENDPOINT``, else huggingface_hub's default."""
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    return chosen.rstrip("/")


def check_revision(repo_id: str, revision: str | None, allow_unpinned: bool = False) -> str:
    """Return ``revision`` if it pins a commit (or unpinned use is allowed).

    Raises:
        DownloadError: no revision, or a branch/tag/short hash without ``allow_unpinned``.
    """
    if not revision:
        raise DownloadError(
            f"{repo_id}: no revision given; pass a full 40-hex commit id (e.g. from the repo's "
            "'Files and versions' history) so the download is reproducible"
        )
    if not is_commit(revision) and not allow_unpinned:
        raise DownloadError(
            f"{repo_id}: revision {revision!r} is not a full 40-hex commit id; branch and tag "
            "names can move. Pin a commit, or pass allow_unpinned=True (--allow-unpinned) to "
            "resolve it now and record the commit it resolved to"
        )
    return revision


def repo_cache(ref: RepoRef) -> Path:
    """The raw cache folder of a pinned repository."""
    return cache_dir() / "hf" / f"{ref.repo_type}s" / ref.repo_id.replace("/", "--") / ref.revision


def list_repo_files(
    repo_id: str,
    repo_type: str,
    revision: str | None,
    *,
    endpoint: str | None = None,
    allow_unpinned: bool = False,
    token: str | bool | None = None,
) -> tuple[RepoRef, list[RemoteFile]]:
    """List a repository's files with their sizes and hashes at a pinned commit.

    Args:
        repo_id: ``owner/name``.
        repo_type: ``"model"`` or ``"dataset"``.
        revision: A full 40-hex commit (a branch or tag only with ``allow_unpinned``).
        endpoint: Hub base URL (see :func:`resolve_endpoint`).
        allow_unpinned: Resolve a branch/tag to its current commit instead of refusing it.
        token: Hub token (``None``: the saved one, ``False``: none).

    Returns:
        The repository pinned to the resolved commit, and its files sorted by path.

    Raises:
        DownloadError: unpinned revision, unknown repo or revision, unreachable Hub, or a listing
            without file metadata.
    """
    if repo_type not in _REPO_TYPES:
        raise DownloadError(f"{repo_id}: repo_type must be one of {_REPO_TYPES}, not {repo_type!r}")
    asked = check_revision(repo_id, revision, allow_unpinned)
    ref = RepoRef(repo_id, repo_type, asked, resolve_endpoint(endpoint))
    api = HfApi(endpoint=ref.endpoint, token=token)
    with hub_errors(ref, "listing files"):
        if repo_type == "model":
            info: Any = api.model_info(repo_id, revision=asked, files_metadata=True)
        else:
            info = api.dataset_info(repo_id, revision=asked, files_metadata=True)
    sha = getattr(info, "sha", None)
    if not isinstance(sha, str) or not is_commit(sha):
        raise DownloadError(f"{ref.uri()}: the Hub did not report the commit of this revision")
    if sha != asked:
        if is_commit(asked):
            raise DownloadError(f"{ref.uri()}: the Hub answered for commit {sha}; refusing")
        log.warning("%s: unpinned revision %r resolved to commit %s", repo_id, asked, sha)
        ref = RepoRef(repo_id, repo_type, sha, ref.endpoint)
    files = []
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        size = lfs.size if lfs is not None else sibling.size
        if size is None or (lfs is None and sibling.blob_id is None):
            raise DownloadError(f"{ref.uri(sibling.rfilename)}: the Hub listing has no size/hash")
        files.append(
            RemoteFile(
                sibling.rfilename,
                int(size),
                lfs.sha256 if lfs is not None else None,
                sibling.blob_id,
            )
        )
    return ref, sorted(files, key=lambda f: f.path)


def select_files(
    files: Sequence[RemoteFile],
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
) -> list[RemoteFile]:
    """Filter files by glob patterns (``fnmatch`` on the repo path, as ``snapshot_download``)."""
    return list(
        filter_repo_objects(
            files,
            allow_patterns=list(allow_patterns) if allow_patterns else None,
            ignore_patterns=list(ignore_patterns) if ignore_patterns else None,
            key=lambda f: f.path,
        )
    )


def _manifest(ref: RepoRef, files: Sequence[RemoteFile]) -> dict[str, Any]:
    return {
        "repo_id": ref.repo_id,
        "repo_type": ref.repo_type,
        "revision": ref.revision,
        "endpoint": ref.endpoint,
        "source": ref.uri(),
        "files": [
            {"path": f.path, "size": f.size, "lfs_sha256": f.sha256, "git_blob_sha1": f.blob_id}
            for f in files
        ],
        "total_bytes": sum(f.size for f in files),
        "progalign_version": __version__,
    }


def _is_complete(out_dir: Path, manifest: dict[str, Any]) -> bool:
    path = out_dir / MANIFEST
    if not path.is_file():
        return False
    try:
        old = read_json(path)
    except (OSError, ValueError):
        return False
    keys = ("repo_id", "repo_type", "revision", "files")
    return all(old.get(k) == manifest[k] for k in keys) and all(
        (out_dir / f["path"]).is_file() and (out_dir / f["path"]).stat().st_size == f["size"]
        for f in manifest["files"]
    )


def open_permissions(folder: Path) -> None:
    """Give a folder made by ``mkdtemp`` (mode 0700) the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def fetch_files(
    ref: RepoRef,
    files: Sequence[RemoteFile],
    *,
    token: str | bool | None = None,
    progress: bool = True,
) -> list[Path]:
    """Fetch and verify ``files`` into the raw cache; return their cached paths."""
    root = repo_cache(ref)
    paths = []
    for remote in tqdm(
        files,
        desc=ref.repo_id.split("/")[-1][:30],
        unit="file",
        disable=not progress or len(files) < 2,
    ):
        paths.append(fetch_file(ref, remote, root, token=token, progress=progress))
    return paths


def download_files(
    ref: RepoRef,
    files: Sequence[RemoteFile],
    out_dir: str | os.PathLike[str],
    *,
    token: str | bool | None = None,
    progress: bool = True,
) -> Path:
    """Fetch ``files`` of a pinned repo and assemble them atomically under ``out_dir``.

    ``out_dir`` is replaced as a whole, and only once every file is verified; if it already
    holds exactly these files at this commit (per its manifest), nothing is fetched.
    """
    target = Path(out_dir)
    manifest = _manifest(ref, files)
    if _is_complete(target, manifest):
        log.info("%s: already complete (%s)", target, ref.uri())
        return target
    cached = fetch_files(ref, files, token=token, progress=progress)
    with atomic_dir(target) as tmp:
        open_permissions(tmp)
        for remote, src in zip(files, cached, strict=True):
            _link_or_copy(src, tmp / remote.path)
        write_json(tmp / MANIFEST, manifest)
    log.info(
        "%s: %d files, %d bytes from %s", target, len(files), manifest["total_bytes"], ref.uri()
    )
    return target


def download_repo_files(
    repo_id: str,
    repo_type: str,
    revision: str | None,
    out_dir: str | os.PathLike[str],
    allow_patterns: Sequence[str] | None = None,
    endpoint: str | None = None,
    max_bytes: int | None = None,
    *,
    allow_unpinned: bool = False,
    ignore_patterns: Sequence[str] | None = None,
    token: str | bool | None = None,
    progress: bool = True,
) -> Path:
    """Download (part of) a Hub repository at a pinned commit into ``out_dir``, verified.

    Args:
        repo_id: ``owner/name``.
        repo_type: ``"model"`` or ``"dataset"``.
        revision: A full 40-hex commit (branch/tag names are refused unless ``allow_unpinned``).
        out_dir: Output folder; written atomically, with a ``progalign-download.json`` manifest.
        allow_patterns: Glob patterns of repo paths to keep (all files if None).
        endpoint: Hub base URL (default: ``$HF_ENDPOINT`` or huggingface.co).
        max_bytes: Refuse, before fetching anything, a selection larger than this.
        allow_unpinned: Accept a branch or tag and record the commit it resolves to.
        ignore_patterns: Glob patterns of repo paths to skip.
        token: Hub token (``None``: the saved one, ``False``: none).
        progress: Show progress bars.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        DownloadError: see :func:`list_repo_files` and :func:`~progalign.hub.transfer.fetch_file`;
            also an empty selection or one over ``max_bytes``.
    """
    ref, listing = list_repo_files(
        repo_id, repo_type, revision, endpoint=endpoint, allow_unpinned=allow_unpinned, token=token
    )
    files = select_files(listing, allow_patterns, ignore_patterns)
    if not files:
        raise DownloadError(f"{ref.uri()}: no file matches {list(allow_patterns or [])}")
    total = sum(f.size for f in files)
    if max_bytes is not None and total > max_bytes:
        raise DownloadError(
            f"{ref.uri()}: the {len(files)} selected files hold {total} bytes, more than "
            f"max_bytes={max_bytes}; narrow allow_patterns or raise the limit"
        )
    return download_files(ref, files, out_dir, token=token, progress=progress)
