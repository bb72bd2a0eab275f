"""``progalign hub …``: pin the published repositories, fetch the corpus and models at the pins."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from progalign.errors import DownloadError
from progalign.hublock import TIMELESSQA_REPO, published_repos, read_lock

_SUFFIX = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}


__all__ = ["TIMELESSQA_REPO", "parse_bytes", "register"]


def parse_bytes(text: str) -> int:
    """Parse ``"123"``, ``"500M"``, ``"2G"``, ``"1.5GiB"`` into a number of bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?)?B?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500M or 2GiB")
    return int(float(m.group(1)) * _SUFFIX[m.group(2) or ""])


def _lock_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock",
        default=None,
        help="Hub revision lock (default: models.hub.lock of --config, else "
        "configs/hub-revisions.lock.yaml)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--revision",
        default=None,
        help="full 40-hex commit id of the repo (branch names are refused; default: the "
        "commit pinned in the lock)",
    )
    _lock_option(parser)
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept a branch/tag and record the commit it resolves to",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help="Hub base URL (default: $HF_ENDPOINT or https://huggingface.co)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: Any) -> None:
    """Add the ``hub`` command group to the ``progalign`` parser."""
    hub = subparsers.add_parser("hub", help="fetch published ProgressGym data/models (pinned)")
    sub = hub.add_subparsers(dest="hub_command", required=True, metavar="SUBCOMMAND")

    corpus = sub.add_parser("fetch-corpus", help="PKU-Alignment/ProgressGym-HistText -> C0cc.jsonl")
    _common(corpus)
    corpus.add_argument("--centuries", default=None, help="e.g. C017,C018 (default: all)")
    corpus.add_argument(
        "--max-bytes",
        type=parse_bytes,
        default=None,
        help="size budget of raw files, e.g. 2G (files picked deterministically)",
    )
    corpus.add_argument("--out", required=True, help="output folder (C0cc.jsonl + manifest.json)")
    corpus.set_defaults(func=_fetch_corpus)

    model = sub.add_parser("fetch-model", help="one published HistLlama3 model")
    _common(model)
    model.add_argument("--size", required=True, choices=["8B", "70B"])
    model.add_argument("--century", required=True, help="C013 … C021")
    model.add_argument("--kind", required=True, choices=["pretrain", "instruct"])
    model.add_argument("--out-root", required=True, help="writes OUT_ROOT/<family>/<century>/")
    model.set_defaults(func=_fetch_model)

    timeless = sub.add_parser(
        "fetch-timelessqa", help="PKU-Alignment/ProgressGym-TimelessQA (SFT set of stage 2)"
    )
    _common(timeless)
    timeless.add_argument("--out", required=True, help="output folder (timeless_qa.json)")
    timeless.set_defaults(func=_fetch_timelessqa)

    table = sub.add_parser("list-models", help="print the 36 published model ids and their pins")
    _lock_option(table)
    table.set_defaults(func=_list_models)

    pin = sub.add_parser(
        "pin", help="resolve the published repos to commits and write the Hub revision lock"
    )
    pin.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="pin the repos this config uses: its models and the datasets (repeatable: files "
        "merged in order, as progalign run --config)",
    )
    pin.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="ID",
        help="pin this repo (owner/name; datasets/owner/name for a dataset); repeatable. "
        "Without --config or --repo: every repo of the lock and every published one",
    )
    _lock_option(pin)
    pin.add_argument(
        "--check",
        action="store_true",
        help="report where the Hub moved from the lock; write nothing (exit 1 on drift)",
    )
    pin.add_argument("--ref", default="main", help="branch or tag to resolve (default: main)")
    pin.add_argument(
        "--endpoint",
        default=None,
        help="Hub base URL (default: $HF_ENDPOINT or https://huggingface.co)",
    )
    pin.set_defaults(func=_pin)


def _lock_path(args: argparse.Namespace) -> str:
    from progalign.hub.pin import DEFAULT_LOCK

    return str(args.lock or DEFAULT_LOCK)


def _revision(args: argparse.Namespace, repo_id: str) -> str | None:
    """``--revision``, else the lock's pin of ``repo_id`` (else None with --allow-unpinned).

    Raises:
        DownloadError: neither gives a commit and unpinned use is not allowed.
    """
    if args.revision:
        return str(args.revision)
    lock = _lock_path(args)
    entry = read_lock(lock).get(repo_id)
    if entry is not None and entry.revision:
        return entry.revision
    if args.allow_unpinned:
        return None
    raise DownloadError(
        f"{repo_id}: no --revision given and no revision pinned in {lock}; pass --revision "
        f"with a full 40-hex commit id, or pin it: progalign hub pin --repo {repo_id}"
    )


def _fetch_corpus(args: argparse.Namespace) -> int:
    from progalign.hub.corpus import fetch_corpus
    from progalign.hublock import HISTTEXT_REPO

    path = fetch_corpus(
        args.out,
        revision=_revision(args, HISTTEXT_REPO) or "main",
        centuries=args.centuries,
        max_bytes=args.max_bytes,
        endpoint=args.endpoint,
        allow_unpinned=args.allow_unpinned,
        progress=not args.no_progress,
    )
    print(path)
    return 0


def _fetch_model(args: argparse.Namespace) -> int:
    from progalign.hub.models import fetch_published_model, published_model_id

    path = fetch_published_model(
        args.size,
        args.century,
        args.kind,
        args.out_root,
        revision=_revision(args, published_model_id(args.size, args.century, args.kind)),
        endpoint=args.endpoint,
        allow_unpinned=args.allow_unpinned,
        progress=not args.no_progress,
    )
    print(path)
    return 0


def _fetch_timelessqa(args: argparse.Namespace) -> int:
    from progalign.hub.download import download_repo_files

    path = download_repo_files(
        TIMELESSQA_REPO,
        "dataset",
        _revision(args, TIMELESSQA_REPO) or "main",
        args.out,
        allow_patterns=["timeless_qa.json"],
        endpoint=args.endpoint,
        allow_unpinned=args.allow_unpinned,
        progress=not args.no_progress,
    )
    print(Path(path) / "timeless_qa.json")
    return 0


def _list_models(args: argparse.Namespace) -> int:
    from progalign.hub.models import PUBLISHED_MODELS

    lock = read_lock(_lock_path(args))
    for model in PUBLISHED_MODELS.values():
        entry = lock.get(model.repo_id)
        pinned = entry.revision if entry is not None and entry.revision else "(unpinned)"
        print(f"{model.family}\t{model.century}\t{model.repo_id}\t{pinned}")
    return 0


def _pin(args: argparse.Namespace) -> int:
    from progalign.hub.pin import pin, repo_of_argument, report_lines, repos_of_configs

    repos: dict[str, str] = {}
    lock = args.lock
    if args.config:
        repos, config_lock = repos_of_configs(args.config)
        lock = lock or config_lock
    lock = lock or _lock_path(args)
    entries = read_lock(lock)
    for text in args.repo:
        repo_id, repo_type = repo_of_argument(text, entries)
        repos[repo_id] = repo_type
    if not args.config and not args.repo:
        repos = {**published_repos(), **{r: e.type for r, e in entries.items()}}
    results = pin(repos, lock, ref=args.ref, endpoint=args.endpoint, check=args.check)
    print("\n".join(report_lines(results)))
    failed = [r for r in results if r.error]
    moved = [r for r in results if r.status in ("new", "drift")]
    if args.check:
        print(
            f"{lock}: {len(moved)} of {len(results)} repos differ from the Hub; nothing written",
            file=sys.stderr,
        )
    else:
        pinned = len(results) - len(failed)
        print(f"{lock}: {pinned} of {len(results)} repos pinned", file=sys.stderr)
    if failed:
        names = "; ".join(f"{r.repo_id}: {r.error}" for r in failed)
        kept = "nothing written" if args.check else "their old lock entries are kept"
        raise DownloadError(f"{len(failed)} repo(s) could not be resolved ({kept}): {names}")
    return 1 if args.check and moved else 0
