"""Rule-based cleaning (docs/semantics.md#historical-models): hand-made inputs and expected
outputs."""

from __future__ import annotations

import pytest

from progalign.corpus.cleaning import (
    CleaningReport,
    clean_document,
    clean_text,
    length_filter,
    non_letter_share,
)

PROSE = "It was the best of times, it was the worst of times, it was the age of wisdom"


def test_stops_at_gutenberg_end_marker() -> None:
    text = (
        "First line of the book\nSecond line\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence"
    )
    report = CleaningReport()
    assert clean_text(text, report) == "First line of the book\nSecond line"
    assert report.lines_dropped["end-marker"] == 2
    assert report.lines_seen == 4


def test_end_marker_is_case_sensitive_like_upstream() -> None:
    assert clean_text("*** end of the project gutenberg ebook\nkept") == (
        "*** end of the project gutenberg ebook\nkept"
    )


@pytest.mark.parametrize(
    "line",
    ["see http://www.gutenberg.org for more", "INDEX OF FIRST LINES", "General Index", "Index"],
)
def test_drops_link_and_index_lines(line: str) -> None:
    assert clean_text(f"keep me\n{line}\nand me") == "keep me\nand me"


def test_lowercase_index_and_https_are_kept() -> None:
    # Only the literal markers of the upstream rule are matched.
    text = "the index finger\nsee https://example.org today"
    assert clean_text(text) == text


def test_non_letter_share_counts_everything_but_letters() -> None:
    assert non_letter_share("") == 0.0
    assert non_letter_share("abcd") == 0.0
    assert non_letter_share("ab 1") == 0.5  # space and digit are non-letters
    assert non_letter_share("Æþé—") == 0.25  # non-ASCII letters are letters


def test_drops_lines_with_more_than_60_percent_non_letters() -> None:
    kept_at_boundary = "ab..."  # exactly 60 % non-letters: kept (rule is "exceeds")
    dropped = "ab...."  # 66.7 %
    text = "\n".join(["Chapter One", "123  456  789", kept_at_boundary, dropped, "----", "Ber."])
    report = CleaningReport()
    assert clean_text(text, report) == "Chapter One\nab...\nBer."
    assert report.lines_dropped["non-letters"] == 3


def test_blank_lines_are_kept_and_normalised() -> None:
    assert clean_text("Para one\n   \nPara two\r\n\r\nPara three") == (
        "Para one\n\nPara two\n\nPara three"
    )


def test_document_of_200_chars_or_less_is_dropped() -> None:
    report = CleaningReport()
    assert clean_document("x" * 200, report) is None
    assert clean_document("x" * 201, report) == "x" * 201
    assert report.documents_seen == 2 and report.documents_dropped == 1


def test_length_counts_after_cleaning() -> None:
    # 150 letters of prose plus a long numeric table: the table goes, the rest is too short.
    text = PROSE[:75] + "\n" + "1 2 3 4 5 6 7 8 9 " * 20 + "\n" + PROSE[:75]
    assert clean_document(text) is None


def test_document_trims_outer_blank_lines() -> None:
    body = "\n".join([PROSE] * 4)
    assert clean_document("\n\n" + body + "\n\n") == body
    assert length_filter("\n" + body + "\n") == body


def test_report_as_dict() -> None:
    report = CleaningReport()
    clean_document("Index\n" + PROSE * 4, report)
    summary = report.as_dict()
    assert summary["lines_dropped"] == {"link-or-index": 1}
    assert summary["documents_seen"] == 1
