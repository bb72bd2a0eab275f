"""Pinned, resumable, verified HTTP downloads.

A download goes to ``<dest>.part``; an interrupted transfer resumes from there with an HTTP
``Range`` request. The finished file is checked against its pinned sha256 before it is moved onto
``dest``: a corrupted file is deleted and fetched again once from scratch, and never used.
"""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from progalign.errors import DownloadError
from progalign.io import cache_dir, sha256_file

__all__ = ["cache_dir", "fetch"]  # cache_dir lives in progalign.io (io never imports download)

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_RESUMES = 3  # interrupted transfers resumed within one fetch() call
_TIMEOUT = float(os.environ.get("PROGALIGN_HTTP_TIMEOUT", "60"))


class _Interrupted(Exception):
    """The connection dropped mid-file; the ``.part`` keeps what arrived."""


def _transfer(url: str, part: Path, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "progalign"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # already complete (or the part is longer than the file)
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{url}: cannot connect ({reason}). Are you offline? Set PROGALIGN_CACHE to a folder "
            "that already holds the file, or fetch it on a machine with network access."
        ) from None
    with response:
        if offset and response.status != 206:  # server ignored the Range: start again
            offset = 0
        total = response.headers.get("Content-Length")
        size = int(total) + offset if total is not None else None
        mode = "ab" if offset else "wb"
        with (
            open(part, mode) as handle,
            tqdm(
                total=size,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=Path(url.split("#")[0]).name[:40],
                disable=not progress,
            ) as bar,
        ):
            while True:
                try:
                    block = response.read(_CHUNK)
                except (http.client.IncompleteRead, OSError) as exc:
                    raise _Interrupted(str(exc)) from None
                if not block:
                    break
                try:
                    handle.write(block)
                    handle.flush()
                except OSError as exc:  # disk full, quota: not a network fault, no retry
                    raise DownloadError(
                        f"{part}: cannot write ({exc.strerror or exc}); free space and rerun "
                        "to resume"
                    ) from None
                bar.update(len(block))
    if size is not None and part.stat().st_size < size:  # server closed early without error
        raise _Interrupted(f"got {part.stat().st_size} of {size} bytes")


def _transfer_resuming(url: str, part: Path, progress: bool) -> None:
    for resume in range(_RESUMES + 1):
        try:
            _transfer(url, part, progress)
            return
        except _Interrupted as exc:
            size = part.stat().st_size if part.exists() else 0
            log.warning("%s: interrupted at %d bytes (%s); resuming", url, size, exc)
            if resume == _RESUMES:
                raise DownloadError(
                    f"{url}: interrupted {resume + 1} times; rerun to resume from {size} bytes"
                ) from None


def fetch(url: str, dest: str | os.PathLike[str], sha256: str, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there.

    Args:
        url: HTTP(S) or file URL.
        dest: Final path.
        sha256: Expected hex digest (pinned by the caller).
        progress: Show a progress bar.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DownloadError: offline, HTTP error, or checksum mismatch after one fresh retry.
    """
    target = Path(dest)
    if target.exists():
        if sha256_file(target) == sha256:
            return target
        log.warning("%s does not match its pinned sha256; fetching it again", target)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    for attempt in (1, 2):
        _transfer_resuming(url, part, progress)
        digest = sha256_file(part)
        if digest == sha256:
            os.replace(part, target)
            return target
        part.unlink()
        log.warning("%s: sha256 %s != pinned %s (attempt %d)", url, digest, sha256, attempt)
    raise DownloadError(f"{url}: content does not match the pinned sha256 {sha256}; not used")
