"""``progalign hub …``: fetch the published corpus and models at pinned revisions."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

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


#: The timeless instruction set of stage-2 SFT (~3,000 Alpaca records;
#: docs/semantics.md#historical-models).
TIMELESSQA_REPO = "PKU-Alignment/ProgressGym-TimelessQA"


def parse_bytes(text: str) -> int:
    """Parse ``"123"``, ``"500M"``, ``"2G"``, ``"1.5GiB"`` into a number of bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?)?B?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500M or 2GiB")
    return int(float(m.group(1)) * _SUFFIX[m.group(2) or ""])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--revision",
        required=True,
        help="full 40-hex commit id of the repo (branch names are refused)",
    )
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

    table = sub.add_parser("list-models", help="print the 36 published model ids")
    table.set_defaults(func=_list_models)


def _fetch_corpus(args: argparse.Namespace) -> int:
    from progalign.hub.corpus import fetch_corpus

    path = fetch_corpus(
        args.out,
        revision=args.revision,
        centuries=args.centuries,
        max_bytes=args.max_bytes,
        endpoint=args.endpoint,
        allow_unpinned=args.allow_unpinned,
        progress=not args.no_progress,
    )
    print(path)
    return 0


def _fetch_model(args: argparse.Namespace) -> int:
    from progalign.hub.models import fetch_published_model

    path = fetch_published_model(
        args.size,
        args.century,
        args.kind,
        args.out_root,
        revision=args.revision,
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
        args.revision,
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

    for model in PUBLISHED_MODELS.values():
        print(f"{model.family}\t{model.century}\t{model.repo_id}\t{model.revision or '(unpinned)'}")
    return 0
