"""The Snakemake workflow on configs/ci.yaml, end to end, in a scratch copy of the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir, capture_output=True, text=True, timeout=900,
    )


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    for name in ("Snakefile", "config.yaml", "configs", "workflow"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


@pytest.mark.slow
@pytest.mark.network
def test_ci_config_runs_end_to_end_and_then_has_nothing_to_do(workdir: Path) -> None:
    done = _snakemake(workdir, "--configfile", "configs/ci.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((workdir / "results/values/base.json").read_text())
    assert len(result["vector"]) == 19 and result["complete"]
    assert result["settings"]["scoring"] == "texts"
    assert (workdir / "logs/values/base.log").exists()
    again = _snakemake(workdir, "--configfile", "configs/ci.yaml")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_misspelt_config_key_is_rejected_before_any_job(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("evaluation:\n  permutatons: all\n")
    done = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert done.returncode != 0
    assert "permutatons" in done.stdout + done.stderr
    assert not (workdir / "results").exists()


def test_wrong_type_is_rejected_naming_the_key(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("evaluation:\n  bootstrap: many\n")
    done = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert done.returncode != 0 and "bootstrap" in done.stdout + done.stderr
