"""Helpers of the system tests (podman, Apptainer shim, SLURM): scratch copies of the checkout, a
reduced configs/ci.yaml, one local reference run per test session, and the skip-or-fail rule."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_CONFIG = "configs/system-test.yaml"
_SKIPPED_PREFIXES = (
    ".venv",
    "results/",
    "resources/",
    "logs/",
    "measurements/out/",
    ".snakemake/",
    "__pycache__",
)


def skip_or_fail(message: str) -> None:
    """Skip the test, or fail it when PROGALIGN_REQUIRE_SYSTEM=1 (CI, where the tools must be)."""
    if os.environ.get("PROGALIGN_REQUIRE_SYSTEM") == "1":
        pytest.fail(f"PROGALIGN_REQUIRE_SYSTEM=1 but {message}")
    pytest.skip(message)


def require_binaries(*names: str, why: str) -> None:
    """Skip (or fail, under PROGALIGN_REQUIRE_SYSTEM=1) when a system binary is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip_or_fail(f"{why}: {', '.join(missing)} not found (bash scripts/ci-system-deps.sh)")


def copy_checkout(dst: Path, source: Path | None = None) -> Path:
    """Copy the checkout's tracked and untracked (not ignored) files, without runs or venvs, or
    the sources of an earlier copy (``source``), so that runs compared share one snapshot."""
    if source is None:
        listed = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        source = ROOT
    else:
        listed = [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()]
    for name in listed:
        src = source / name
        if not name or name.startswith(_SKIPPED_PREFIXES) or not src.is_file():
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name)
    if source == ROOT:
        write_system_config(dst)
    return dst


def snapshot_env(repo: Path) -> dict[str, str]:
    """Run the copy's own src/ (not the editable install's live checkout), also in SLURM jobs."""
    return {"PYTHONPATH": str(repo / "src")}


def write_system_config(repo: Path) -> Path:
    """configs/ci.yaml with every list under `benchmark` cut to its first entry (one algorithm,
    one challenge, one seed): the whole DAG, down to the result tables, in fewer jobs."""
    config = yaml.safe_load((ROOT / "configs/ci.yaml").read_text())
    bench = config.get("benchmark")
    if isinstance(bench, dict):
        for key, value in bench.items():
            if isinstance(value, list) and len(value) > 1:
                bench[key] = value[:1]
    out = repo / SYSTEM_CONFIG
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def snakemake(
    repo: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    """Run the .venv's Snakemake in ``repo`` and return the finished process (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@functools.cache
def local_reference(base: Path) -> tuple[Path, float]:
    """The reduced CI workflow run once on the host (per session): (its folder, seconds)."""
    repo = copy_checkout(base / "local-reference")
    start = time.monotonic()
    done = snakemake(repo, "--cores", "2", "--configfile", SYSTEM_CONFIG, env=snapshot_env(repo))
    seconds = time.monotonic() - start
    assert done.returncode == 0, f"local reference run failed:\n{done.stderr[-4000:]}"
    print(f"local reference run: {seconds:.0f} s")
    return repo, seconds


def compare_runs(a: Path, b: Path) -> subprocess.CompletedProcess[str]:
    """scripts/compare_results.py on two run folders."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/compare_results.py"), str(a), str(b)],
        capture_output=True,
        text=True,
    )
