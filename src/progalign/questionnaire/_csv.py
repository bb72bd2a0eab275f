"""CSV primitives shared by the questionnaire loaders: reading with line numbers, cleaning cells.

Row numbers are 1-based lines as an editor shows them (the header is row 1); a record that spans
several lines is numbered by its first line.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from progalign.errors import InputError
from progalign.io import sha256_bytes

log = logging.getLogger("progalign.questionnaire.loaders")

_QUOTES = '"“”'
_EDGE_QUOTES = re.compile(r"""^(["“”]*)([^"“”]*?)(["“”]*)$""", re.DOTALL)


@dataclass(frozen=True)
class Decision:
    """One change the loader made to the data (written to the questionnaire metadata).

    Attributes:
        file: The CSV name.
        row: 1-based line of the record (header = 1).
        item_id: The scenario id concerned.
        action: ``dropped``, ``renamed``, ``normalised``, ``cleaned``, ``repaired`` or ``flagged``.
        reason: A human-readable explanation.
    """

    file: str
    row: int
    item_id: str
    action: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def clean_text(value: str) -> str:
    """Strip surrounding whitespace and stray quote characters from one CSV cell.

    Double quotes are removed only where no double quote occurs inside the text, so quoted speech
    within a sentence is kept; single quotes only where they wrap the whole text.
    """
    text = value
    while True:
        before = text
        text = text.strip()
        if text.endswith(";"):  # a list separator left over from generation, never sentence-final
            text = text[:-1]
        if text.startswith(","):
            text = text[1:]
        if len(text) > 3 and text[0] == "(" and text[-1] == ")" and text[1] in _QUOTES:
            text = text[1:-1]
        if len(text) > 1 and text[0] == text[-1] == "'":
            text = text[1:-1]
        match = _EDGE_QUOTES.match(text)
        if match and (match.group(1) or match.group(3)):
            text = match.group(2)
        if text == before:
            return text


@dataclass
class Table:
    """A parsed CSV: stripped header names and rows with their start lines."""

    name: str
    sha256: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]


class CsvSyntaxError(Exception):
    """The CSV module rejected a record (``line`` = where that record starts)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def unbalanced_quotes(text: str) -> bool:
    """True if ``text`` has an odd number of straight double quotes or unpaired curly ones."""
    return text.count('"') % 2 == 1 or text.count("“") != text.count("”")


def records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Split CSV text into records with the 1-based line on which each record starts.

    Raises:
        CsvSyntaxError: on malformed quoting.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    out: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            raise CsvSyntaxError(start, str(exc)) from None
        if cells:
            out.append((start, cells))
        start = reader.line_num + 1


def decode(data: bytes, name: str, delimiter: str = ",") -> str:
    """Decode UTF-8 (optional BOM); on bad bytes raise ``InputError`` naming row and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lossy = data.decode("utf-8-sig", errors="surrogateescape")
        line, column = data[: exc.start].count(b"\n") + 1, None
        try:
            parsed = records(lossy, delimiter)
        except CsvSyntaxError:
            parsed = []
        header = parsed[0][1] if parsed else []
        for start, cells in parsed:
            bad = [i for i, c in enumerate(cells) if re.search("[\udc80-\udcff]", c)]
            if bad:
                line = start
                column = header[bad[0]].strip() if bad[0] < len(header) else f"#{bad[0] + 1}"
                break
        raise InputError(name, "not valid UTF-8 text", row=line, column=column) from None


def read_table(data: bytes, name: str, delimiter: str = ",") -> Table:
    """Parse CSV bytes; every record must have as many fields as the header."""
    text = decode(data, name, delimiter)
    try:
        parsed = records(text, delimiter)
    except CsvSyntaxError as exc:
        raise InputError(name, f"malformed CSV ({exc})", row=exc.line) from None
    if not parsed or not text.strip():
        raise InputError(name, "the file is empty", row=1)
    header = [h.strip() for h in parsed[0][1]]
    if len(parsed) < 2:
        raise InputError(name, "the file has a header but no data rows", row=1)
    rows = []
    for line, cells in parsed[1:]:
        if len(cells) != len(header):
            raise InputError(name, f"{len(cells)} fields, but the header has {len(header)}", line)
        rows.append((line, dict(zip(header, cells, strict=False))))
    return Table(name, sha256_bytes(data), header, rows)


def require(table: Table, columns: list[str]) -> None:
    """Raise ``InputError`` (row 1) naming the first missing column."""
    missing = [c for c in columns if c not in table.header]
    if missing:
        raise InputError(table.name, f"missing column(s) {', '.join(missing)}", 1, missing[0])


def note(decisions: list[Decision], decision: Decision, level: int = logging.WARNING) -> None:
    """Record ``decision`` and log it."""
    decisions.append(decision)
    log.log(
        level,
        "%s row %d (%s): %s: %s",
        decision.file,
        decision.row,
        decision.item_id,
        decision.action,
        decision.reason,
    )
