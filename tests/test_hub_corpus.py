"""HistText: century/budget selection, streaming conversion, fetch into C0cc.jsonl, CLI."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedata import fake_commit, fake_histtext
from fakehub import FakeHub
from progalign.errors import DownloadError, InputError
from progalign.hub import cli as hub_cli
from progalign.hub import transfer
from progalign.hub.corpus import (
    HISTTEXT_REPO,
    fetch_corpus,
    iter_json_list,
    parse_centuries,
    select_corpus_files,
)
from progalign.hub.transfer import RemoteFile
from progalign.io import read_json, read_jsonl

pytestmark = pytest.mark.timeout(120)

COMMIT = fake_commit("histtext")
KEYS = {"content", "creation_year", "source_dataset", "source", "license"}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(transfer, "RETRY_WAIT", 0.0)


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    with FakeHub([fake_histtext(COMMIT)]) as server:
        yield server


def rf(path: str, size: int) -> RemoteFile:
    return RemoteFile(path, size, "0" * 64, None)


def fetched_paths(hub: FakeHub) -> set[str]:
    return {r["path"].split(f"/resolve/{COMMIT}/")[1] for r in hub.requests("HEAD", "/resolve/")}


def test_parse_centuries() -> None:
    assert parse_centuries("c018, C017") == ["C017", "C018"]
    assert parse_centuries([17, "C021"]) == ["C017", "C021"]
    assert parse_centuries(None) is None
    with pytest.raises(DownloadError, match="'1700s'"):
        parse_centuries("1700s")


def test_selection_by_century_ignores_other_files() -> None:
    listing = [
        rf("README.md", 5),
        rf("C016/Y01520.json", 10),
        rf("C017/Y01650.json", 10),
        rf("C017/Y01605.json", 10),
        rf("C017/undated.json", 10),
        rf("C018/Y01711.json", 9),
    ]
    picked = select_corpus_files(listing, ["C017"])
    assert {c: [f.path for f in fs] for c, fs in picked.items()} == {
        "C017": ["C017/Y01605.json", "C017/Y01650.json"]
    }
    assert list(select_corpus_files(listing)) == ["C016", "C017", "C018"]
    with pytest.raises(DownloadError, match=r"\['C013'\].*available"):
        select_corpus_files(listing, ["C013", "C017"])


def test_budget_is_balanced_across_centuries_and_deterministic() -> None:
    listing = [rf(f"C016/Y0{y}.json", 100) for y in (1510, 1520, 1530)]
    listing += [rf(f"C017/Y0{y}.json", 100) for y in (1610, 1620, 1630, 1640)]
    picked = select_corpus_files(listing, ["C016", "C017"], max_bytes=300)
    sizes = {c: sum(f.size for f in fs) for c, fs in picked.items()}
    assert sizes == {"C016": 200, "C017": 100}  # the lighter century is served first
    assert picked == select_corpus_files(list(reversed(listing)), ["C016", "C017"], 300)
    picked = select_corpus_files(listing, ["C016", "C017"], max_bytes=250)
    assert {c: len(fs) for c, fs in picked.items()} == {"C016": 1, "C017": 1}
    assert select_corpus_files(listing, None, max_bytes=10**9) == select_corpus_files(listing)


def test_budget_skips_files_that_do_not_fit_and_never_exceeds_it() -> None:
    listing = [
        rf("C018/Y01700.json", 900),
        rf("C018/Y01750.json", 50),
        rf("C019/Y01850.json", 500),
        rf("C019/Y01860.json", 60),
    ]
    for budget in (0, 49, 50, 110, 560, 610, 1000, 1510):
        picked = select_corpus_files(listing, max_bytes=budget)
        total = sum(f.size for fs in picked.values() for f in fs)
        assert total <= budget
    picked = select_corpus_files(listing, max_bytes=110)
    assert [f.path for fs in picked.values() for f in fs] == [
        "C018/Y01750.json",
        "C019/Y01860.json",
    ]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_iter_json_list_matches_json_load(tmp_path: Path, chunk: int) -> None:
    text = 'ſome olde téxt, with [brackets] and "quotes"' * 5
    items = [
        {"content": text, "creation_year": 1605},
        {"nested": {"a": [1, 2, {"b": None}]}, "n": 12345678},
        123456,
        -7.5e3,
        "s",
        True,
        [],
        {},
    ]
    path = tmp_path / "x.json"
    path.write_text(" \n" + json.dumps(items, indent=2) + "\n", encoding="utf-8")
    assert list(iter_json_list(path, chunk=chunk)) == items
    path.write_text("[]", encoding="utf-8")
    assert list(iter_json_list(path, chunk=chunk)) == []


@pytest.mark.parametrize(
    "text", ['{"a": 1}', "", '[{"a": 1},', '[{"a": 1} {"b": 2}]', '[{"a": tru}]']
)
def test_iter_json_list_rejects_malformed_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.json"):
        list(iter_json_list(path, chunk=4))


def test_fetch_corpus_selected_centuries(hub: FakeHub, tmp_path: Path) -> None:
    out = fetch_corpus(
        tmp_path / "corpus",
        revision=COMMIT,
        centuries="C017,C018",
        endpoint=hub.endpoint,
        progress=False,
    )
    assert sorted(p.name for p in out.iterdir()) == ["C017.jsonl", "C018.jsonl", "manifest.json"]
    assert fetched_paths(hub) == {
        "C017/Y01605.json",
        "C017/Y01650.json",
        "C017/Y01690.json",
        "C018/Y01711.json",
        "C018/Y01776.json",
    }
    repo = hub.repos[("dataset", HISTTEXT_REPO)]
    rows = read_jsonl(out / "C017.jsonl")
    expected = [
        r
        for p in ("C017/Y01605.json", "C017/Y01650.json", "C017/Y01690.json")
        for r in json.loads(repo.files[p])
    ]
    assert [r["content"] for r in rows] == [r["content"] for r in expected]
    assert all(set(r) == KEYS and r["license"] == "CC-BY-4.0" for r in rows)
    assert rows[0]["source"] == f"hf://datasets/{HISTTEXT_REPO}@{COMMIT}/C017/Y01605.json"
    assert {r["creation_year"] for r in rows} == {1605, 1650, 1690}
    manifest = read_json(out / "manifest.json")
    assert manifest["revision"] == COMMIT and manifest["centuries"]["C017"]["records"] == 9


def test_fetch_corpus_with_budget_fetches_only_the_chosen_files(
    hub: FakeHub, tmp_path: Path
) -> None:
    repo = hub.repos[("dataset", HISTTEXT_REPO)]
    sizes = {p: len(d) for p, d in repo.files.items()}
    budget = sizes["C017/Y01605.json"] + sizes["C018/Y01711.json"] + 100
    out = fetch_corpus(
        tmp_path / "corpus",
        revision=COMMIT,
        centuries=["C017", "C018"],
        max_bytes=budget,
        endpoint=hub.endpoint,
        progress=False,
    )
    manifest = read_json(out / "manifest.json")
    chosen = {f["path"] for c in manifest["centuries"].values() for f in c["files"]}
    assert fetched_paths(hub) == chosen
    assert sum(sizes[p] for p in chosen) <= budget
    assert {p.split("/")[0] for p in chosen} == {"C017", "C018"}
    with pytest.raises(DownloadError, match="smaller than every year file"):
        fetch_corpus(tmp_path / "tiny", revision=COMMIT, max_bytes=10, endpoint=hub.endpoint)
    assert not (tmp_path / "tiny").exists()


def test_fetch_corpus_skips_and_counts_bad_records(tmp_path: Path) -> None:
    records = [
        {"content": "ok", "creation_year": 1650, "source_dataset": "EEBO"},
        {"content": "", "creation_year": 1650},
        {"content": "x", "creation_year": "1650"},
        {"content": "x", "creation_year": 1750},
        ["not", "a", "dict"],
    ]
    repo = fake_histtext(COMMIT, {"C017": [1650]})
    repo.files["C017/Y01650.json"] = json.dumps(records).encode()
    with FakeHub([repo]) as hub:
        out = fetch_corpus(tmp_path / "c", revision=COMMIT, endpoint=hub.endpoint, progress=False)
    assert [r["content"] for r in read_jsonl(out / "C017.jsonl")] == ["ok"]
    assert sum(read_json(out / "manifest.json")["centuries"]["C017"]["skipped"].values()) == 4


def test_fetch_corpus_needs_a_pinned_revision(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no revision given"):
        fetch_corpus(tmp_path / "c", endpoint=hub.endpoint)
    with pytest.raises(DownloadError, match="not a full 40-hex commit"):
        fetch_corpus(tmp_path / "c", revision="main", endpoint=hub.endpoint)
    assert hub.log == []


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    hub_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_fetch_corpus(hub: FakeHub, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    code = run_cli(
        [
            "hub",
            "fetch-corpus",
            "--revision",
            COMMIT,
            "--centuries",
            "C016",
            "--max-bytes",
            "1M",
            "--out",
            str(out),
            "--endpoint",
            hub.endpoint,
            "--no-progress",
        ]
    )
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["C016.jsonl", "manifest.json"]


def test_parse_bytes() -> None:
    assert hub_cli.parse_bytes("123") == 123
    assert hub_cli.parse_bytes("2G") == 2 * 10**9
    assert hub_cli.parse_bytes("1.5GiB") == 3 * 2**29
    assert hub_cli.parse_bytes("500mb") == 500 * 10**6
    with pytest.raises(argparse.ArgumentTypeError):
        hub_cli.parse_bytes("lots")


def test_iter_json_list_random_documents(tmp_path: Path) -> None:
    import random

    rng = random.Random(0)
    scalars = [0, -1, 1e10, -0.5e-3, 12345, True, False, None, "", "a,]b", "ünï"]
    path = tmp_path / "r.json"
    for trial in range(60):
        items = [
            rng.choice(scalars)
            if rng.random() < 0.4
            else {"k": rng.choice(scalars), "l": [rng.choice(scalars)] * rng.randint(0, 3)}
            for _ in range(rng.randint(0, 8))
        ]
        text = json.dumps(
            items, indent=rng.choice([None, 1]), separators=rng.choice([(",", ":"), (", ", ": ")])
        )
        path.write_text(text, encoding="utf-8")
        assert list(iter_json_list(path, chunk=1 + trial % 9)) == items
