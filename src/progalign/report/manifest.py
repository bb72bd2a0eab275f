"""Checksummed cached results: ``results/cached/<name>/`` with ``tables/*.csv``,
``provenance.json`` and ``MANIFEST.sha256``.

The manifest is in ``sha256sum`` format (``<hex>  tables/values.csv``, paths relative to the
folder, sorted), so ``cd results/cached/<name> && sha256sum -c MANIFEST.sha256`` checks it too.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from progalign.errors import InputError
from progalign.io import sha256_file, write_text

MANIFEST = "MANIFEST.sha256"
PROVENANCE = "provenance.json"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](\S.*)$")


def _listed_files(directory: Path) -> list[str]:
    files = sorted(f"tables/{p.name}" for p in (directory / "tables").glob("*.csv") if p.is_file())
    if (directory / PROVENANCE).is_file():
        files.append(PROVENANCE)
    return files


def write_manifest(directory: str | Path) -> Path:
    """Write ``MANIFEST.sha256`` for ``tables/*.csv`` (and ``provenance.json`` if present).

    Args:
        directory: The cached-results folder.

    Returns:
        The manifest path.

    Raises:
        InputError: when the folder has no ``tables/*.csv``.
    """
    directory = Path(directory)
    files = _listed_files(directory)
    if not any(f.startswith("tables/") for f in files):
        raise InputError(str(directory / "tables"), "no *.csv tables to put in the manifest")
    lines = [f"{sha256_file(directory / name)}  {name}\n" for name in files]
    path = directory / MANIFEST
    write_text(path, "".join(lines))
    return path


def read_manifest(directory: str | Path) -> dict[str, str]:
    """Parse ``MANIFEST.sha256`` into relative path → lower-case hex digest.

    Raises:
        InputError: when the manifest is missing, malformed, lists a path twice, or lists a path
            outside the folder.
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise InputError(str(path), "manifest not found")
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise InputError(str(path), "expected '<sha256>  <relative path>'", row=number)
        digest, name = match.group(1).lower(), match.group(2)
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            raise InputError(str(path), f"path {name!r} is not inside the folder", row=number)
        if name in entries:
            raise InputError(str(path), f"{name!r} listed twice", row=number)
        entries[name] = digest
    if not entries:
        raise InputError(str(path), "manifest lists no files")
    return entries


def verify_manifest(directory: str | Path) -> list[Path]:
    """Check every file of the manifest, and that no table is unlisted.

    Args:
        directory: The cached-results folder.

    Returns:
        The verified files, in manifest order.

    Raises:
        InputError: naming the missing file, the file whose checksum does not match, or a
            ``tables/*.csv`` (or ``provenance.json``) that the manifest does not list.
    """
    directory = Path(directory)
    entries = read_manifest(directory)
    verified = []
    for name, digest in entries.items():
        file = directory / name
        if not file.is_file():
            raise InputError(str(file), f"listed in {MANIFEST} but missing")
        actual = sha256_file(file)
        if actual != digest:
            raise InputError(str(file), f"sha256 {actual} does not match {digest} in {MANIFEST}")
        verified.append(file)
    for name in _listed_files(directory):
        if name not in entries:
            raise InputError(str(directory / name), f"not listed in {MANIFEST}")
    return verified
