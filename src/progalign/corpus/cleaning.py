"""Rule-based cleaning of historical text: the upstream ProgressGym rules, re-implemented from
their description (docs/semantics.md#historical-models).

The rules, applied line by line:

1. **End marker** — at the first line containing ``*** END OF THE PROJECT GUTENBERG EBOOK`` the text
   ends; that line and everything after it are dropped (licence boilerplate).
2. **Links and indexes** — a line containing ``http://``, ``INDEX`` or ``Index`` is dropped
   (case-sensitive, as upstream).
3. **Mostly non-letters** — a line in which more than 60 % of the characters are not letters
   (Unicode category other than ``L*``; spaces, digits and punctuation all count as non-letters) is
   dropped: tables, page numbers, rules, OCR debris.

and then per document:

4. **Too short** — a document with at most 200 characters left after cleaning is dropped.

Deviation from upstream, documented: a blank or whitespace-only line is kept (as an empty line)
rather than judged by rule 3 — it separates paragraphs and verse stanzas, which the chunker uses.
Leading and trailing blank lines of a document are removed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

GUTENBERG_END = "*** END OF THE PROJECT GUTENBERG EBOOK"
DROP_IF_CONTAINS = ("http://", "INDEX", "Index")
MAX_NON_LETTER_SHARE = 0.6
MIN_DOCUMENT_CHARS = 200


@dataclass
class CleaningReport:
    """Counts of what the cleaning removed (accumulated over many calls).

    Attributes:
        lines_seen: Lines examined.
        lines_dropped: Dropped lines per rule (``end-marker``, ``link-or-index``, ``non-letters``);
            ``end-marker`` counts the marker line and everything after it.
        documents_seen: Documents passed to :func:`clean_document`.
        documents_dropped: Documents dropped as too short.
    """

    lines_seen: int = 0
    lines_dropped: Counter[str] = field(default_factory=Counter)
    documents_seen: int = 0
    documents_dropped: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "lines_seen": self.lines_seen,
            "lines_dropped": dict(sorted(self.lines_dropped.items())),
            "documents_seen": self.documents_seen,
            "documents_dropped_too_short": self.documents_dropped,
        }


def non_letter_share(line: str) -> float:
    """Share of characters in ``line`` whose Unicode category is not a letter (0.0 if empty)."""
    if not line:
        return 0.0
    # str.isalpha is exactly "general category Lu, Ll, Lt, Lm or Lo" (the L* categories).
    return (len(line) - sum(map(str.isalpha, line))) / len(line)


def line_drop_reason(line: str) -> str | None:
    """Return why rule 2 or 3 drops ``line``, or None to keep it (blank lines are kept)."""
    if any(marker in line for marker in DROP_IF_CONTAINS):
        return "link-or-index"
    if line.strip() and non_letter_share(line) > MAX_NON_LETTER_SHARE:
        return "non-letters"
    return None


def clean_text(text: str, report: CleaningReport | None = None) -> str:
    """Apply the line rules (1–3) to ``text``.

    Args:
        text: Raw text; any newline convention.
        report: Optional accumulator of what was dropped.

    Returns:
        The kept lines joined by ``\\n``; whitespace-only lines become empty lines.
    """
    lines = text.splitlines()
    kept: list[str] = []
    for index, line in enumerate(lines):
        if report is not None:
            report.lines_seen += 1
        if GUTENBERG_END in line:
            if report is not None:
                remaining = len(lines) - index
                report.lines_seen += remaining - 1
                report.lines_dropped["end-marker"] += remaining
            break
        reason = line_drop_reason(line)
        if reason is not None:
            if report is not None:
                report.lines_dropped[reason] += 1
            continue
        kept.append(line if line.strip() else "")
    return "\n".join(kept)


def clean_document(text: str, report: CleaningReport | None = None) -> str | None:
    """Apply all rules to one document.

    Returns:
        The cleaned text without leading/trailing blank lines, or None when at most
        ``MIN_DOCUMENT_CHARS`` characters are left (rule 4).
    """
    return length_filter(clean_text(text, report), report)


def length_filter(text: str, report: CleaningReport | None = None) -> str | None:
    """Apply rule 4 only (for text already cleaned line by line).

    Returns:
        ``text`` without leading/trailing blank lines, or None when it has at most
        ``MIN_DOCUMENT_CHARS`` characters.
    """
    cleaned = text.strip("\n")
    if report is not None:
        report.documents_seen += 1
    if len(cleaned) <= MIN_DOCUMENT_CHARS:
        if report is not None:
            report.documents_dropped += 1
        return None
    return cleaned
