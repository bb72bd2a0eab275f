"""Corpus record format: century binning, validation errors and skips, century-file IO."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from progalign.corpus.records import (
    MIN_YEAR,
    RecordError,
    century_label,
    century_of,
    check_record,
    max_year,
    read_corpus,
    read_corpus_file,
    write_corpus,
)
from progalign.errors import InputError


def record(year: object = 1611, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "content": "In the beginning was the word.",
        "creation_year": year,
        "source_dataset": "test",
        "license": "public-domain",
        "source": "pkg==1.0",
    }
    row.update(extra)
    return row


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("year", "label"),
    [
        (1200, "C013"),
        (1299, "C013"),
        (1300, "C014"),
        (1390, "C014"),
        (1599, "C016"),
        (1600, "C017"),
        (1611, "C017"),
        (1999, "C020"),
        (2000, "C021"),
        (2001, "C021"),
    ],
)
def test_century_binning_follows_upstream_rule(year: int, label: str) -> None:
    assert century_label(year) == label
    assert century_of(year) == year // 100 + 1


def test_valid_record_passes() -> None:
    check_record(record(extra_field="kept"))


@pytest.mark.parametrize(
    "field", ["content", "creation_year", "source_dataset", "license", "source"]
)
def test_missing_field_is_named(field: str) -> None:
    row = record()
    del row[field]
    with pytest.raises(RecordError) as info:
        check_record(row)
    assert info.value.reason == "missing-field"
    assert info.value.field == field


@pytest.mark.parametrize("year", ["1611", 1611.0, True, None])
def test_year_must_be_an_int(year: object) -> None:
    with pytest.raises(RecordError) as info:
        check_record(record(year))
    assert info.value.field == "creation_year"


@pytest.mark.parametrize("year", [MIN_YEAR - 1, 1100, max_year() + 1])
def test_year_out_of_range(year: int) -> None:
    with pytest.raises(RecordError) as info:
        check_record(record(year))
    assert info.value.reason == "year-out-of-range"
    assert str(year) in str(info.value)


def test_empty_content_rejected() -> None:
    with pytest.raises(RecordError, match="empty"):
        check_record(record(content="   \n"))


def test_missing_year_in_file_names_file_line_and_field(tmp_path: Path) -> None:
    row = record()
    del row["creation_year"]
    path = write_lines(tmp_path / "C017.jsonl", [record(), row])
    with pytest.raises(InputError) as info:
        read_corpus_file(path)
    message = str(info.value)
    assert str(path) in message and "row 2" in message and "creation_year" in message


def test_out_of_range_year_in_file_is_an_error_by_default(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "C012.jsonl", [record(1150)])
    with pytest.raises(InputError, match=r"row 1.*outside"):
        read_corpus_file(path)


def test_skip_mode_logs_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    no_year = record()
    del no_year["creation_year"]
    path = write_lines(
        tmp_path / "C017.jsonl", [record(), no_year, record(1100), record(1750), record(1650)]
    )
    skipped: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING):
        rows = read_corpus_file(path, on_invalid="skip", skipped=skipped)
    assert [r["creation_year"] for r in rows] == [1611, 1650]
    assert skipped == {"missing-field": 1, "year-out-of-range": 1, "wrong-century-file": 1}
    assert "row 2" in caplog.text and "row 4" in caplog.text


def test_non_utf8_file_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "C017.jsonl"
    good = json.dumps(record()).encode()
    path.write_bytes(good + b"\n" + b'{"content": "caf\xe9"}\n')
    for mode in ("error", "skip"):
        with pytest.raises(InputError) as info:
            read_corpus_file(path, on_invalid=mode)  # type: ignore[arg-type]
        assert "row 2" in str(info.value) and "UTF-8" in str(info.value)
        assert str(path) in str(info.value)


def test_invalid_json_and_non_object(tmp_path: Path) -> None:
    bad = tmp_path / "C017.jsonl"
    bad.write_text('{"content": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1.*invalid JSON"):
        read_corpus_file(bad)
    listed = write_lines(tmp_path / "C016.jsonl", [[1, 2]])
    with pytest.raises(InputError, match="JSON object"):
        read_corpus_file(listed)


def test_write_and_read_roundtrip(tmp_path: Path) -> None:
    rows = [record(1611), record(1390), record(2000), record(1650, content="Second C017 text.")]
    counts = write_corpus(tmp_path, rows)
    assert counts == {"C014": 1, "C017": 2, "C021": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C014.jsonl", "C017.jsonl", "C021.jsonl"]
    corpus = read_corpus(tmp_path)
    assert [r["creation_year"] for r in corpus["C017"]] == [1611, 1650]


def test_write_rejects_invalid_records(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="record 1"):
        write_corpus(tmp_path / "out", [record(), record(1000)])
    assert not (tmp_path / "out").exists()


def test_read_corpus_needs_century_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no century files"):
        read_corpus(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        read_corpus(tmp_path / "missing")
