"""``progalign hub pin``: resolve published repositories to commits and write the revision lock.

Each repository's branch (``main``) is resolved to its current 40-hex commit with
``HfApi.repo_info(...).sha``, so the endpoint (``--endpoint``, else ``$HF_ENDPOINT``), the token
(``$HF_TOKEN`` or the saved one) and offline mode (``HF_HUB_OFFLINE``) behave as everywhere in
huggingface_hub. The lock (:mod:`progalign.hublock`) is written atomically, and only once every
repository has been asked: offline, or with the endpoint unreachable, nothing is written; a
repository that does not exist is reported (with the others) and keeps its old entry.
See docs/hub.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from huggingface_hub import HfApi, constants
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import httpx

from progalign.errors import DownloadError, SettingError
from progalign.hub.download import resolve_endpoint
from progalign.hublock import (
    LockEntry,
    is_commit,
    published_repos,
    read_lock,
    run_repos,
    write_lock,
)
from progalign.settings import HubSettings, load, resolve

#: The lock file when no config names one (the default of ``models.hub.lock``).
DEFAULT_LOCK: str = HubSettings.model_fields["lock"].default


@dataclass(frozen=True)
class PinResult:
    """What pinning one repository found.

    Attributes:
        repo_id: ``owner/name``.
        repo_type: ``"model"`` or ``"dataset"``.
        locked: The commit in the lock before (None: not pinned).
        current: The commit the branch resolves to now (None: it could not be resolved).
        error: Why it could not be resolved.
    """

    repo_id: str
    repo_type: str
    locked: str | None
    current: str | None
    error: str | None = None

    @property
    def status(self) -> str:
        """``failed``, ``new`` (not pinned before), ``unchanged`` or ``drift``."""
        if self.current is None:
            return "failed"
        if self.locked is None:
            return "new"
        return "unchanged" if self.locked == self.current else "drift"


def repos_of_configs(paths: Sequence[str | Path]) -> tuple[dict[str, str], str]:
    """The repositories a config uses and its lock file (files merged as ``progalign run``).

    Raises:
        SettingError: a bad config, or one whose models do not come from the Hub.
    """
    settings = resolve(load([Path(p) for p in paths]))
    models = settings.models
    if models.source != "hub":
        raise SettingError(
            f"{', '.join(map(str, paths))}: models.source is {models.source!r}, so this config "
            "uses no published repository (only source hub does)"
        )
    return run_repos(models.hub.size, models.hub.kind, models.centuries), models.hub.lock


def repo_of_argument(text: str, lock: Mapping[str, LockEntry]) -> tuple[str, str]:
    """``owner/name`` (a model, or the type the lock or the published set gives it) or
    ``datasets/owner/name`` -> (repo id, type)."""
    if text.startswith("datasets/"):
        return text.removeprefix("datasets/"), "dataset"
    if text in lock:
        return text, lock[text].type
    return text, published_repos().get(text, "model")


def _resolve_one(
    api: HfApi, repo_id: str, repo_type: str, ref: str, endpoint: str, lock_path: Path
) -> tuple[str | None, str | None]:
    """(commit, None), or (None, why) for a repository the Hub cannot resolve.

    Raises:
        DownloadError: offline mode, or an endpoint that cannot be reached.
    """
    nothing = f"nothing was written to {lock_path}"
    try:
        info = api.repo_info(
            repo_id, repo_type=repo_type, revision=ref, timeout=constants.HF_HUB_ETAG_TIMEOUT
        )
    except OfflineModeIsEnabled:
        raise DownloadError(
            f"HF_HUB_OFFLINE is set, so the Hub cannot be reached; {nothing}"
        ) from None
    except RevisionNotFoundError:
        return None, f"no branch or tag {ref!r} at {endpoint}"
    except RepositoryNotFoundError:
        return None, (
            f"{repo_type} repository not found at {endpoint} (or it is private/gated and no "
            "valid token was given)"
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "error"
        return None, f"HTTP {status} from {endpoint}"
    except (httpx.TransportError, OSError) as exc:
        raise DownloadError(
            f"cannot reach {endpoint} ({type(exc).__name__}: {exc}); {nothing}. Are you offline? "
            "Set HF_ENDPOINT to a reachable mirror, or pin on a machine with network access."
        ) from None
    sha = getattr(info, "sha", None)
    if not is_commit(sha):
        return None, f"the Hub did not report a commit for {ref!r} (got {sha!r})"
    return str(sha), None


def pin(
    repos: Mapping[str, str],
    lock_path: str | Path,
    *,
    ref: str = "main",
    endpoint: str | None = None,
    token: str | bool | None = None,
    check: bool = False,
) -> list[PinResult]:
    """Resolve ``repos`` on the Hub and (unless ``check``) record their commits in the lock.

    Args:
        repos: Repository id -> ``"model"``/``"dataset"``.
        lock_path: The lock file (created if missing; other repositories' entries are kept).
        ref: The branch or tag to resolve.
        endpoint: Hub base URL (default: ``$HF_ENDPOINT`` or huggingface.co).
        token: Hub token (``None``: the saved one, ``False``: none).
        check: Only compare with the lock; write nothing.

    Returns:
        One result per repository, sorted by id. A repository that failed keeps its old entry.

    Raises:
        DownloadError: offline mode or an unreachable endpoint (nothing is written).
        SettingError: a malformed lock file.
    """
    path = Path(lock_path)
    if constants.is_offline_mode():
        raise DownloadError(
            f"HF_HUB_OFFLINE is set, so the Hub cannot be reached; nothing was written to {path}"
        )
    lock = read_lock(path)
    url = resolve_endpoint(endpoint)
    api = HfApi(endpoint=url, token=token)
    results = []
    for repo_id in sorted(repos):
        old = lock.get(repo_id)
        commit, error = _resolve_one(api, repo_id, repos[repo_id], ref, url, path)
        results.append(
            PinResult(repo_id, repos[repo_id], old.revision if old else None, commit, error)
        )
    if not check and any(r.current for r in results):
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        entries = dict(lock)
        for r in results:
            if r.current is not None:
                entries[r.repo_id] = LockEntry(
                    r.repo_type, r.current, f"progalign hub pin ({ref})", url, now, None
                )
        write_lock(path, entries)
    return results


def report_lines(results: Iterable[PinResult]) -> list[str]:
    """Tab-separated lines ``repo  type  lock  hub  status`` (``-`` for none), with a header."""
    lines = ["repo\ttype\tlock\thub\tstatus"]
    for r in results:
        status = f"failed: {r.error}" if r.error else r.status
        lines.append(f"{r.repo_id}\t{r.repo_type}\t{r.locked or '-'}\t{r.current or '-'}\t{status}")
    return lines
