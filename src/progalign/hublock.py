"""The Hub revision lock: the commit of each published ProgressGym repository a run uses.

The lock (``configs/hub-revisions.lock.yaml``; the setting ``models.hub.lock``) maps each
repository id to its type and pinned 40-hex commit, with how and when that commit was found.
``progalign hub pin`` writes it (:mod:`progalign.hub.pin`); the settings take the models'
revisions from it (``models.hub.revisions``), the ``progalign hub fetch-*`` commands their
default ``--revision``, and the workflow stops a run on the published models whose revisions are
not pinned. This module also names the published repositories, so that the settings, the lock and
the downloaders share one definition of them. See docs/hub.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from progalign.errors import DownloadError, SettingError
from progalign.io import write_text

ORG = "PKU-Alignment"
SIZES = ("8B", "70B")
KINDS = ("pretrain", "instruct")
CENTURIES = tuple(f"C{c:03d}" for c in range(13, 22))
#: Version suffix of the published model repos, per model size.
VERSIONS = {"8B": "v0.2", "70B": "v0.1"}
#: The historical corpus (century folders of per-year JSON files).
HISTTEXT_REPO = f"{ORG}/ProgressGym-HistText"
#: The timeless instruction set of stage-2 SFT (docs/semantics.md#historical-models).
TIMELESSQA_REPO = f"{ORG}/ProgressGym-TimelessQA"
#: The published datasets a run on the published models relies on.
DATASETS = (HISTTEXT_REPO, TIMELESSQA_REPO)
REPO_TYPES = ("model", "dataset")
LOCK_VERSION = 1
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HEADER = """\
# Hub revision lock: the commit of each published ProgressGym repository that runs use.
# Written by `progalign hub pin` (docs/hub.md); read by the settings (models.hub.revisions), by
# `progalign hub fetch-*` (their default --revision) and by the workflow, which stops a run on the
# published models while one of its models has no pin. A null revision is not pinned; `note`
# says why. Several 8B repos re-uploaded their weights on 2024-08-10: a revision from before
# that holds a different model, so never copy an older commit in by hand.
"""


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full 40-hex (lower-case) git commit id."""
    return bool(revision) and bool(_COMMIT.match(str(revision)))


def normalise_model(size: str, century: str | int, kind: str) -> tuple[str, str, str]:
    """``("8b", 17, "Instruct")`` -> ``("8B", "C017", "instruct")``.

    Raises:
        DownloadError: a size, century or kind that no published model has.
    """
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
    """Return the Hub id of a published HistLlama3 model.

    Args:
        size: ``"8B"`` or ``"70B"``.
        century: ``"C013"`` … ``"C021"`` (or 13 … 21).
        kind: ``"pretrain"`` or ``"instruct"``.

    Example:
        >>> published_model_id("8B", "C017", "instruct")
        'PKU-Alignment/ProgressGym-HistLlama3-8B-C017-instruct-v0.2'
    """
    size_n, cent_n, kind_n = normalise_model(size, century, kind)
    return f"{ORG}/ProgressGym-HistLlama3-{size_n}-{cent_n}-{kind_n}-{VERSIONS[size_n]}"


def published_repos() -> dict[str, str]:
    """Every published repository the kit knows (36 models, 2 datasets): id -> type."""
    repos = {published_model_id(s, c, k): "model" for s in SIZES for k in KINDS for c in CENTURIES}
    return {**repos, **dict.fromkeys(DATASETS, "dataset")}


def run_repos(size: str, kind: str, centuries: Iterable[str]) -> dict[str, str]:
    """The repositories a run on the published models uses: its models and the datasets."""
    models = {published_model_id(size, c, kind): "model" for c in centuries}
    return {**models, **dict.fromkeys(DATASETS, "dataset")}


@dataclass(frozen=True)
class LockEntry:
    """One repository of the lock.

    Attributes:
        type: ``"model"`` or ``"dataset"``.
        revision: The pinned 40-hex commit (None: not pinned).
        source: How the commit was found (the command and branch, or the page it was read from).
        endpoint: The Hub it was resolved on.
        resolved_at: When (ISO 8601, UTC), where known.
        note: Why a revision is null, or a caveat.
    """

    type: str
    revision: str | None = None
    source: str | None = None
    endpoint: str | None = None
    resolved_at: str | None = None
    note: str | None = None


def _entry(path: Path, repo_id: str, raw: Any) -> LockEntry:
    where = f"{path}: repos.{repo_id}"
    if not isinstance(raw, Mapping):
        raise SettingError(f"{where}: expected a mapping with type and revision")
    unknown = set(raw) - set(LockEntry.__dataclass_fields__)
    if unknown:
        raise SettingError(f"{where}: unknown keys {sorted(unknown)}")
    if raw.get("type") not in REPO_TYPES:
        raise SettingError(f"{where}.type: must be one of {REPO_TYPES} (got {raw.get('type')!r})")
    revision = raw.get("revision")
    if revision is not None and not is_commit(revision):
        raise SettingError(
            f"{where}.revision: {revision!r} is not a full 40-hex commit id (null: not pinned)"
        )
    text = {k: (None if v is None else str(v)) for k, v in raw.items() if k != "type"}
    return LockEntry(str(raw["type"]), **text)


def read_lock(path: str | Path) -> dict[str, LockEntry]:
    """Read a lock file; a missing file is an empty lock (nothing pinned).

    Raises:
        SettingError: a malformed file, naming it and the bad key.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(loaded, Mapping) or loaded.get("version") != LOCK_VERSION:
        raise SettingError(f"{path}: expected a mapping with version: {LOCK_VERSION} and repos")
    repos = loaded.get("repos") or {}
    if not isinstance(repos, Mapping):
        raise SettingError(f"{path}: repos must map repository ids to entries")
    return {str(repo): _entry(path, str(repo), raw) for repo, raw in repos.items()}


def lock_text(entries: Mapping[str, LockEntry]) -> str:
    """The YAML text of a lock (header comment, then the repositories sorted by id)."""
    body = {
        "version": LOCK_VERSION,
        "repos": {repo: asdict(entries[repo]) for repo in sorted(entries)},
    }
    return _HEADER + yaml.safe_dump(body, sort_keys=False, width=100, allow_unicode=True)


def write_lock(path: str | Path, entries: Mapping[str, LockEntry]) -> None:
    """Write a lock file atomically (a killed write leaves the old file)."""
    write_text(path, lock_text(entries))


def unpinned_models(models: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (century, repo id) of each model of a resolved ``models`` setting without a pin.

    Empty unless ``models.source`` is ``hub`` and ``models.hub.allow_unpinned`` is false.
    """
    hub = models["hub"]
    if models["source"] != "hub" or hub["allow_unpinned"]:
        return []
    return [
        (c, published_model_id(hub["size"], c, hub["kind"]))
        for c in models["centuries"]
        if not hub["revisions"].get(c)
    ]


def unpinned_message(models: Mapping[str, Any], configfiles: Iterable[str] = ()) -> str | None:
    """What to tell a user whose run uses published models without a pin (None: all pinned).

    Args:
        models: The resolved ``models`` setting.
        configfiles: The config files of the run, named in the pin command it suggests.
    """
    missing = unpinned_models(models)
    if not missing:
        return None
    lock = models["hub"]["lock"]
    state = "" if Path(lock).is_file() else " (file not found)"
    lines = "\n".join(f"  {century}  {repo}" for century, repo in missing)
    configs = "".join(f" --config {f}" for f in configfiles)
    return (
        f"models.source is hub, but {len(missing)} of its models have no pinned revision in "
        f"{lock}{state} or models.hub.revisions:\n{lines}\n"
        f"Pin them where the Hub is reachable:  progalign hub pin{configs}\n"
        "or set models.hub.allow_unpinned: true to download their main branch and record the "
        "commit it resolves to (docs/hub.md)."
    )
