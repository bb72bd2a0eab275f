"""The ``progalign`` command line.

Each stage registers its own sub-commands from a small ``register(subparsers)`` function in its
package, so this file stays a thin dispatcher. Errors derived from ``ProgalignError`` are printed
as one clear line (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from progalign._version import __version__
from progalign.errors import ProgalignError

#: Modules that provide ``register(subparsers)``; imported lazily so ``--help`` stays fast.
_COMMAND_MODULES = (
    "progalign.questionnaire.cli",
    "progalign.evaluation.cli",
    "progalign.models.cli",
    "progalign.corpus.cli",
    "progalign.hub.cli",
    "progalign.images.cli",
    "progalign.training.cli",
    "progalign.benchmark.cli",
    "progalign.report.cli",
    "progalign.settings_cli",
    "progalign.plan.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="progalign", description="Progress-alignment reproducibility kit (ProgressGym)."
    )
    parser.add_argument("--version", action="version", version=f"progalign {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not present in this checkout
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``progalign`` console script (``argv`` None: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.func(args)
    except ProgalignError as exc:
        print(f"progalign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
