"""``progalign hub pin`` and the Hub revision lock, against the local Hub emulator; the settings
and the workflow reading the lock; a run on unpinned published models stopping before any job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from fakedata import fake_commit, fake_histtext, fake_model
from fakehub import FakeHub, FakeRepo
from progalign.cli import main
from progalign.errors import SettingError
from progalign.hub import transfer
from progalign.hub.download import MANIFEST
from progalign.hublock import (
    HISTTEXT_REPO,
    TIMELESSQA_REPO,
    LockEntry,
    published_model_id,
    read_lock,
    write_lock,
)
from progalign.io import read_json
from progalign.settings import resolve

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
CENTURIES = ("C016", "C017")
MODELS = {c: published_model_id("8B", c, "instruct") for c in CENTURIES}
COMMITS = {
    MODELS["C016"]: fake_commit("pin-c016"),
    MODELS["C017"]: fake_commit("pin-c017"),
    HISTTEXT_REPO: fake_commit("pin-histtext"),
    TIMELESSQA_REPO: fake_commit("pin-timelessqa"),
}
OTHER = published_model_id("70B", "C018", "instruct")  # in the lock, not in this config


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(transfer, "RETRY_WAIT", 0.0)


def _repos(skip: str = "") -> list[FakeRepo]:
    repos = [fake_model(MODELS[c], COMMITS[MODELS[c]], shard_bytes=2000) for c in CENTURIES]
    repos.append(fake_histtext(COMMITS[HISTTEXT_REPO]))
    repos.append(
        FakeRepo(TIMELESSQA_REPO, "dataset", COMMITS[TIMELESSQA_REPO], {"timeless_qa.json": b"[]"})
    )
    return [r for r in repos if r.repo_id != skip]


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    with FakeHub(_repos()) as server:
        yield server


def _config(tmp_path: Path, lock: Path) -> Path:
    """A config on the published 8B instruct models of two centuries, with its own lock."""
    path = tmp_path / "hub.yaml"
    models = {
        "source": "hub",
        "family": "histllama3-8b-instruct",
        "centuries": list(CENTURIES),
        "hub": {"size": "8B", "kind": "instruct", "lock": str(lock)},
    }
    path.write_text(yaml.safe_dump({"models": models}), encoding="utf-8")
    return path


def _old_lock(path: Path) -> None:
    """A lock holding an unrelated pin and a null entry for C016."""
    write_lock(
        path,
        {
            OTHER: LockEntry("model", fake_commit("other"), "by hand", "https://x", None, None),
            MODELS["C016"]: LockEntry("model", note="not pinned yet"),
        },
    )


def _served_sha(hub: FakeHub, kind: str, repo: str) -> str:
    """What the emulator itself answers for the repo's main branch."""
    with urllib.request.urlopen(f"{hub.endpoint}/api/{kind}s/{repo}/revision/main") as reply:
        return str(json.load(reply)["sha"])


def test_pin_writes_the_commits_the_hub_serves(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "lock.yaml"
    _old_lock(lock)
    config = _config(tmp_path, lock)
    assert main(["hub", "pin", "--config", str(config), "--endpoint", hub.endpoint]) == 0
    asked = sorted(r["path"] for r in hub.requests("GET", "/api/"))
    assert asked == sorted(
        [f"/api/models/{MODELS[c]}/revision/main" for c in CENTURIES]
        + [f"/api/datasets/{d}/revision/main" for d in (HISTTEXT_REPO, TIMELESSQA_REPO)]
    )
    entries = read_lock(lock)
    # the config's 2 models and the 2 datasets, plus the untouched unrelated entry
    assert set(entries) == {*COMMITS, OTHER}
    for repo, commit in COMMITS.items():
        kind = "dataset" if repo in (HISTTEXT_REPO, TIMELESSQA_REPO) else "model"
        assert entries[repo].revision == commit == _served_sha(hub, kind, repo)
        assert entries[repo].type == kind
        assert entries[repo].endpoint == hub.endpoint
        assert entries[repo].source == "progalign hub pin (main)"
        assert entries[repo].note is None
        stamp = datetime.fromisoformat(str(entries[repo].resolved_at))
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert entries[OTHER].revision == fake_commit("other") and entries[OTHER].source == "by hand"
    report = capsys.readouterr().out.splitlines()
    assert report[0] == "repo\ttype\tlock\thub\tstatus"
    rows = {line.split("\t")[0]: line.split("\t") for line in report[1:]}
    assert rows[MODELS["C016"]][2:] == ["-", COMMITS[MODELS["C016"]], "new"]
    # the lock now gives the settings each century's commit
    settings = resolve(yaml.safe_load(config.read_text(encoding="utf-8")))
    assert settings.models.hub.revisions == {c: COMMITS[MODELS[c]] for c in CENTURIES}


def test_a_repo_that_does_not_exist_is_named_and_the_others_are_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "lock.yaml"
    _old_lock(lock)
    with FakeHub(_repos(skip=MODELS["C017"])) as hub:
        code = main(
            ["hub", "pin", "--config", str(_config(tmp_path, lock)), "--endpoint", hub.endpoint]
        )
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{MODELS['C017']}: model repository not found at {hub.endpoint}" in err
    assert "1 repo(s) could not be resolved" in err
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert rows[MODELS["C017"]][4].startswith("failed: model repository not found")
    assert {rows[r][4] for r in (MODELS["C016"], HISTTEXT_REPO, TIMELESSQA_REPO)} == {"new"}
    entries = read_lock(lock)
    assert MODELS["C017"] not in entries  # no entry before, none invented
    assert entries[MODELS["C016"]].revision == COMMITS[MODELS["C016"]]
    assert entries[HISTTEXT_REPO].revision == COMMITS[HISTTEXT_REPO]


def test_a_dataset_named_with_repo_is_pinned_as_a_dataset(hub: FakeHub, tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    code = main(
        [
            "hub",
            "pin",
            "--repo",
            f"datasets/{HISTTEXT_REPO}",
            "--lock",
            str(lock),
            "--endpoint",
            hub.endpoint,
        ]
    )
    assert code == 0
    entries = read_lock(lock)
    assert list(entries) == [HISTTEXT_REPO]
    assert entries[HISTTEXT_REPO].revision == COMMITS[HISTTEXT_REPO]
    assert entries[HISTTEXT_REPO].type == "dataset"
    assert hub.requests("GET", "/api/")[0]["path"] == f"/api/datasets/{HISTTEXT_REPO}/revision/main"


def test_the_endpoint_and_token_come_from_the_environment(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    lock = tmp_path / "lock.yaml"
    assert main(["hub", "pin", "--repo", MODELS["C016"], "--lock", str(lock)]) == 0
    assert read_lock(lock)[MODELS["C016"]].endpoint == hub.endpoint
    (request,) = hub.requests("GET", "/api/")
    assert request["authorization"] == "Bearer hf_test_token"


def _pin_process(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "progalign.cli", "hub", "pin", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_offline_or_unreachable_writes_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    _old_lock(lock)
    before = lock.read_bytes()
    config = str(_config(tmp_path, lock))
    with FakeHub(_repos()) as hub:
        offline = _pin_process(
            ["--config", config, "--endpoint", hub.endpoint], {"HF_HUB_OFFLINE": "1"}
        )
        assert hub.log == []  # not even asked
    assert offline.returncode == 2
    assert "HF_HUB_OFFLINE is set" in offline.stderr
    assert f"nothing was written to {lock}" in offline.stderr
    assert "Traceback" not in offline.stderr
    # the emulator is stopped: its port refuses connections
    gone = _pin_process(["--config", config, "--endpoint", hub.endpoint])
    assert gone.returncode == 2
    assert f"cannot reach {hub.endpoint}" in gone.stderr
    assert f"nothing was written to {lock}" in gone.stderr
    assert lock.read_bytes() == before


def test_check_reports_drift_and_writes_nothing(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "lock.yaml"
    config = str(_config(tmp_path, lock))
    assert main(["hub", "pin", "--config", config, "--endpoint", hub.endpoint]) == 0
    assert main(["hub", "pin", "--config", config, "--endpoint", hub.endpoint, "--check"]) == 0
    pinned = lock.read_bytes()
    capsys.readouterr()
    moved = fake_commit("c017-reuploaded")
    hub.repos[("model", MODELS["C017"])].commit = moved  # main moves on (a re-upload)
    assert main(["hub", "pin", "--config", config, "--endpoint", hub.endpoint, "--check"]) == 1
    out, err = capsys.readouterr()
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert rows[MODELS["C017"]][2:] == [COMMITS[MODELS["C017"]], moved, "drift"]
    assert rows[MODELS["C016"]][4] == "unchanged"
    assert "1 of 4 repos differ from the Hub; nothing written" in err
    assert lock.read_bytes() == pinned
    # pinning again takes the new commit
    assert main(["hub", "pin", "--config", config, "--endpoint", hub.endpoint]) == 0
    assert read_lock(lock)[MODELS["C017"]].revision == moved


def test_fetch_takes_its_revision_from_the_lock(hub: FakeHub, tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    args = ["--size", "8B", "--century", "C017", "--kind", "instruct", "--lock", str(lock)]
    fetch = ["hub", "fetch-model", *args, "--out-root", str(tmp_path / "m"), "--no-progress"]
    assert main([*fetch, "--endpoint", hub.endpoint]) == 2  # nothing pinned yet
    assert (
        main(
            [
                "hub",
                "pin",
                "--repo",
                MODELS["C017"],
                "--lock",
                str(lock),
                "--endpoint",
                hub.endpoint,
            ]
        )
        == 0
    )
    assert main([*fetch, "--endpoint", hub.endpoint]) == 0
    manifest = read_json(tmp_path / "m" / "histllama3-8b-instruct" / "C017" / MANIFEST)
    assert manifest["revision"] == COMMITS[MODELS["C017"]]


# ------------------------------------------------------------------ the settings read the lock
def _hub_config(lock: Path, **hub: object) -> dict[str, object]:
    return {
        "models": {
            "source": "hub",
            "family": "histllama3-8b-instruct",
            "centuries": list(CENTURIES),
            "hub": {"size": "8B", "kind": "instruct", "lock": str(lock), **hub},
        }
    }


def test_settings_take_revisions_from_the_lock_unless_overridden(tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    write_lock(lock, {MODELS["C016"]: LockEntry("model", COMMITS[MODELS["C016"]])})
    hub = resolve(_hub_config(lock)).models.hub
    assert hub.revisions == {"C016": COMMITS[MODELS["C016"]], "C017": None}
    mine = fake_commit("override")
    hub = resolve(_hub_config(lock, revisions={"C016": mine})).models.hub
    assert hub.revisions == {"C016": mine, "C017": None}
    # resolving the resolved settings again gives the same (jobs re-resolve their config)
    again = resolve(resolve(_hub_config(lock)).to_config()).models.hub
    assert again.revisions == {"C016": COMMITS[MODELS["C016"]], "C017": None}
    missing = resolve(_hub_config(tmp_path / "absent.yaml")).models.hub
    assert missing.revisions == {"C016": None, "C017": None}
    assert resolve({}).models.hub.revisions == {}  # source train reads no lock


def test_a_malformed_lock_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    lock.write_text(
        f"version: 1\nrepos:\n  {MODELS['C016']}: {{type: model, revision: main}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingError, match=rf"{lock}: repos\.{MODELS['C016']}\.revision"):
        resolve(_hub_config(lock))


def test_the_shipped_lock_pins_only_heads_and_their_weights() -> None:
    entries = read_lock(ROOT / "configs" / "hub-revisions.lock.yaml")
    assert len(entries) == 38
    pinned = {repo: e.revision for repo, e in entries.items() if e.revision}
    assert pinned == {
        published_model_id("70B", "C014", "pretrain"): "b69847cb4e367d91973c4dfe532d6d88de479e28",
        published_model_id("70B", "C018", "instruct"): "93321e7b1ecb50d2533b1ef3f81b0d9ce20d8822",
        published_model_id("8B", "C014", "pretrain"): "8e99cd391329b91ac68d3e30c66d3b6836720cb2",
        published_model_id("70B", "C021", "pretrain"): "30547d4409750190877a6e25ef20cd8ab733a768",
        HISTTEXT_REPO: "b9b816278d75461fe9e8c7c17dfbea340b944411",
        TIMELESSQA_REPO: "22818c334fad1d4b3ca110533ba456afffda2512",
    }
    assert all(e.note for e in entries.values() if e.revision is None)


# ------------------------------------------------------------------ the workflow
SMALL = (
    "models: {centuries: [C016, C017]}\n"
    "benchmark: {algorithms: [LifelongDPO], challenges: [follow], seeds: [0]}\n"
)
PIN_COMMAND = (
    "progalign hub pin --config config.yaml --config configs/paper-8b.yaml --config small.yaml"
)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    from test_workflow import _copy_workflow

    work = _copy_workflow(tmp_path / "work")
    (work / "small.yaml").write_text(SMALL, encoding="utf-8")
    return work


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_preset_reads_the_pins_into_the_download_commands(workdir: Path) -> None:
    with FakeHub(_repos()) as hub:
        pinned = subprocess.run(
            [
                sys.executable,
                "-m",
                "progalign.cli",
                "hub",
                "pin",
                "--endpoint",
                hub.endpoint,
                *PIN_COMMAND.split()[3:],
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert pinned.returncode == 0, pinned.stderr
    entries = read_lock(workdir / "configs" / "hub-revisions.lock.yaml")
    assert len(entries) == 38  # the shipped entries stay; four are now pinned
    assert all(entries[repo].revision == commit for repo, commit in COMMITS.items())
    done = _snakemake(workdir, "-n", "-p", "--configfile", "configs/paper-8b.yaml", "small.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "no pinned revision" not in out
    for century in CENTURIES:
        assert (
            f"progalign hub fetch-model --size 8B --century {century} --kind instruct"
            f" --revision {COMMITS[MODELS[century]]} " in out
        )


@pytest.mark.slow
def test_a_run_without_pins_stops_before_any_job_and_a_dry_run_warns(workdir: Path) -> None:
    args = ("--configfile", "configs/paper-8b.yaml", "small.yaml")
    run = _snakemake(workdir, *args)
    assert run.returncode != 0
    for century in CENTURIES:
        assert f"  {century}  {MODELS[century]}\n" in run.stderr
    assert (
        "2 of its models have no pinned revision in configs/hub-revisions.lock.yaml" in run.stderr
    )
    assert PIN_COMMAND in run.stderr and "No job was started." in run.stderr
    assert "Building DAG" not in run.stderr  # stopped while the Snakefile loaded
    for made in ("resources", "results", "logs"):
        assert not (workdir / made).exists(), made
    dry = _snakemake(workdir, "-n", *args)
    assert dry.returncode == 0, dry.stderr[-3000:]
    out = dry.stdout + dry.stderr
    assert PIN_COMMAND in out and "This dry run shows the whole DAG" in out
    for rule, count in (("hub_model", 2), ("values_judge", 2), ("history_step", 1)):
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), rule
