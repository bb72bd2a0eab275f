"""``progalign report``: figures and leaderboard from tidy tables; cached-results manifests.

Forms::

    progalign report --tables DIR --out DIR [--provenance FILE] [--verify-manifest CACHED]
                     [--require NAME ...]
    progalign report build ...        (the same, spelled as a sub-command)
    progalign report manifest DIR     (write DIR/MANIFEST.sha256)
    progalign report verify DIR       (check DIR/MANIFEST.sha256)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=Path,
        help="folder with values.csv, scores.csv, steps.csv, examinee_values.csv (any subset)",
    )
    p.add_argument("--out", type=Path, help="output folder (figures/, leaderboard.*)")
    p.add_argument("--provenance", type=Path, help="provenance.json shown in the HTML footer")
    p.add_argument(
        "--verify-manifest",
        type=Path,
        metavar="CACHED_DIR",
        help="first verify CACHED_DIR/MANIFEST.sha256 (cached results)",
    )
    p.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="NAME",
        help="table that must be present (values, scores, steps, examinee_values); repeatable",
    )


def register(sub: Any) -> None:
    """Add the ``report`` command and its ``build`` / ``manifest`` / ``verify`` sub-commands."""
    p = sub.add_parser(
        "report",
        help="figures and leaderboard from result tables",
        description="Build figures and the leaderboard from tidy result tables "
        "(default form), or write / verify a cached-results manifest.",
    )
    _add_build_options(p)
    p.set_defaults(func=run_build)
    actions = p.add_subparsers(
        dest="report_command", metavar="ACTION", help="optional (default: build)"
    )
    b = actions.add_parser("build", help="build figures and leaderboard (same as no action)")
    _add_build_options(b)
    b.set_defaults(func=run_build)
    m = actions.add_parser(
        "manifest", help="write DIR/MANIFEST.sha256 for DIR/tables/*.csv and DIR/provenance.json"
    )
    m.add_argument("dir", type=Path, help="cached-results folder, e.g. results/cached/<name>")
    m.set_defaults(func=run_manifest)
    v = actions.add_parser("verify", help="verify DIR/MANIFEST.sha256")
    v.add_argument("dir", type=Path, help="cached-results folder, e.g. results/cached/<name>")
    v.set_defaults(func=run_verify)


def run_build(args: argparse.Namespace) -> int:
    """Build the report; print what was written (stdout) and what was skipped (stderr)."""
    from progalign.report.build import build_report
    from progalign.report.manifest import verify_manifest

    if args.tables is None or args.out is None:
        raise ProgalignError(
            "give --tables DIR and --out DIR (or an action: build, manifest, verify)"
        )
    if args.verify_manifest is not None:
        checked = verify_manifest(args.verify_manifest)
        print(f"verified {len(checked)} files of {args.verify_manifest / 'MANIFEST.sha256'}")
    result = build_report(args.tables, args.out, provenance=args.provenance, require=args.require)
    for path in result.written:
        print(f"wrote {path}")
    for item in result.skipped:
        print(f"skipped {item}", file=sys.stderr)
    return 0


def run_manifest(args: argparse.Namespace) -> int:
    """Write the manifest of a cached-results folder."""
    from progalign.report.manifest import write_manifest

    print(f"wrote {write_manifest(args.dir)}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Verify the manifest of a cached-results folder (exit 2 with the culprit on mismatch)."""
    from progalign.report.manifest import verify_manifest

    checked = verify_manifest(args.dir)
    print(f"ok: {len(checked)} files match {args.dir / 'MANIFEST.sha256'}")
    return 0
