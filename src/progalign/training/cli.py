"""``progalign train-hislm`` and ``progalign perplexity``."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError
from progalign.training.launch import add_launch_argument, launching
from progalign.training.memory import MemorySaving


def register(sub: Any) -> None:
    """Add the training sub-commands."""
    p = sub.add_parser("train-hislm", help="continued pre-training of a base LM on one century")
    p.add_argument("--base", required=True, help="model folder, repo id, 'embedded' or 'tiny'")
    p.add_argument("--corpus", required=True, type=Path, help="a C0cc.jsonl century file")
    p.add_argument("--out", required=True, type=Path, help="output model folder")
    p.add_argument("--config", type=Path, help="YAML with a 'hislm' section (see HislmConfig)")
    for flag, kind in (
        ("epochs", float),
        ("learning-rate", float),
        ("top-k-layers", int),
        ("max-seq-len", int),
        ("batch-size", int),
        ("max-tokens", int),
        ("seed", int),
    ):
        p.add_argument(f"--{flag}", type=kind, help="overrides the config")
    p.add_argument(
        "--sft",
        type=Path,
        metavar="FILE",
        help="then fine-tune on this instruction set (Alpaca records, JSON or JSONL)",
    )
    p.add_argument("--skip-invalid", action="store_true", help="skip invalid corpus records")
    add_launch_argument(p)
    p.set_defaults(func=_train)

    q = sub.add_parser("perplexity", help="perplexity of models on held-out century texts")
    q.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a model to evaluate (repeat)",
    )
    q.add_argument("--corpus", required=True, type=Path, help="folder of C0cc.jsonl files")
    q.add_argument("--max-seq-len", type=int, default=256)
    q.add_argument("--out", type=Path, help="CSV file (default: print a Markdown table)")
    q.set_defaults(func=_perplexity)


def _train(args: argparse.Namespace) -> int:
    from progalign.corpus.records import read_corpus_file
    from progalign.models.resolve import resolve_model
    from progalign.training.config import load_hislm_config
    from progalign.training.hislm import train_hislm

    cfg = load_hislm_config(args.config).replace(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        top_k_layers=args.top_k_layers,
        max_seq_len=args.max_seq_len,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )
    records = read_corpus_file(args.corpus, on_invalid="skip" if args.skip_invalid else "error")
    if not records:
        raise ProgalignError(f"{args.corpus}: no records")
    if args.sft is not None:
        from progalign.training.sft import read_instructions

        read_instructions(args.sft)  # fail on a bad file before hours of pre-training
    with launching(args.launch, MemorySaving.from_args(args)):
        train_hislm(
            resolve_model(args.base),
            records,
            args.out,
            cfg,
            corpus_files=[args.corpus],
            sft_file=args.sft,
        )
    print(args.out)
    return 0


def _perplexity(args: argparse.Namespace) -> int:
    from progalign.corpus.records import read_corpus_file
    from progalign.io import write_text
    from progalign.training.perplexity import perplexity_matrix

    models = {}
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep:
            raise ProgalignError(f"--model {spec!r}: expected NAME=DIR")
        models[name] = path
    files = sorted(args.corpus.glob("C0*.jsonl"))
    if not files:
        raise ProgalignError(f"{args.corpus}: no C0cc.jsonl files")
    texts = {f.stem: [r["content"] for r in read_corpus_file(f)] for f in files}
    matrix = perplexity_matrix(models, texts, args.max_seq_len)
    centuries = list(texts)
    if args.out:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["model", *centuries])
        for name, row in matrix.items():
            writer.writerow([name, *(f"{row[c]:.4f}" for c in centuries)])
        write_text(args.out, buffer.getvalue())
    lines = ["| model | " + " | ".join(centuries) + " |", "|---|" + "---:|" * len(centuries)]
    column_best = {c: min(row[c] for row in matrix.values()) for c in centuries}
    for name, row in matrix.items():  # bold: the lowest perplexity on that century
        cells = [
            f"**{row[c]:.2f}**" if row[c] == column_best[c] else f"{row[c]:.2f}" for c in centuries
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
