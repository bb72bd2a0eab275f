"""Hidden build and scratch folders: a killed job's are removed by the next job for the same
target; a live job's, this process's and other targets' are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from progalign.io import atomic_dir, remove_stale_siblings, scratch_dir

pytestmark = pytest.mark.timeout(60)

#: A job that builds ``target`` (a folder, with a scratch folder beside it) and then either
#: SIGKILLs itself midway, or says "ready" and waits for a line on stdin before it finishes.
_JOB = """
import os, signal, sys
from pathlib import Path
from progalign.io import atomic_dir, scratch_dir
target = Path(sys.argv[1])
with atomic_dir(target) as tmp, scratch_dir(target) as scratch:
    (tmp / "result").write_text(sys.argv[2])
    (scratch / "checkpoint").write_text("half done")
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("ready", flush=True)
    sys.stdin.readline()
"""


def _hidden(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def _killed_job(target: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _JOB, str(target), "kill"], check=False, timeout=30
    )
    assert done.returncode == -signal.SIGKILL


@pytest.fixture()
def live_job() -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(target: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _JOB, str(target), "live"],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_killed_job_leaves_its_folders_and_the_next_job_removes_them(tmp_path: Path) -> None:
    target = tmp_path / "step2"
    _killed_job(target)
    left = _hidden(tmp_path, "step2")
    # what a SIGKILL leaves: the build folder with its partial content, the scratch folder and
    # their owner files (one per folder), but no output
    assert not target.exists()
    assert sorted(n.rsplit(".", 1)[1] for n in left) == ["owner", "owner", "scratch", "tmp"]
    (build,) = (tmp_path / n for n in left if n.endswith(".tmp"))
    assert (build / "result").read_text() == "kill"

    with atomic_dir(target) as tmp:
        assert _hidden(tmp_path, "step2") == sorted([tmp.name, tmp.name[:-3] + "owner"])
        (tmp / "result").write_text("done")
    assert (target / "result").read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["step2"]


def test_a_killed_jobs_scratch_goes_when_the_next_job_asks_for_scratch(tmp_path: Path) -> None:
    target = tmp_path / "model"
    _killed_job(target)
    with scratch_dir(target) as scratch:
        (scratch / "x").write_text("1")
        assert _hidden(tmp_path, "model") == sorted([scratch.name, scratch.name[:-7] + "owner"])
    assert list(tmp_path.iterdir()) == []


def test_live_jobs_and_other_targets_are_left_alone(
    tmp_path: Path, live_job: Callable[[Path], subprocess.Popen[str]]
) -> None:
    target = tmp_path / "step1"
    live_same = live_job(target)  # e.g. two jobs filling one cache folder
    live_other = live_job(tmp_path / "step10")  # another step of the run, still working
    _killed_job(tmp_path / "step11")  # another target's debris: its own job cleans it
    before = {n: _hidden(tmp_path, n) for n in ("step1", "step10", "step11")}
    _killed_job(target)
    stale = sorted(set(_hidden(tmp_path, "step1")) - set(before["step1"]))
    assert len(stale) == 4

    removed = remove_stale_siblings(target)
    assert sorted(p.name for p in removed) == [n for n in stale if not n.endswith(".owner")]
    assert {n: _hidden(tmp_path, n) for n in before} == before

    with atomic_dir(target) as tmp:
        (tmp / "result").write_text("ours")
    assert (target / "result").read_text() == "ours"
    for proc in (live_same, live_other):  # the live jobs finish normally
        proc.communicate("\n", timeout=30)
        assert proc.returncode == 0
    assert (target / "result").read_text() == "live"  # the later finisher replaced ours
    assert (tmp_path / "step10" / "result").read_text() == "live"
    assert _hidden(tmp_path, "step1") == [] and _hidden(tmp_path, "step10") == []
    assert _hidden(tmp_path, "step11") == before["step11"]


def test_this_process_keeps_its_own_folders_for_one_target(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp, scratch_dir(target) as scratch:
        (tmp / "a").write_text("1")
        (scratch / "b").write_text("2")
        assert remove_stale_siblings(target) == []
        with atomic_dir(tmp_path / "inner") as inner:  # nested builds of other targets too
            (inner / "c").write_text("3")
        assert (tmp / "a").exists() and (scratch / "b").exists()
    assert (target / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner", "out"]


def test_a_failed_build_leaves_nothing_and_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "w").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp, scratch_dir(target) as scratch:
        (tmp / "w").write_text("new")
        (scratch / "s").write_text("s")
        raise RuntimeError("failed")
    assert (target / "w").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_new_folders_get_the_umask_mode(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "m") as tmp, scratch_dir(tmp_path / "m") as scratch:
            assert tmp.stat().st_mode & 0o777 == 0o755
            assert scratch.stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(mask)
