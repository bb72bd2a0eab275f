"""Pinned, verified, resumable, atomic Hub downloads against a local Hub emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from fakedata import fake_commit, fake_model
from fakehub import FakeHub
from progalign.errors import DownloadError
from progalign.hub import transfer
from progalign.hub.download import MANIFEST, download_repo_files, repo_cache, resolve_endpoint
from progalign.hub.transfer import RepoRef
from progalign.io import read_json

pytestmark = pytest.mark.timeout(120)

REPO = "PKU-Alignment/ProgressGym-HistLlama3-8B-C017-instruct-v0.2"
COMMIT = fake_commit("model")
SHARD = "model-00001-of-00002.safetensors"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(transfer, "RETRY_WAIT", 0.0)


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    with FakeHub([fake_model(REPO, COMMIT)]) as server:
        yield server


def blob_gets(hub: FakeHub, name: str = SHARD) -> list[dict[str, object]]:
    sha = hub.repos[("model", REPO)].info(COMMIT)
    lfs = {s["rfilename"]: s["lfs"]["sha256"] for s in sha["siblings"] if "lfs" in s}
    return hub.requests("GET", f"/cdn/{lfs[name]}")


def cache_of() -> Path:
    return repo_cache(RepoRef(REPO, "model", COMMIT, ""))


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def no_output(folder: Path, name: str = "m") -> bool:
    """Neither the output folder nor its temporary sibling exists."""
    return not [p for p in folder.iterdir() if p.name == name or p.name.startswith(f".{name}.")]


def test_full_download_verified_and_manifest(hub: FakeHub, tmp_path: Path) -> None:
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
    )
    repo = hub.repos[("model", REPO)]
    for path, data in repo.files.items():
        assert (out / path).read_bytes() == data
    manifest = read_json(out / MANIFEST)
    assert manifest["revision"] == COMMIT and manifest["repo_id"] == REPO
    assert {f["path"] for f in manifest["files"]} == set(repo.files)
    assert hub.requests("GET", "/api/models/")[0]["path"].endswith(f"/revision/{COMMIT}")
    # a second call finds the folder complete and transfers nothing
    before = len(hub.log)
    download_repo_files(REPO, "model", COMMIT, out, endpoint=hub.endpoint, progress=False)
    assert not [r for r in hub.log[before:] if "/resolve/" in r["path"] or "/cdn/" in r["path"]]


def test_allow_patterns_and_max_bytes(hub: FakeHub, tmp_path: Path) -> None:
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "cfg", ["*.json"], endpoint=hub.endpoint, progress=False
    )
    assert SHARD not in visible(out) and "config.json" in visible(out)
    with pytest.raises(DownloadError, match="max_bytes"):
        download_repo_files(
            REPO,
            "model",
            COMMIT,
            tmp_path / "big",
            endpoint=hub.endpoint,
            max_bytes=1000,
            progress=False,
        )
    assert not (tmp_path / "big").exists()
    with pytest.raises(DownloadError, match="no file matches"):
        download_repo_files(
            REPO,
            "model",
            COMMIT,
            tmp_path / "none",
            ["*.gguf"],
            endpoint=hub.endpoint,
            progress=False,
        )


def test_endpoint_from_environment(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/")
    assert resolve_endpoint() == hub.endpoint
    download_repo_files(REPO, "model", COMMIT, tmp_path / "m", ["config.json"], progress=False)
    assert hub.requests("HEAD", "config.json")


def test_dropped_connection_resumes_with_range_in_the_same_run(
    hub: FakeHub, tmp_path: Path
) -> None:
    hub.faults.drop_after[SHARD] = 100_000
    hub.faults.drop_times[SHARD] = 1
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
    )
    assert (out / SHARD).read_bytes() == hub.repos[("model", REPO)].files[SHARD]
    gets = blob_gets(hub)
    assert [g["range"] for g in gets] == [None, "bytes=100000-"]
    assert [g["sent"] for g in gets] == [100_000, 200_000]  # no byte sent twice


def test_failed_run_leaves_nothing_finished_and_next_run_resumes(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "MAX_TRIES", 2)
    hub.faults.drop_after[SHARD] = 50_000
    hub.faults.drop_times[SHARD] = 2
    with pytest.raises(DownloadError, match=r"partial file .* is kept"):
        download_repo_files(
            REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
        )
    assert no_output(tmp_path)  # no output folder, not even a partial one
    assert not (cache_of() / SHARD).exists()  # the cache holds only verified files
    part = cache_of().with_name(COMMIT + ".incomplete") / (SHARD + ".part")
    assert part.stat().st_size == 100_000
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
    )
    assert (out / SHARD).read_bytes() == hub.repos[("model", REPO)].files[SHARD]
    assert [(g["range"], g["sent"]) for g in blob_gets(hub)] == [
        (None, 50_000),
        ("bytes=50000-", 50_000),
        ("bytes=100000-", 200_000),
    ]
    assert not part.exists()


_KILLED_JOB = """
import sys
from progalign.hub.download import download_repo_files
download_repo_files(sys.argv[1], "model", sys.argv[2], sys.argv[3], endpoint=sys.argv[4],
                    progress=False)
"""


def test_killed_job_resumes_from_its_partial_file(hub: FakeHub, tmp_path: Path) -> None:
    hub.faults.stall_after[SHARD] = 120_000
    out = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_JOB, REPO, COMMIT, str(out), hub.endpoint],
        env=os.environ.copy(),
    )
    part = cache_of().with_name(COMMIT + ".incomplete") / (SHARD + ".part")
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size == 120_000):
        assert proc.poll() is None and time.monotonic() < deadline, "download did not stall"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    hub.release()
    assert no_output(tmp_path)
    download_repo_files(REPO, "model", COMMIT, out, endpoint=hub.endpoint, progress=False)
    assert (out / SHARD).read_bytes() == hub.repos[("model", REPO)].files[SHARD]
    assert [(g["range"], g["sent"]) for g in blob_gets(hub)] == [
        (None, 120_000),
        ("bytes=120000-", 180_000),
    ]


def test_corrupted_transfer_is_refetched_once(
    hub: FakeHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub.faults.corrupt_times[SHARD] = 1
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
    )
    assert (out / SHARD).read_bytes() == hub.repos[("model", REPO)].files[SHARD]
    assert [(g["range"], g["sent"]) for g in blob_gets(hub)] == [(None, 300_000)] * 2
    assert "does not match the published sha256" in caplog.text


def test_corrupted_small_git_file_is_caught_by_its_blob_sha1(hub: FakeHub, tmp_path: Path) -> None:
    hub.faults.corrupt_times["config.json"] = 5
    with pytest.raises(DownloadError, match="git blob"):
        download_repo_files(
            REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
        )


def test_unrecoverable_corruption_raises_and_leaves_nothing(hub: FakeHub, tmp_path: Path) -> None:
    hub.faults.corrupt_times[SHARD] = 99
    with pytest.raises(DownloadError, match=f"{SHARD}: downloaded content does not match"):
        download_repo_files(
            REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint, progress=False
        )
    assert no_output(tmp_path)
    assert not (cache_of() / SHARD).exists()
    assert not (cache_of().with_name(COMMIT + ".incomplete") / (SHARD + ".part")).exists()
    assert len(blob_gets(hub)) == 2


def test_corrupted_cache_entry_is_never_used(hub: FakeHub, tmp_path: Path) -> None:
    download_repo_files(
        REPO, "model", COMMIT, tmp_path / "a", endpoint=hub.endpoint, progress=False
    )
    cached = cache_of() / SHARD
    cached.chmod(0o644)
    with open(cached, "r+b") as handle:
        handle.write(b"XX")
    out = download_repo_files(
        REPO, "model", COMMIT, tmp_path / "b", endpoint=hub.endpoint, progress=False
    )
    assert (out / SHARD).read_bytes() == hub.repos[("model", REPO)].files[SHARD]
    assert len(blob_gets(hub)) == 2


def test_unknown_revision_fails_clearly(hub: FakeHub, tmp_path: Path) -> None:
    unknown = "0" * 40
    with pytest.raises(DownloadError, match=f"{REPO}@{unknown}.*does not exist"):
        download_repo_files(REPO, "model", unknown, tmp_path / "m", endpoint=hub.endpoint)
    with pytest.raises(DownloadError, match="repository not found"):
        download_repo_files(
            "PKU-Alignment/nope", "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint
        )
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("revision", ["main", "v0.2", COMMIT[:7], COMMIT.upper(), "", None])
def test_unpinned_revision_is_refused_before_any_request(
    hub: FakeHub, tmp_path: Path, revision: str | None
) -> None:
    with pytest.raises(DownloadError, match="revision"):
        download_repo_files(REPO, "model", revision, tmp_path / "m", endpoint=hub.endpoint)
    assert hub.log == []


def test_allow_unpinned_records_the_resolved_commit(hub: FakeHub, tmp_path: Path) -> None:
    out = download_repo_files(
        REPO,
        "model",
        "main",
        tmp_path / "m",
        ["*.json"],
        endpoint=hub.endpoint,
        allow_unpinned=True,
        progress=False,
    )
    assert read_json(out / MANIFEST)["revision"] == COMMIT
    assert all(f"/resolve/{COMMIT}/" in r["path"] for r in hub.requests("HEAD"))


def test_offline_server_gives_clear_error(tmp_path: Path) -> None:
    hub = FakeHub([fake_model(REPO, COMMIT)]).start()
    endpoint = hub.endpoint
    hub.stop()
    with pytest.raises(DownloadError) as info:
        download_repo_files(REPO, "model", COMMIT, tmp_path / "m", endpoint=endpoint)
    message = str(info.value)
    assert REPO in message and COMMIT in message and "cannot reach" in message
    assert not (tmp_path / "m").exists()


def test_hf_hub_offline_gives_clear_error(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        download_repo_files(REPO, "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint)


def test_server_serving_another_commit_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    other = fake_commit("other")
    hub.repos[("model", REPO)].branches[other] = COMMIT  # the server maps `other` to COMMIT
    with pytest.raises(DownloadError, match="answered for commit"):
        download_repo_files(REPO, "model", other, tmp_path / "m", endpoint=hub.endpoint)


def test_invalid_repo_id_gives_clear_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not a repo"):
        download_repo_files("not a repo!", "model", COMMIT, tmp_path / "m", endpoint=hub.endpoint)
    with pytest.raises(DownloadError, match="repo_type"):
        download_repo_files(REPO, "space", COMMIT, tmp_path / "m", endpoint=hub.endpoint)
