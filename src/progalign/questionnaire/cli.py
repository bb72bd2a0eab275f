"""``progalign questionnaire fetch|show``."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from progalign.questionnaire.fetch import PROTOCOLS, build_questionnaire
from progalign.questionnaire.items import GROUPS
from progalign.questionnaire.store import load_questionnaire

#: Decision kinds listed only with ``show --all-decisions`` (they are counted always).
_ROUTINE = ("cleaned", "renamed")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _groups(text: str) -> list[str]:
    chosen = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown group(s) {', '.join(unknown) or '(none given)'}; choose from "
            + ", ".join(GROUPS)
        )
    return chosen


def register(subparsers: Any) -> None:
    """Add the ``questionnaire`` command and its sub-commands to the ``progalign`` parser."""
    parser = subparsers.add_parser(
        "questionnaire",
        help="fetch, build and inspect the morality questionnaire",
        description="Fetch the pinned ProgressGym question sets and build a questionnaire.",
    )
    sub = parser.add_subparsers(dest="questionnaire_command", required=True, metavar="ACTION")

    fetch = sub.add_parser(
        "fetch",
        help="fetch and verify the items of a protocol into a directory",
        description="Fetch (sha256-verified), parse and optionally subsample the items of a "
        "protocol; writes DIR/items.jsonl, DIR/templates/ and DIR/meta.json atomically.",
    )
    fetch.add_argument(
        "--protocol",
        required=True,
        choices=PROTOCOLS,
        help="paper-2024: the paper-era items (PyPI wheel progressgym==0.0.2); "
        "head-2025: upstream HEAD 871e2bd",
    )
    fetch.add_argument("--out", required=True, metavar="DIR", help="questionnaire directory")
    fetch.add_argument(
        "--per-dimension",
        type=_positive,
        metavar="N",
        help="stratified subsample: at most N items per stratum (default: all)",
    )
    fetch.add_argument("--seed", type=int, default=0, help="subsample seed (default: 0)")
    fetch.add_argument(
        "--groups",
        type=_groups,
        metavar="G[,G...]",
        help="only these groups (default: moralchoice,foundation,views)",
    )
    for group in GROUPS:
        fetch.add_argument(
            f"--{group}",
            metavar="CSV",
            help=f"use this CSV (upstream schema) instead of the protocol's {group}",
        )
    fetch.add_argument("--no-progress", action="store_true", help="hide download progress bars")
    fetch.set_defaults(func=_fetch)

    show = sub.add_parser("show", help="print counts and data decisions of a questionnaire")
    show.add_argument("dir", metavar="DIR", help="questionnaire directory")
    show.add_argument(
        "--all-decisions",
        action="store_true",
        help="also list each renamed duplicate id and whitespace/quote clean-up",
    )
    show.set_defaults(func=_show)


def _fetch(args: argparse.Namespace) -> int:
    overrides: dict[str, str] = {g: getattr(args, g) for g in GROUPS if getattr(args, g)}
    out = build_questionnaire(
        args.protocol,
        args.out,
        per_dimension=args.per_dimension,
        seed=args.seed,
        csv_overrides=overrides,
        groups=args.groups,
        progress=not args.no_progress,
    )
    questionnaire = load_questionnaire(out)
    counts = ", ".join(f"{g} {len(questionnaire.group(g))}" for g in questionnaire.groups)
    print(f"{out}: {len(questionnaire.items)} items ({counts}); sha256 {questionnaire.sha256}")
    return 0


def _show(args: argparse.Namespace) -> int:
    questionnaire = load_questionnaire(args.dir)
    meta = questionnaire.meta
    print(f"questionnaire {questionnaire.path}")
    print(f"  protocol    {meta.get('protocol')}")
    print(f"  items       {len(questionnaire.items)}  sha256 {questionnaire.sha256}")
    subsample = meta.get("subsample")
    if subsample:
        print(f"  subsample   {subsample['per_dimension']} per stratum, seed {subsample['seed']}")
    loaded = meta.get("counts_loaded", {})
    for group in questionnaire.groups:
        count = len(questionnaire.group(group))
        print(f"  {group:<12}{count:>5} items (of {loaded.get(group, count)} loaded)")
        for stratum, n in meta.get("strata", {}).get(group, {}).items():
            print(f"      {stratum:<24}{n:>5}")
    decisions = meta.get("decisions", [])
    tally = Counter(d["action"] for d in decisions)
    print(
        f"  decisions   {len(decisions)}: "
        + (", ".join(f"{k} {v}" for k, v in sorted(tally.items())) or "none")
    )
    for d in decisions:
        if d["action"] not in _ROUTINE or args.all_decisions:
            print(f"    {d['file']}:{d['row']} {d['item_id']}: {d['action']}: {d['reason']}")
    if not args.all_decisions and any(d["action"] in _ROUTINE for d in decisions):
        print("    (renamed duplicate ids and whitespace/quote clean-ups: see --all-decisions)")
    return 0
