"""Per-century statistics: numbers computed by hand on a small corpus; the ``stats`` CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from progalign.cli import main
from progalign.corpus.records import write_corpus
from progalign.corpus.stats import CenturyStats, directory_stats, to_csv, to_markdown


def rec(content: str, year: int, source: str, title: str | None = None) -> dict[str, object]:
    row: dict[str, object] = {
        "content": content,
        "creation_year": year,
        "source_dataset": "t",
        "license": "public-domain",
        "source": source,
    }
    if title is not None:
        row["title"] = title
    return row


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    # C017: 3 documents, 2 + 3 + 4 = 9 words, 2 sources, 3 works (a, b from src1; c from src2).
    # C019: 1 document, 5 words, 1 source, 1 work (no title).
    rows = [
        rec("thou art", 1611, "src1==1", "a"),
        rec("to be or", 1601, "src1==1", "b"),
        rec("hear ye hear ye", 1650, "src2==1", "c"),
        rec("we the people of", 1850, "src3==1"),
    ]
    rows[3]["content"] = "we the people of\nthe"  # newline separates words too
    write_corpus(tmp_path / "corpus", rows)
    return tmp_path / "corpus"


def test_numbers_by_hand(small_corpus: Path) -> None:
    table, skipped = directory_stats(small_corpus)
    assert not skipped
    assert table == [
        CenturyStats("C017", 3, 9, 8 + 8 + 15, 2, 3, 1601, 1650),
        CenturyStats("C019", 1, 5, 20, 1, 1, 1850, 1850),
        CenturyStats("total", 4, 14, 51, 3, 4, 1601, 1850),
    ]


def test_markdown_and_csv(small_corpus: Path) -> None:
    table, _ = directory_stats(small_corpus)
    markdown = to_markdown(table)
    lines = markdown.splitlines()
    assert lines[0] == (
        "| century | documents | words | characters | sources | works | first_year | last_year |"
    )
    assert lines[2] == "| C017 | 3 | 9 | 31 | 2 | 3 | 1601 | 1650 |"
    assert lines[-1] == "| total | 4 | 14 | 51 | 3 | 4 | 1601 | 1850 |"
    rows = list(csv.DictReader(to_csv(table).splitlines()))
    assert rows[1] == {
        "century": "C019",
        "documents": "1",
        "words": "5",
        "characters": "20",
        "sources": "1",
        "works": "1",
        "first_year": "1850",
        "last_year": "1850",
    }


def test_cli_prints_table_and_writes_csv(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stats.csv"
    assert main(["corpus", "stats", str(small_corpus), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| C019 | 1 | 5 | 20 | 1 | 1 | 1850 | 1850 |" in printed
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("century,documents,words")


def test_cli_reports_invalid_record_cleanly(
    small_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = small_corpus / "C017.jsonl"
    with bad.open("a", encoding="utf-8") as handle:
        handle.write(
            json.dumps({"content": "no year", "source_dataset": "t", "license": "x", "source": "s"})
            + "\n"
        )
    assert main(["corpus", "stats", str(small_corpus)]) == 2
    error = capsys.readouterr().err
    assert "C017.jsonl, row 4" in error and "creation_year" in error
    assert main(["corpus", "stats", str(small_corpus), "--skip-invalid"]) == 0
    captured = capsys.readouterr()
    assert "| C017 | 3 | 9 |" in captured.out
    assert "missing-field: 1" in captured.err


def test_cli_non_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "C018.jsonl").write_bytes(b"\xff\xfe\n")
    assert main(["corpus", "stats", str(tmp_path)]) == 2
    assert "C018.jsonl, row 1: not valid UTF-8" in capsys.readouterr().err
