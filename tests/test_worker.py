"""The warm worker: jobs it runs give the same results as plain processes, exit codes and
messages come through, a job it must not run runs in its own process, and a killed job dies
in the worker too. Real server, real sockets, real subprocesses."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import progalign_worker as worker
from conftest import values_cmd
from progalign.io import read_json
from progalign_worker.identity import ENV_VAR


@pytest.fixture()
def warm(offline: dict[str, str], tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A running worker started as the Snakefile starts it; the job env and the worker log."""
    log = tmp_path / "worker.log"
    path = worker.start(log)
    try:
        assert worker.wait_ready(path), log.read_text()
        yield {**offline, ENV_VAR: path}, log
    finally:
        worker.stop()
    assert not Path(path).exists() and ENV_VAR not in os.environ
    assert str(Path(path).parent) not in os.environ["PATH"]  # the shim is gone


def _job(cmd: list[str]) -> list[str]:
    """The job's command line as the workflow's shim runs it: through the worker's client."""
    return [part if part != "progalign.cli" else "progalign_worker.client" for part in cmd]


def _served(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "running progalign" in line]


@pytest.mark.slow
def test_a_job_in_the_worker_equals_a_plain_process(
    warm: tuple[dict[str, str], Path],
    offline: dict[str, str],
    offline_cache: Path,
    questionnaire: Path,
    tmp_path: Path,
) -> None:
    env, log = warm
    model = offline_cache / "models" / "tiny-seed0"
    before = _children_cpu()
    served = subprocess.run(
        _job(values_cmd(model, questionnaire, tmp_path / "w.json")),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    served_cpu = _children_cpu() - before
    assert served.returncode == 0, served.stderr[-2000:]
    assert "wrote" in served.stderr  # the job's own log lines reach the job's stderr
    assert len(_served(log)) == 1 and "refused" not in log.read_text()
    before = _children_cpu()
    plain = subprocess.run(
        _job(values_cmd(model, questionnaire, tmp_path / "p.json")),
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    plain_cpu = _children_cpu() - before
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert len(_served(log)) == 1  # without the variable, no worker
    a, b = read_json(tmp_path / "w.json"), read_json(tmp_path / "p.json")
    assert set(a) == set(b)
    assert {k for k in a if a[k] != b[k]} <= {"provenance", "timings"}
    assert a["vector"] == b["vector"] and a["items"] == b["items"] and a["ci95"] == b["ci95"]
    # the served job's own process only waited: its CPU is a fraction of the plain one's
    assert served_cpu < plain_cpu / 3, (served_cpu, plain_cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_exit_codes_and_errors_come_through(
    warm: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, log = warm
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "progalign_worker.client",
            "values",
            "--model",
            str(tmp_path / "no-model"),
            "--out",
            str(tmp_path / "v.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert "no-model" in missing.stderr and "Traceback" not in missing.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "progalign_worker.client", "no-such-command"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    version = subprocess.run(
        [sys.executable, "-m", "progalign_worker.client", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert version.returncode == 0 and version.stdout.startswith("progalign ")
    assert len(_served(log)) == 3
    assert not (tmp_path / "v.json").exists()


def test_a_job_with_other_import_time_settings_runs_in_its_own_process(
    warm: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, log = warm
    for changed in ({"HF_HUB_OFFLINE": "0"}, {"PYTHONPATH": str(tmp_path)}):
        done = subprocess.run(
            [sys.executable, "-m", "progalign_worker.client", "--version"],
            env={**env, **changed},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and done.stdout.startswith("progalign ")
    text = log.read_text()
    assert text.count("refused a job (differs: ['env'])") == 2 and not _served(log)
    batch = subprocess.run(
        [sys.executable, "-m", "progalign_worker.client", "--version"],
        env={**env, "SLURM_JOB_ID": "17"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert batch.returncode == 0 and log.read_text() == text  # never even asked


def test_thread_counts_do_not_block_the_worker_and_are_applied() -> None:
    import torch

    from progalign_worker.identity import apply_thread_counts, identity

    base = {"PATH": "/usr/bin", "HF_HOME": "/h"}
    assert identity({**base, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}) == identity(base)
    assert identity({**base, "HF_HOME": "/other"}) != identity(base)
    before = torch.get_num_threads()
    try:
        apply_thread_counts({"OMP_NUM_THREADS": "1"})  # what Snakemake sets for threads: 1
        assert torch.get_num_threads() == 1
        apply_thread_counts({"OMP_NUM_THREADS": "not-a-number"})  # ignored, as torch does
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_killing_the_job_kills_its_worker_child(
    warm: tuple[dict[str, str], Path], offline_cache: Path, questionnaire: Path, tmp_path: Path
) -> None:
    env, log = warm
    out = tmp_path / "v.json"
    err = tmp_path / "job.err"
    with open(err, "w") as handle:
        job = subprocess.Popen(
            _job(values_cmd(offline_cache / "models" / "tiny-seed0", questionnaire, out)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        deadline = time.monotonic() + 300
        while "scoring" not in err.read_text() and time.monotonic() < deadline:
            assert job.poll() is None, err.read_text()[-2000:]
            time.sleep(0.05)
        children = _worker_children()
        assert children, "the job is not running in the worker"
        job.send_signal(signal.SIGKILL)
        job.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)
    assert not out.exists() and len(_served(log)) == 1


def _worker_children() -> list[int]:
    server = next(iter(worker.control._running.values())).pid
    found = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(server)], capture_output=True, text=True
    ).stdout.split()
    return [int(pid) for pid in found]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_ready_file_names_the_server(warm: tuple[dict[str, str], Path]) -> None:
    env, _ = warm
    ready = json.loads(Path(f"{env[ENV_VAR]}.ready").read_text())
    assert ready["pid"] == next(iter(worker.control._running.values())).pid
    assert ready["failed_preloads"] == []


def test_the_shim_routes_progalign_through_the_worker_and_goes_away(
    warm: tuple[dict[str, str], Path],
) -> None:
    """While a worker serves, the `progalign` first on PATH is its shim; the console script
    itself never contacts the worker."""
    env, log = warm
    shim = Path(env[ENV_VAR]).parent / "bin" / "progalign"
    assert os.environ["PATH"].split(os.pathsep)[0] == str(shim.parent)
    done = subprocess.run(
        ["progalign", "--version"],
        env={**env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "progalign" in done.stdout
    assert len(_served(log)) == 1
    direct = subprocess.run(
        [sys.executable, "-m", "progalign.cli", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert direct.returncode == 0 and len(_served(log)) == 1  # not through the worker
