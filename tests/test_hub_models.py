"""The 36 published HistLlama3 models: ids, table, file selection, pinned verified fetch, CLI."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedata import fake_commit, fake_model
from fakehub import FakeHub
from progalign.errors import DownloadError
from progalign.hub import cli as hub_cli
from progalign.hub import transfer
from progalign.hub.download import MANIFEST
from progalign.hub.models import (
    PUBLISHED_MODELS,
    fetch_published_model,
    model_family,
    published_model_id,
    select_model_files,
)
from progalign.hub.transfer import RemoteFile
from progalign.io import read_json

pytestmark = pytest.mark.timeout(120)

COMMIT = fake_commit("hist-8b-c017")
REPO = "PKU-Alignment/ProgressGym-HistLlama3-8B-C017-instruct-v0.2"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(transfer, "RETRY_WAIT", 0.0)


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    with FakeHub([fake_model(REPO, COMMIT)]) as server:
        yield server


def test_published_ids_follow_the_spec() -> None:
    assert published_model_id("8B", "C017", "instruct") == REPO
    assert published_model_id("70b", 13, "pretrain") == (
        "PKU-Alignment/ProgressGym-HistLlama3-70B-C013-pretrain-v0.1"
    )
    assert published_model_id("8B", "c021", "Pretrain").endswith("-8B-C021-pretrain-v0.2")
    pattern = re.compile(
        r"^PKU-Alignment/ProgressGym-HistLlama3-(8B|70B)-C0(1[3-9]|2[01])-"
        r"(pretrain|instruct)-v0\.(2|1)$"
    )
    ids = [m.repo_id for m in PUBLISHED_MODELS.values()]
    assert len(ids) == len(set(ids)) == 36
    for (size, _century, _kind), model in PUBLISHED_MODELS.items():
        assert pattern.match(model.repo_id)
        assert model.repo_id.endswith("v0.2" if size == "8B" else "v0.1")


@pytest.mark.parametrize(
    "args",
    [
        ("13B", "C017", "instruct"),
        ("8B", "C012", "instruct"),
        ("8B", "C022", "pretrain"),
        ("8B", "C017", "chat"),
    ],
)
def test_invalid_model_coordinates_are_refused(args: tuple[str, str, str]) -> None:
    with pytest.raises(DownloadError):
        published_model_id(*args)


def test_model_family() -> None:
    assert model_family("8B", "instruct") == "histllama3-8b-instruct"
    assert PUBLISHED_MODELS[("70B", "C015", "pretrain")].family == "histllama3-70b-pretrain"


def test_select_model_files_keeps_one_weight_format() -> None:
    names = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "pytorch_model.bin",
        "training_args.bin",
        "tokenizer.json",
        "tokenizer.model",
        "README.md",
        "original/consolidated.00.pth",
        "checkpoint-10/model.safetensors",
        "run.py",
        "LICENSE",
        "model.safetensors.index.json",
    ]
    files = [RemoteFile(n, 1, None, "x") for n in names]
    assert [f.path for f in select_model_files(files)] == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "tokenizer.json",
        "tokenizer.model",
        "README.md",
        "LICENSE",
        "model.safetensors.index.json",
    ]
    bin_only = [f for f in files if not f.path.endswith(".safetensors")]
    assert "pytorch_model.bin" in [f.path for f in select_model_files(bin_only)]


def test_fetch_published_model(hub: FakeHub, tmp_path: Path) -> None:
    out = fetch_published_model(
        "8B",
        "C017",
        "instruct",
        tmp_path / "models",
        revision=COMMIT,
        endpoint=hub.endpoint,
        progress=False,
    )
    assert out == tmp_path / "models" / "histllama3-8b-instruct" / "C017"
    repo = hub.repos[("model", REPO)]
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        MANIFEST,
    } <= names
    assert "training_args.bin" not in names and "checkpoint-100" not in names
    for name in names - {MANIFEST}:
        assert (out / name).read_bytes() == repo.files[name]
    manifest = read_json(out / MANIFEST)
    assert manifest["repo_id"] == REPO and manifest["revision"] == COMMIT
    assert not hub.requests(contains="training_args.bin")
    before = len(hub.log)  # a rerun transfers nothing
    fetch_published_model(
        "8B",
        "C017",
        "instruct",
        tmp_path / "models",
        revision=COMMIT,
        endpoint=hub.endpoint,
        progress=False,
    )
    assert not [r for r in hub.log[before:] if r["method"] == "HEAD"]


def test_fetch_published_model_resumes_and_verifies(hub: FakeHub, tmp_path: Path) -> None:
    shard = "model-00002-of-00002.safetensors"
    hub.faults.drop_after[shard] = 70_000
    hub.faults.drop_times[shard] = 1
    hub.faults.corrupt_times["model-00001-of-00002.safetensors"] = 1
    out = fetch_published_model(
        "8B",
        "C017",
        "instruct",
        tmp_path / "models",
        revision=COMMIT,
        endpoint=hub.endpoint,
        progress=False,
    )
    assert (out / shard).read_bytes() == hub.repos[("model", REPO)].files[shard]
    assert [r["range"] for r in hub.requests("GET", "/cdn/") if r["sent"] > 10_000] == [
        None,
        None,
        None,
        "bytes=70000-",
    ]


def test_fetch_published_model_needs_a_revision(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no pinned revision is known"):
        fetch_published_model("8B", "C017", "instruct", tmp_path, endpoint=hub.endpoint)
    with pytest.raises(DownloadError, match="not a full 40-hex commit"):
        fetch_published_model(
            "8B", "C017", "instruct", tmp_path, revision="main", endpoint=hub.endpoint
        )
    out = fetch_published_model(
        "8B",
        "C017",
        "instruct",
        tmp_path / "m",
        endpoint=hub.endpoint,
        allow_unpinned=True,
        progress=False,
    )
    assert read_json(out / MANIFEST)["revision"] == COMMIT


def test_fetch_refuses_a_repo_that_is_not_a_model(tmp_path: Path) -> None:
    repo = fake_model(REPO, COMMIT)
    del repo.files["config.json"]
    with FakeHub([repo]) as hub, pytest.raises(DownloadError, match=r"config\.json"):
        fetch_published_model(
            "8B", "C017", "instruct", tmp_path, revision=COMMIT, endpoint=hub.endpoint
        )


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    hub_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_fetch_model_and_list(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(
        [
            "hub",
            "fetch-model",
            "--size",
            "8B",
            "--century",
            "C017",
            "--kind",
            "instruct",
            "--revision",
            COMMIT,
            "--out-root",
            str(tmp_path / "models"),
            "--endpoint",
            hub.endpoint,
            "--no-progress",
        ]
    )
    assert code == 0
    assert (tmp_path / "models" / "histllama3-8b-instruct" / "C017" / "config.json").is_file()
    assert run_cli(["hub", "list-models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(lines) == 36 and REPO in "\n".join(lines)


def test_main_reports_refusal_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from progalign.cli import main

    code = main(
        [
            "hub",
            "fetch-model",
            "--size",
            "8B",
            "--century",
            "C017",
            "--kind",
            "instruct",
            "--revision",
            "main",
            "--out-root",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "not a full 40-hex commit" in capsys.readouterr().err
