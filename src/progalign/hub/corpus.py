"""The published ProgressGym historical corpus, ``PKU-Alignment/ProgressGym-HistText``.

The dataset repo holds century folders ``C013/ … C021/`` of ``Y0yyyy.json`` files, each a JSON list
of records ``{content, creation_year, source_dataset, …}`` (38 GB in all, CC-BY-4.0). This module
lists it at a pinned commit, picks files by century and size budget (deterministically), fetches
them through the verified raw cache (:mod:`progalign.hub.download`) and converts them into our
corpus layout: ``out_dir/C0cc.jsonl`` with records ``content``, ``creation_year``,
``source_dataset``, ``source`` (``hf://datasets/<repo>@<commit>/<path>``) and ``license``, plus
``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from progalign.errors import DownloadError, InputError
from progalign.hub.download import fetch_files, list_repo_files, open_permissions
from progalign.hub.transfer import RemoteFile, RepoRef
from progalign.hublock import HISTTEXT_REPO
from progalign.io import atomic_dir, atomic_open, write_json

log = logging.getLogger(__name__)

HISTTEXT_LICENSE = "CC-BY-4.0"
_YEAR_FILE = re.compile(r"^(C\d{3})/Y(\d{5})\.json$")
_CENTURY = re.compile(r"^C\d{3}$")
_NEXT = re.compile(r"[ \t\r\n]*[,\]]")


def parse_centuries(centuries: Sequence[str | int] | str | None) -> list[str] | None:
    """Normalise ``"C017,C018"`` / ``["C017", 18]``-like input to sorted ``["C017", "C018"]``.

    Raises:
        DownloadError: a name that is not a century label.
    """
    if centuries is None:
        return None
    items = centuries.split(",") if isinstance(centuries, str) else list(centuries)
    out = set()
    for item in items:
        text = str(item).strip().upper()
        if text.isdigit():
            text = f"C{int(text):03d}"
        if not _CENTURY.match(text):
            raise DownloadError(f"centuries: {item!r} is not a century label like 'C017'")
        out.add(text)
    return sorted(out)


def _spread_key(remote: RemoteFile) -> str:
    """A deterministic pseudo-random order, so a budget samples across the whole century."""
    return hashlib.sha256(remote.path.encode()).hexdigest()


def select_corpus_files(
    listing: Sequence[RemoteFile],
    centuries: Sequence[str] | None = None,
    max_bytes: int | None = None,
) -> dict[str, list[RemoteFile]]:
    """Pick the year files to fetch, per century.

    Without a budget every year file of the chosen centuries is taken. With ``max_bytes`` the
    budget is shared out by repeatedly giving the century that holds the fewest bytes so far its
    next file (in a fixed pseudo-random order of paths) that still fits; this balances centuries,
    samples years across each century, and is deterministic.

    Args:
        listing: The repository's files.
        centuries: Century labels to keep (all present ones if None).
        max_bytes: Total size budget.

    Returns:
        Century -> chosen files sorted by path (a century may be empty under a tight budget).

    Raises:
        DownloadError: a requested century with no year file in the repo.
    """
    by_century: dict[str, list[RemoteFile]] = {}
    for remote in listing:
        if m := _YEAR_FILE.match(remote.path):
            by_century.setdefault(m.group(1), []).append(remote)
    wanted = list(centuries) if centuries is not None else sorted(by_century)
    missing = [c for c in wanted if c not in by_century]
    if missing:
        raise DownloadError(
            f"{HISTTEXT_REPO}: no year files for {missing}; available: {sorted(by_century)}"
        )
    if max_bytes is None:
        return {c: sorted(by_century[c], key=lambda f: f.path) for c in wanted}
    queues = {c: sorted(by_century[c], key=_spread_key) for c in wanted}
    chosen: dict[str, list[RemoteFile]] = {c: [] for c in wanted}
    used = dict.fromkeys(wanted, 0)
    left = max_bytes
    while True:
        open_ = [c for c in wanted if any(f.size <= left for f in queues[c])]
        if not open_:
            break
        century = min(open_, key=lambda c: (used[c], c))
        pick = next(f for f in queues[century] if f.size <= left)
        queues[century].remove(pick)
        chosen[century].append(pick)
        used[century] += pick.size
        left -= pick.size
    return {c: sorted(files, key=lambda f: f.path) for c, files in chosen.items()}


def iter_json_list(path: str | os.PathLike[str], chunk: int = 1 << 20) -> Iterator[Any]:
    """Yield the items of a JSON array file one at a time, without loading the whole file.

    Raises:
        InputError: the file is not a JSON array, or is malformed (naming the item number).
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        buf, pos, eof, index = handle.read(chunk), 0, False, 0

        def skip_ws() -> None:
            nonlocal buf, pos, eof
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or eof:
                    return
                buf, pos = handle.read(chunk), 0
                eof = not buf

        skip_ws()
        if buf[pos : pos + 1] != "[":
            raise InputError(str(path), "expected a JSON list of records")
        pos += 1
        skip_ws()
        if buf[pos : pos + 1] == "]":
            return
        while True:
            need = chunk
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                    # a bare number (e.g. "-7.5" of "-7.5e3") may continue in the next chunk
                    if eof or isinstance(item, (dict, list, str)) or _NEXT.match(buf, end):
                        break
                    error = "truncated value"
                except json.JSONDecodeError as exc:
                    error = exc.msg
                more = "" if eof else handle.read(need)
                if not more:
                    eof = True
                    if error == "truncated value":
                        break
                    raise InputError(str(path), f"invalid JSON: {error}", row=index) from None
                buf, pos, need = buf[pos:] + more, 0, need * 2
            yield item
            index += 1
            pos = end
            skip_ws()
            sep = buf[pos : pos + 1]
            pos += 1
            if sep == "]":
                return
            if sep != ",":
                raise InputError(str(path), "expected ',' or ']' after a record", row=index)
            skip_ws()
            if pos > chunk:
                buf, pos = buf[pos:], 0


def convert_year_file(
    path: Path, ref: RepoRef, remote: RemoteFile, century: str, skipped: Counter[str]
) -> Iterator[dict[str, Any]]:
    """Yield our corpus records from one downloaded ``Y0yyyy.json``; count skipped ones."""
    source = ref.uri(remote.path)
    for record in iter_json_list(path):
        if not isinstance(record, dict):
            skipped["not an object"] += 1
            continue
        content, year = record.get("content"), record.get("creation_year")
        if not isinstance(content, str) or not content.strip():
            skipped["no content"] += 1
        elif not isinstance(year, int) or isinstance(year, bool):
            skipped["creation_year not an int"] += 1
        elif f"C{year // 100 + 1:03d}" != century:
            skipped["creation_year outside the century"] += 1
        else:
            yield {
                "content": content,
                "creation_year": year,
                "source_dataset": str(record.get("source_dataset", "")),
                "source": source,
                "license": HISTTEXT_LICENSE,
            }


def fetch_corpus(
    out_dir: str | os.PathLike[str],
    *,
    revision: str | None = None,
    centuries: Sequence[str | int] | str | None = None,
    max_bytes: int | None = None,
    endpoint: str | None = None,
    allow_unpinned: bool = False,
    repo_id: str = HISTTEXT_REPO,
    token: str | bool | None = None,
    progress: bool = True,
) -> Path:
    """Fetch HistText at a pinned commit and write it as ``out_dir/C0cc.jsonl`` files.

    Args:
        out_dir: Output folder (replaced atomically when complete).
        revision: Full 40-hex commit of the dataset repo (required; ``progalign hub
            fetch-corpus`` takes it from the Hub revision lock).
        centuries: Century labels to keep, e.g. ``["C017", "C018"]`` or ``"C017,C018"``.
        max_bytes: Size budget for the raw JSON files (see :func:`select_corpus_files`).
        endpoint: Hub base URL (default: ``$HF_ENDPOINT`` or huggingface.co).
        allow_unpinned: Accept a branch/tag and record its current commit.
        repo_id: The dataset repo (override for mirrors).
        token: Hub token (``None``: the saved one, ``False``: none).
        progress: Show progress bars.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        DownloadError: unpinned or unknown revision, unreachable Hub, a century absent from the
            repo, a budget that selects nothing, or a file that fails verification.
        InputError: a fetched file that is not a JSON list.
    """
    ref, listing = list_repo_files(
        repo_id, "dataset", revision, endpoint=endpoint, allow_unpinned=allow_unpinned, token=token
    )
    selection = select_corpus_files(listing, parse_centuries(centuries), max_bytes)
    files = [f for picked in selection.values() for f in picked]
    if not files:
        raise DownloadError(f"{ref.uri()}: max_bytes={max_bytes} is smaller than every year file")
    for century, picked in selection.items():
        if not picked:
            log.warning("%s: no file of %s fits the budget; it is left out", ref.uri(), century)
    cached = dict(
        zip(
            [f.path for f in files],
            fetch_files(ref, files, token=token, progress=progress),
            strict=True,
        )
    )
    manifest: dict[str, Any] = {
        "source": ref.uri(),
        "repo_id": ref.repo_id,
        "revision": ref.revision,
        "license": HISTTEXT_LICENSE,
        "max_bytes": max_bytes,
        "centuries": {},
    }
    with atomic_dir(out_dir) as tmp:
        open_permissions(tmp)
        for century, picked in selection.items():
            if not picked:
                continue
            skipped: Counter[str] = Counter()
            count = 0
            with atomic_open(tmp / f"{century}.jsonl", "w") as handle:
                for remote in picked:
                    for row in convert_year_file(
                        cached[remote.path], ref, remote, century, skipped
                    ):
                        handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                        count += 1
            if skipped:
                log.warning("%s: skipped %s", century, dict(skipped))
            manifest["centuries"][century] = {
                "records": count,
                "skipped": dict(skipped),
                "files": [
                    {
                        "path": f.path,
                        "size": f.size,
                        "lfs_sha256": f.sha256,
                        "git_blob_sha1": f.blob_id,
                    }
                    for f in picked
                ],
            }
        write_json(tmp / "manifest.json", manifest)
    return Path(out_dir)
