"""Resumable, verified transfer of one file of a Hub repository at a pinned commit.

Files go through ``huggingface_hub``'s public primitives (``hf_hub_url``,
``get_hf_file_metadata``, ``build_hf_headers``, ``get_session``, ``hf_raise_for_status``) so that
tokens, proxies, user agent, rename redirects and CDN redirects behave as in ``hf_hub_download``.
``hf_hub_download`` itself is not used for the bytes: since huggingface_hub 1.x it writes to a
process-unique temporary file that is deleted when a download fails, so a killed or dropped
multi-GB transfer restarts from zero. Here the bytes go to ``<cache>.incomplete/<path>.part``,
which the next attempt (in this run or a later one) continues with an HTTP ``Range`` request.

A finished file is accepted only if its size and hash match the repository listing (LFS sha256,
or the git blob sha1 for small files); a mismatch deletes it and fetches it once more from scratch;
a second mismatch raises :class:`~progalign.errors.DownloadError` and leaves no file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import filelock
from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, httpx
from tqdm.auto import tqdm

from progalign.errors import DownloadError

log = logging.getLogger(__name__)

#: Transfer attempts per file before giving up (each one resumes from the ``.part`` file).
MAX_TRIES = 5
#: Seconds to wait before the first retry (doubled each time, at most 30 s).
RETRY_WAIT = 1.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RepoRef:
    """A repository pinned to a commit on a given Hub endpoint."""

    repo_id: str
    repo_type: str
    revision: str
    endpoint: str

    def uri(self, path: str = "") -> str:
        """``hf://[datasets/]repo@commit/path``, the provenance string of a file."""
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        return f"hf://{prefix}{self.repo_id}@{self.revision}/{path}"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository, as listed by the Hub at a commit."""

    path: str
    size: int
    sha256: str | None
    blob_id: str | None

    @property
    def etag(self) -> str | None:
        """The ETag the Hub serves for this file (sha256 for LFS files, else the blob id)."""
        return self.sha256 or self.blob_id


@contextlib.contextmanager
def hub_errors(ref: RepoRef, what: str = "") -> Iterator[None]:
    """Translate huggingface_hub/httpx errors into a :class:`DownloadError` naming the repo."""
    where = f"{ref.repo_type} {ref.repo_id}@{ref.revision}" + (f" ({what})" if what else "")
    try:
        yield
    except OfflineModeIsEnabled:
        raise DownloadError(
            f"{where}: HF_HUB_OFFLINE is set, so the Hub cannot be reached; unset it or fetch the "
            "files on a machine with network access"
        ) from None
    except RevisionNotFoundError:
        raise DownloadError(
            f"{where}: revision {ref.revision!r} does not exist at {ref.endpoint}"
        ) from None
    except RepositoryNotFoundError:
        raise DownloadError(
            f"{where}: repository not found at {ref.endpoint} (or it is private/gated and no "
            "valid token was given)"
        ) from None
    except HfHubHTTPError as exc:
        raise DownloadError(f"{where}: HTTP {_status(exc)} from {ref.endpoint}: {exc}") from None
    except HFValidationError as exc:
        raise DownloadError(f"{where}: {exc}") from None
    except (httpx.TransportError, OSError) as exc:
        raise DownloadError(
            f"{where}: cannot reach {ref.endpoint} ({type(exc).__name__}: {exc}). Are you offline? "
            "Set HF_ENDPOINT to a reachable mirror, or fetch on a machine with network access."
        ) from None


def _status(exc: HfHubHTTPError) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def file_matches(path: Path, remote: RemoteFile) -> bool:
    """Whether ``path`` has the size and hash the listing gives for ``remote``."""
    if path.stat().st_size != remote.size:
        return False
    if remote.sha256 is not None:
        digest = hashlib.sha256()
    elif remote.blob_id is not None:
        digest = hashlib.sha1(b"blob %d\0" % remote.size)
    else:
        return False
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest() == (remote.sha256 or remote.blob_id)


def fetch_file(
    ref: RepoRef,
    remote: RemoteFile,
    cache_root: Path,
    *,
    token: str | bool | None = None,
    progress: bool = True,
) -> Path:
    """Return a verified local copy of ``remote`` under ``cache_root``, downloading if needed.

    Args:
        ref: The pinned repository.
        remote: The file, with its size and hash from the listing.
        cache_root: The raw cache folder of this repo at this commit; it only ever holds verified
            files (partial ones live in ``<cache_root>.incomplete/``, locks in ``.locks/``).
        token: Hub token (``None``: the saved one, ``False``: none).
        progress: Show a progress bar.

    Returns:
        The path of the verified file (read-only).

    Raises:
        DownloadError: unreachable Hub, HTTP error, inconsistent metadata, or a file that does
            not match its published hash twice.
    """
    dest = cache_root / remote.path
    part = cache_root.with_name(cache_root.name + ".incomplete") / (remote.path + ".part")
    lock = cache_root.with_name(cache_root.name + ".locks") / (remote.path + ".lock")
    for folder in (dest.parent, part.parent, lock.parent):
        folder.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(lock)):
        if dest.exists():
            if file_matches(dest, remote):
                return dest
            log.warning("%s: cached copy is corrupted; fetching it again", dest)
            dest.unlink()
        for attempt in (1, 2):
            _transfer(ref, remote, part, token=token, progress=progress)
            if file_matches(part, remote):
                part.chmod(0o444)
                os.replace(part, dest)
                return dest
            part.unlink()
            log.warning(
                "%s: content does not match the published %s (attempt %d); deleted",
                ref.uri(remote.path),
                "sha256" if remote.sha256 else "git sha1",
                attempt,
            )
    raise DownloadError(
        f"{ref.uri(remote.path)}: downloaded content does not match the published "
        f"{'sha256 ' + remote.sha256 if remote.sha256 else 'git blob ' + str(remote.blob_id)} "
        "twice; the file was deleted and is not used"
    )


def _transfer(
    ref: RepoRef, remote: RemoteFile, part: Path, *, token: str | bool | None, progress: bool
) -> None:
    """Bring ``part`` to ``remote.size`` bytes, resuming and retrying transient failures."""
    last: Exception | None = None
    for attempt in range(1, MAX_TRIES + 1):
        offset = part.stat().st_size if part.exists() else 0
        if offset > remote.size:
            part.unlink()
            offset = 0
        if offset == remote.size:
            return
        url, headers = _locate(ref, remote, token)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            log.info("%s: resuming at byte %d", ref.uri(remote.path), offset)
        try:
            _stream(url, headers, part, offset, remote, progress)
            return
        except (httpx.TransportError, OSError) as exc:
            if isinstance(exc, HfHubHTTPError) and _status(exc) in (400, 401, 404, 410):
                raise DownloadError(f"{ref.uri(remote.path)}: {exc}") from None
            last = exc
            wait = min(RETRY_WAIT * 2 ** (attempt - 1), 30.0)
            log.warning(
                "%s: transfer interrupted (%s); retrying in %.0f s", ref.uri(remote.path), exc, wait
            )
            time.sleep(wait)
    raise DownloadError(
        f"{ref.uri(remote.path)}: transfer failed {MAX_TRIES} times (last error: {last}); the "
        f"partial file {part} is kept and the next run resumes from it"
    )


def _locate(
    ref: RepoRef, remote: RemoteFile, token: str | bool | None
) -> tuple[str, dict[str, str]]:
    """HEAD the file: check commit and ETag against the pin; return the URL and headers to GET."""
    url = hf_hub_url(
        ref.repo_id,
        remote.path,
        repo_type=ref.repo_type,
        revision=ref.revision,
        endpoint=ref.endpoint,
    )
    with hub_errors(ref, remote.path):
        meta = get_hf_file_metadata(
            url, token=token, endpoint=ref.endpoint, timeout=constants.HF_HUB_ETAG_TIMEOUT
        )
    if meta.commit_hash != ref.revision:
        raise DownloadError(
            f"{ref.uri(remote.path)}: the server answered for commit {meta.commit_hash!r}, not the "
            "pinned one; refusing to mix revisions"
        )
    if remote.etag is not None and meta.etag not in (remote.sha256, remote.blob_id):
        # the content hash check after the transfer is what decides; this only warns early
        log.warning(
            "%s: the server's ETag %r differs from the repo listing (%s)",
            ref.uri(remote.path),
            meta.etag,
            remote.etag,
        )
    headers = build_hf_headers(token=token)
    headers["Accept-Encoding"] = "identity"
    if _origin(meta.location) != _origin(ref.endpoint):
        headers.pop("authorization", None)  # never send the token to a CDN
    return meta.location, headers


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _stream(
    url: str, headers: dict[str, str], part: Path, offset: int, remote: RemoteFile, progress: bool
) -> None:
    """One GET of ``url`` appended to ``part`` (from ``offset``)."""
    with get_session().stream(
        "GET", url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
    ) as response:
        if response.status_code == 416 and offset:
            part.unlink()  # the server says our partial file is past the end: start again
            raise OSError("range not satisfiable")
        hf_raise_for_status(response)
        if offset and response.status_code != 206:
            offset = 0  # the server ignored the Range header: start again
        with (
            open(part, "ab" if offset else "wb") as handle,
            tqdm(
                total=remote.size,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=remote.path[-40:],
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            for block in response.iter_bytes():
                handle.write(block)
                handle.flush()
                bar.update(len(block))
    size = part.stat().st_size
    if size < remote.size:
        raise OSError(f"connection closed after {size} of {remote.size} bytes")
