"""``progalign images …``: record or show the pinned container images (docs/containers.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from progalign.errors import SettingError
from progalign.images.lock import TARGETS, pin_image, pinned, read_lock
from progalign.settings import ContainersSettings

#: Environment variable naming another lock file (also read by scripts/build-images.sh).
LOCK_ENV = "PROGALIGN_IMAGES_LOCK"


def default_lock() -> Path:
    """``$PROGALIGN_IMAGES_LOCK``, else the settings' default ``containers.lock``."""
    return Path(os.environ.get(LOCK_ENV) or ContainersSettings.model_fields["lock"].default)


def _field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def register(sub: Any) -> None:
    """Add the ``images`` sub-commands."""
    p = sub.add_parser("images", help="record or show the pinned container images")
    cmds = p.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    lock = cmds.add_parser(
        "lock",
        help="pin TARGET to REF in the lock file (an image built or pushed elsewhere)",
        description="Validate REF (scheme://name@sha256:<64 hex>, or a .sif file whose "
        "sha256 is computed or given) and write it atomically as TARGET's entry of the lock "
        "file, keeping the other targets.",
    )
    lock.add_argument("target", choices=TARGETS)
    lock.add_argument("ref", help="docker://REGISTRY/progalign@sha256:<digest> or FILE.sif")
    lock.add_argument("--sha256", help="sha256 of a .sif that is not on this machine")
    lock.add_argument(
        "--field",
        type=_field,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra provenance to record (repeatable; used by scripts/build-images.sh)",
    )
    lock.add_argument("--lock", type=Path, help=f"lock file (default ${LOCK_ENV} or the default)")
    lock.set_defaults(func=cmd_lock)
    show = cmds.add_parser("show", help="print the lock file's pinned references")
    show.add_argument("--lock", type=Path, help=f"lock file (default ${LOCK_ENV} or the default)")
    show.set_defaults(func=cmd_show)


def cmd_lock(args: argparse.Namespace) -> int:
    """Pin one target and print its reference."""
    fields = dict(args.field)
    if {"ref", "sif_sha256"} & fields.keys():
        raise SettingError("--field cannot set ref or sif_sha256; pass them as REF / --sha256")
    lock = args.lock or default_lock()
    entry = pin_image(lock, args.target, args.ref, args.sha256, fields)
    print(entry["ref"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print each target's validated reference (``none`` when not pinned)."""
    lock = args.lock or default_lock()
    read_lock(lock)  # a malformed file fails here, naming it
    shown = {}
    for target in TARGETS:
        pin = pinned(target, lock)
        shown[target] = None if pin is None else pin.ref
    print(yaml.safe_dump(shown, sort_keys=False), end="")
    return 0
