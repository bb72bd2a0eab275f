"""Per-century corpus statistics, as a Markdown table or CSV.

Definitions: *documents* = records; *words* = whitespace-separated tokens of ``content``
(``len(content.split())``); *characters* = ``len(content)``; *sources* = distinct ``source``
values (``package==version`` or ``URL@revision``); *works* = distinct (``source``, ``title``)
pairs (records without a title count as one work per source); *first/last year* = the range of
``creation_year``.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from progalign.corpus.records import OnInvalid, read_corpus
from progalign.io import write_text

COLUMNS = (
    "century",
    "documents",
    "words",
    "characters",
    "sources",
    "works",
    "first_year",
    "last_year",
)


@dataclass(frozen=True)
class CenturyStats:
    """Statistics of one century (or of the whole corpus, with ``century="total"``)."""

    century: str
    documents: int
    words: int
    characters: int
    sources: int
    works: int
    first_year: int | None
    last_year: int | None


def word_count(text: str) -> int:
    """Number of whitespace-separated tokens in ``text``."""
    return len(text.split())


def summarize(century: str, records: Iterable[Mapping[str, Any]]) -> CenturyStats:
    """Compute the statistics of a group of records."""
    rows = list(records)
    years = [int(row["creation_year"]) for row in rows]
    return CenturyStats(
        century=century,
        documents=len(rows),
        words=sum(word_count(row["content"]) for row in rows),
        characters=sum(len(row["content"]) for row in rows),
        sources=len({row["source"] for row in rows}),
        works=len({(row["source"], row.get("title")) for row in rows}),
        first_year=min(years) if years else None,
        last_year=max(years) if years else None,
    )


def corpus_stats(corpus: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[CenturyStats]:
    """Statistics per century plus a final ``total`` row.

    Args:
        corpus: ``{"C0cc": records}``.
    """
    groups = {label: list(rows) for label, rows in corpus.items()}
    table = [summarize(label, groups[label]) for label in sorted(groups)]
    table.append(summarize("total", [row for label in sorted(groups) for row in groups[label]]))
    return table


def directory_stats(
    directory: str | os.PathLike[str], on_invalid: OnInvalid = "error"
) -> tuple[list[CenturyStats], Counter[str]]:
    """Read a corpus directory (validating it) and compute its statistics.

    Returns:
        The table and the per-reason counts of skipped records (empty unless ``on_invalid="skip"``).
    """
    skipped: Counter[str] = Counter()
    corpus = read_corpus(directory, on_invalid=on_invalid, skipped=skipped)
    return corpus_stats(corpus), skipped


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def to_markdown(table: Iterable[CenturyStats]) -> str:
    """Render the table as GitHub-flavoured Markdown (numbers right-aligned)."""
    rows = [[_cell(value) for value in asdict(stats).values()] for stats in table]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" + "|---:" * (len(COLUMNS) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(table: Iterable[CenturyStats]) -> str:
    """Render the table as CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for stats in table:
        writer.writerow([_cell(value) for value in asdict(stats).values()])
    return buffer.getvalue()


def write_csv(table: Iterable[CenturyStats], path: str | os.PathLike[str]) -> None:
    """Write the table as CSV, atomically."""
    write_text(path, to_csv(table))
