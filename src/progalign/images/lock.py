"""The image lock file: which pinned image each target (``cpu``, ``gpu``) runs in.

A reference is accepted in two forms only, never as a floating tag:

- ``scheme://name@sha256:<64 hex>`` (``docker://``, ``oras://``, ...), pulled by digest;
- a local ``.sif`` file with a recorded sha256, checked before a containerised run.

``scripts/build-images.sh`` records what it builds or pushes here; :func:`pin_image` is the
one-command update for an image built or pushed elsewhere (``progalign images lock``). The
workflow (``workflow/rules/containers.smk``) reads it through :func:`pinned`. See
docs/containers.md.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from progalign.errors import InputError, SettingError
from progalign.io import sha256_file, write_text

#: The image targets (containers/Dockerfile stages, containers/<target>.def).
TARGETS = ("cpu", "gpu")
#: A reference pulled by digest.
DIGEST_REF = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]+@sha256:[0-9a-f]{64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCHEMELESS = re.compile(r"^[^:/@\s][^@\s]*@sha256:[0-9a-f]{64}$")

HEADER = (
    "# Written by scripts/build-images.sh and `progalign images lock`: the pinned image of each\n"
    "# target (docs/containers.md). ref: what rules use (workflow/rules/containers.smk), pulled\n"
    "# by digest, or a .sif file checked against sif_sha256; the other keys describe the build.\n"
)
FIX_HINT = (
    "bash scripts/build-images.sh {target} (builds it here; --push REGISTRY publishes it), or "
    "progalign images lock {target} docker://REGISTRY/progalign@sha256:<digest> for an image "
    "built elsewhere"
)


@dataclass(frozen=True)
class Pin:
    """A pinned image reference.

    Attributes:
        ref: ``scheme://name@sha256:...`` or a ``.sif`` path.
        sha256: The recorded sha256 of a ``.sif`` file (None for a digest reference).
        source: Where the reference was read (the lock file or a config key), for messages.
    """

    ref: str
    sha256: str | None
    source: str

    @property
    def is_sif(self) -> bool:
        """Whether the reference is a local ``.sif`` file."""
        return self.sha256 is not None


def check_target(target: str) -> str:
    """Return ``target`` if it is an image target, else raise :class:`SettingError`."""
    if target not in TARGETS:
        raise SettingError(f"unknown image target {target!r} (one of {', '.join(TARGETS)})")
    return target


def check_ref(ref: str, sha256: str | None, where: str) -> Pin:
    """Validate a reference (and a ``.sif`` file's sha256) and return it as a :class:`Pin`.

    Args:
        ref: The reference to check.
        sha256: The recorded sha256 when ``ref`` is a ``.sif`` path.
        where: The lock file or config key it came from, named in errors.

    Raises:
        SettingError: ``ref`` is a floating tag, a ``.sif`` without a valid sha256, or neither.
    """
    if DIGEST_REF.match(ref):
        return Pin(ref, None, where)
    if "://" in ref or not ref.endswith(".sif"):
        hint = f"; did you mean docker://{ref}?" if _SCHEMELESS.match(ref) else ""
        raise SettingError(
            f"{where}: container image {ref!r} is not pinned; use scheme://name@sha256:<digest>"
            f" or a .sif file with a recorded sha256 (docs/containers.md){hint}"
        )
    if not sha256:
        raise SettingError(f"{where}: {ref} has no recorded sha256 (sif_sha256)")
    if not _SHA256.match(sha256):
        raise SettingError(f"{where}: sha256 of {ref} must be 64 lowercase hex digits")
    return Pin(ref, sha256, where)


def read_lock(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a lock file (a missing file reads as empty).

    Raises:
        InputError: The file is not YAML, or not a mapping of target -> mapping.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError(str(path), "expected a mapping of image target -> {ref: ...}")
    return data


def pinned(
    target: str,
    lock: str | os.PathLike[str],
    override: str | None = None,
    override_sha256: str | None = None,
) -> Pin | None:
    """The pinned reference of ``target``: config ``containers.<target>``, else the lock file.

    Args:
        target: ``cpu`` or ``gpu``.
        lock: The lock file.
        override: Config ``containers.<target>`` (wins over the lock file when set).
        override_sha256: Config ``containers.<target>_sha256`` for an overriding ``.sif``.

    Returns:
        The validated pin, or None when neither the config nor the lock file names an image.

    Raises:
        SettingError: The reference found is not pinned.
        InputError: The lock file is malformed.
    """
    check_target(target)
    if override:
        return check_ref(override, override_sha256, f"config containers.{target}")
    entry = read_lock(lock).get(target) or {}
    if not entry.get("ref"):
        return None
    return check_ref(str(entry["ref"]), entry.get("sif_sha256"), str(lock))


def verify_sif(pin: Pin) -> None:
    """Check that a ``.sif`` pin's file exists and has its recorded sha256 (no-op otherwise).

    Raises:
        SettingError: The file is missing or its sha256 differs.
    """
    if not pin.is_sif:
        return
    if not Path(pin.ref).is_file():
        raise SettingError(
            f"{pin.source}: {pin.ref} does not exist; build it with scripts/build-images.sh --sif"
        )
    if sha256_file(pin.ref) != pin.sha256:
        raise SettingError(
            f"{pin.source}: sha256 of {pin.ref} differs from the recorded {pin.sha256}"
        )


def write_lock(path: str | os.PathLike[str], data: dict[str, dict[str, Any]]) -> None:
    """Atomically write the lock file (header comment, targets sorted)."""
    write_text(path, HEADER + yaml.safe_dump(data, sort_keys=True))


def pin_image(
    lock: str | os.PathLike[str],
    target: str,
    ref: str,
    sha256: str | None = None,
    provenance: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Record ``ref`` as the pinned image of ``target``: the one-command lock update.

    The target's previous entry is replaced (its build details described another image); the
    other targets are kept. For a ``.sif`` path the sha256 is computed from the file when it
    exists (and must equal ``sha256`` if that is given too); for a file that is not on this
    machine ``sha256`` is required.

    Args:
        lock: The lock file to update.
        target: ``cpu`` or ``gpu``.
        ref: ``scheme://name@sha256:<digest>`` or a ``.sif`` path.
        sha256: The ``.sif`` file's sha256.
        provenance: Extra string fields to record (e.g. ``local``, ``image_id``, ``built_with``).

    Returns:
        The entry written.

    Raises:
        SettingError: Bad target, floating reference, or a sha256 that does not match the file.
        InputError: The existing lock file is malformed.
    """
    check_target(target)
    if ref.endswith(".sif") and "://" not in ref and Path(ref).is_file():
        actual = sha256_file(ref)
        if sha256 and sha256 != actual:
            raise SettingError(f"{ref}: sha256 is {actual}, not the given {sha256}")
        sha256 = actual
    pin = check_ref(ref, sha256, f"progalign images lock {target}")
    data = read_lock(lock)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry: dict[str, Any] = {"ref": pin.ref, "recorded_at": now, **(provenance or {})}
    if pin.is_sif:
        entry["sif_sha256"] = pin.sha256
    data[target] = entry
    write_lock(lock, data)
    return entry
