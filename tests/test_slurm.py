"""The CI workflow on a real one-node SLURM cluster (scripts/slurm-cluster.sh: munged, slurmctld,
slurmd on loopback) through `snakemake --executor slurm --profile workflow/profiles/slurm`: it
completes with the host's results, and still does when one of its SLURM jobs is scancel'led."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from system_workflow import (
    ROOT,
    SYSTEM_CONFIG,
    compare_runs,
    copy_checkout,
    local_reference,
    require_binaries,
    skip_or_fail,
    snapshot_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.network]

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
# The profile as users run it, plus what this cluster needs: no accounting (squeue status
# queries) and quick status checks for a small test DAG.
SLURM_ARGS = (
    "--executor",
    "slurm",
    "--profile",
    "workflow/profiles/slurm",
    "--configfile",
    SYSTEM_CONFIG,
    "--jobs",
    "4",
    "--latency-wait",
    "5",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
)


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", 0))
                port = a.getsockname()[1]
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            if port < 65000:
                return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private one-node cluster (own state folder and ports), stopped afterwards."""
    require_binaries(
        "munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", why="SLURM cluster"
    )
    if os.geteuid() != 0:
        skip_or_fail("the one-node SLURM cluster runs its daemons as root")
    state = tmp_path_factory.mktemp("slurm")
    env = {"PROGALIGN_SLURM_STATE": str(state), "PROGALIGN_SLURM_PORT": str(_free_port_pair())}
    script = str(ROOT / "scripts/slurm-cluster.sh")
    full = {**os.environ, **env}
    started = subprocess.run(
        ["bash", script, "start"], env=full, capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, started.stdout + started.stderr
    again = subprocess.run(
        ["bash", script, "start"], env=full, capture_output=True, text=True, timeout=180
    )
    assert again.returncode == 0 and "already running" in again.stdout  # idempotent
    try:
        yield {
            **env,
            "SLURM_CONF": str(state / "slurm.conf"),
            "PROGALIGN_SLURM_PARTITION": "debug",
            "PROGALIGN_SLURM_ACCOUNT": "",
        }
    finally:
        stopped = subprocess.run(
            ["bash", script, "stop"], env=full, capture_output=True, text=True, timeout=120
        )
        assert stopped.returncode == 0, stopped.stderr
        status = subprocess.run(
            ["bash", script, "status"], env=full, capture_output=True, text=True, timeout=60
        )
        assert status.returncode != 0 and "running" not in status.stdout.replace("stopped", "")


def _start(repo: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", *SLURM_ARGS],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def _squeue_state(job_id: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def test_ci_workflow_on_slurm_matches_the_local_run(
    cluster: dict[str, str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    ci_report: Callable[[str], None],
) -> None:
    reference, local_s = local_reference(tmp_path_factory.getbasetemp())
    repo = copy_checkout(tmp_path / "repo", source=reference)
    log = tmp_path / "snakemake.log"
    start = time.monotonic()
    proc = _start(repo, {**cluster, **snapshot_env(repo)}, log)
    rc = proc.wait(timeout=2400)
    slurm_s = time.monotonic() - start
    text = log.read_text()
    assert rc == 0, text[-4000:]
    jobs = SUBMITTED.findall(text)
    assert jobs, text[-2000:]
    for _, slurm_id in jobs:  # every submitted job ran to completion on the cluster
        assert _squeue_state(slurm_id, cluster) == "COMPLETED"
    ci_report(
        f"SLURM run {slurm_s:.0f} s vs local {local_s:.0f} s; "
        f"{len(jobs)} SLURM jobs: {' '.join(j for _, j in jobs)}"
    )
    same = compare_runs(repo, reference)
    assert same.returncode == 0, same.stderr


def test_a_cancelled_slurm_job_is_retried_and_the_run_completes(
    cluster: dict[str, str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    ci_report: Callable[[str], None],
) -> None:
    reference, _ = local_reference(tmp_path_factory.getbasetemp())
    repo = copy_checkout(tmp_path / "repo", source=reference)
    log = tmp_path / "snakemake.log"
    proc = _start(repo, {**cluster, **snapshot_env(repo)}, log)
    cancelled: tuple[str, str] | None = None
    deadline = time.monotonic() + 900
    while cancelled is None and proc.poll() is None and time.monotonic() < deadline:
        for job, slurm_id in SUBMITTED.findall(log.read_text()):
            if _squeue_state(slurm_id, cluster) == "RUNNING":
                time.sleep(1)  # let it get going, then kill it mid-run
                subprocess.run(["scancel", slurm_id], check=True, env={**os.environ, **cluster})
                cancelled = (job, slurm_id)
                break
        time.sleep(0.5)
    assert cancelled is not None, "no SLURM job seen running to cancel:\n" + log.read_text()[-3000:]
    rc = proc.wait(timeout=2400)
    text = log.read_text()
    assert rc == 0, text[-4000:]
    job, slurm_id = cancelled
    assert _squeue_state(slurm_id, cluster) == "CANCELLED"
    assert f"SLURM-job '{slurm_id}' failed, SLURM status is: 'CANCELLED'" in text
    resubmitted = [s for j, s in SUBMITTED.findall(text) if j == job and s != slurm_id]
    assert resubmitted, f"job {job} was not resubmitted after scancel {slurm_id}"
    ci_report(f"scancel {slurm_id} (snakemake job {job}); resubmitted as {resubmitted}")
    same = compare_runs(repo, reference)
    assert same.returncode == 0, same.stderr
