"""Fault injection: kills, concurrent runs, broken downloads, full disks, bad inputs and models.

Every test checks the same two things: nothing wrong is ever consumed (no partial file that looks
complete, no NaN, no corrupt download at its target), and a plain rerun completes. Processes
are real subprocesses killed with SIGKILL, servers run on 127.0.0.1, and the disk-full case uses
a real 64 KiB tmpfs where the machine allows mounting one (monkeypatched errors otherwise).
Nothing here reaches the network: the questionnaire wheel is copied from the local cache.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import pytest

from conftest import DEAD_INDEX, values_cmd
from progalign import io as pio
from progalign.cli import main
from progalign.download import fetch
from progalign.errors import DownloadError
from progalign.io import atomic_dir, read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULT_KEYS = ("vector", "ci95", "complete", "groups", "counts", "items", "settings")
# The Snakemake tests run the sub-DAG of the base model's value vector (seconds), not the whole
# CI DAG (minutes): the kill, the lock and the rerun do not depend on the DAG's size.
TARGET = "results/values/base.json"
PROGRESS = re.compile(r"\|\s*([1-9]\d*)/(\d+) \[")  # a tqdm bar past its first step


# ----------------------------------------------------------------------------- fixtures
# offline_cache, offline and questionnaire live in conftest.py (shared with test_worker.py).


@pytest.fixture(scope="module")
def reference_values(
    offline_cache: Path, questionnaire: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """An uninterrupted ``progalign values`` run (in this process, same thread count)."""
    import torch

    out = tmp_path_factory.mktemp("reference") / "v.json"
    threads = torch.get_num_threads()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PROGALIGN_CACHE", str(offline_cache))
            cmd = values_cmd(offline_cache / "models" / "tiny-seed0", questionnaire, out)
            assert main(cmd[3:]) == 0
    finally:
        torch.set_num_threads(threads)
    result: dict[str, Any] = read_json(out)
    return result


def _wait_for(
    what: str, ready: Callable[[], bool], proc: subprocess.Popen[Any], timeout: float = 300
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _progress_in(path: Path, label: str = "") -> Callable[[], bool]:
    def ready() -> bool:
        text = path.read_text(errors="replace") if path.exists() else ""
        tail = text[text.rfind(label) :] if label else text
        return (not label or label in text) and any(
            int(m[1]) < int(m[2]) for m in PROGRESS.finditer(tail)
        )

    return ready


def _temp_files(root: Path) -> list[Path]:
    """Files an atomic writer or a download leaves while it works (none after it ends)."""
    return [p for p in root.rglob("*") if p.name.endswith((".tmp", ".part"))]


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in RESULT_KEYS:
        assert a[key] == b[key], key


# ----------------------------------------------------------------------------- SIGKILL
@pytest.mark.slow
def test_sigkill_mid_evaluation_leaves_no_result_and_the_rerun_matches(
    offline: dict[str, str],
    offline_cache: Path,
    questionnaire: Path,
    reference_values: dict[str, Any],
    tmp_path: Path,
) -> None:
    results, logs = tmp_path / "results", tmp_path / "logs"
    results.mkdir()
    logs.mkdir()
    out = results / "v.json"
    cmd = values_cmd(offline_cache / "models" / "tiny-seed0", questionnaire, out)
    with open(logs / "killed.err", "w") as err:
        proc = subprocess.Popen(cmd, env=offline, stdout=subprocess.DEVNULL, stderr=err)
        _wait_for("scoring progress", _progress_in(logs / "killed.err", "scoring:"), proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    assert list(results.iterdir()) == []  # no result, no temp file that could pass for one

    rerun = subprocess.run(cmd, env=offline, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    _same_result(read_json(out), reference_values)
    assert [p.name for p in results.iterdir()] == ["v.json"]


@pytest.mark.slow
def test_concurrent_evaluations_to_one_file_leave_one_complete_result(
    offline: dict[str, str],
    offline_cache: Path,
    questionnaire: Path,
    reference_values: dict[str, Any],
    tmp_path: Path,
) -> None:
    out = tmp_path / "same.json"
    model = offline_cache / "models" / "tiny-seed0"
    # different bootstrap seeds: the two complete results differ (in their intervals)
    procs = [
        subprocess.Popen(
            values_cmd(model, questionnaire, out, "--seed", str(seed)),
            env=offline,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (0, 1)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for e in errors]
    result = json.loads(out.read_text())  # one whole JSON document, not two interleaved
    assert result["settings"]["seed"] in (0, 1)
    assert result["provenance"]["arguments"]["seed"] == str(result["settings"]["seed"])
    assert result["vector"] == reference_values["vector"]  # the vector does not use the seed
    if result["settings"]["seed"] == 0:
        _same_result(result, reference_values)
    assert [p.name for p in tmp_path.iterdir()] == ["same.json"]


def _write_corpus(path: Path, n: int = 400) -> Path:
    words = ("the", "king", "and", "the", "people", "of", "the", "land", "spoke", "of", "law")
    rows = [
        {
            "content": " ".join(words[(i + j) % len(words)] for j in range(60)),
            "creation_year": 1650,
            "source_dataset": "test",
            "license": "public-domain",
            "source": "test",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_sigkill_mid_training_leaves_no_model_and_the_rerun_completes(
    offline: dict[str, str], offline_cache: Path, tmp_path: Path
) -> None:
    corpus = _write_corpus(tmp_path / "C017.jsonl")
    models = tmp_path / "models"
    out = models / "C017"
    cmd = [
        sys.executable,
        "-m",
        "progalign.cli",
        "train-hislm",
        "--base",
        str(offline_cache / "models" / "tiny-seed0"),
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--max-seq-len",
        "32",
        "--batch-size",
        "4",
        "--top-k-layers",
        "1",
        "--max-tokens",
        "1024",
    ]  # 32 blocks: 7 steps per epoch
    err_log = tmp_path / "killed.err"
    with open(err_log, "w") as err:
        proc = subprocess.Popen(
            [*cmd, "--epochs", "200"], env=offline, stdout=subprocess.DEVNULL, stderr=err
        )
        _wait_for("training steps", _progress_in(err_log), proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    assert not out.exists()
    # only hidden scratch remains: nothing named like the output, no weights anywhere
    assert all(p.name.startswith(".C017.") for p in models.iterdir())
    assert not [p for p in models.rglob("*") if p.name in ("config.json", "model.safetensors")]

    rerun = subprocess.run(
        [*cmd, "--epochs", "1"], env=offline, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert {"config.json", "model.safetensors", "progalign_model.json"} <= {
        p.name for p in out.iterdir()
    }
    assert read_json(out / "progalign_model.json")["config"]["epochs"] == 1


# ----------------------------------------------------------------------------- Snakemake
def _workdir(path: Path) -> Path:
    path.mkdir()
    for name in ("Snakefile", "config.yaml", "configs", "workflow"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name)
        else:
            shutil.copy(src, path / name)
    return path


def _snakemake_cmd(*args: str, config: tuple[str, ...] = ()) -> list[str]:
    # targets before --configfile, which takes every following word as a file
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "1",
        *args,
        "--configfile",
        "configs/ci.yaml",
        *config,
    ]


def _outputs(workdir: Path) -> dict[str, Any]:
    """What a run produced: value vectors and tables (absent ones are simply not listed)."""
    found: dict[str, Any] = {}
    for path in sorted((workdir / "results").rglob("*")):
        rel = str(path.relative_to(workdir))
        if path.suffix == ".json" and "values" in path.parts:
            found[rel] = read_json(path)["vector"]
        elif path.suffix == ".csv" and "tables" in path.parts:
            found[rel] = path.read_text()
    return found


@pytest.fixture(scope="module")
def contested_run(
    offline_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], int]:
    """Start the CI workflow, then a second Snakemake on the same folder while it holds its lock.

    Returns the folder, the second invocation and the first one's exit code.
    """
    env = {
        **os.environ,
        "PROGALIGN_CACHE": str(offline_cache),
        "PROGALIGN_PYPI_INDEX": DEAD_INDEX,
        "HF_HUB_OFFLINE": "1",
    }
    workdir = _workdir(tmp_path_factory.mktemp("contested") / "wf")
    log = workdir.parent / "first.log"
    with open(log, "w") as handle:
        first = subprocess.Popen(
            _snakemake_cmd(TARGET),
            cwd=workdir,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        locks = workdir / ".snakemake" / "locks"
        _wait_for("the first run's lock", lambda: locks.is_dir() and any(locks.iterdir()), first)
        # Freeze the first run (Snakemake and its job) while the second one starts: otherwise a
        # fast first run can finish before the second builds its DAG, which then finds nothing
        # to do instead of a held lock.
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            assert not (workdir / TARGET).exists()
            second = subprocess.run(
                _snakemake_cmd(TARGET),
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        code = first.wait(timeout=600)
    assert code == 0, log.read_text()[-3000:]
    return workdir, second, code


@pytest.mark.slow
def test_second_snakemake_on_the_same_folder_is_refused_and_the_first_finishes(
    contested_run: tuple[Path, subprocess.CompletedProcess[str], int],
) -> None:
    workdir, second, first_code = contested_run
    assert second.returncode != 0 and first_code == 0
    said = second.stdout + second.stderr
    assert "LockException" in said and "cannot be locked" in said and "--unlock" in said
    result = read_json(workdir / "results/values/base.json")
    assert len(result["vector"]) == 19 and result["complete"] is True
    assert np.isfinite(result["vector"]).all()


@pytest.mark.slow
def test_sigkill_of_snakemake_mid_job_then_rerun_equals_an_uninterrupted_run(
    offline: dict[str, str],
    contested_run: tuple[Path, subprocess.CompletedProcess[str], int],
    tmp_path: Path,
) -> None:
    reference = _outputs(contested_run[0])
    workdir = _workdir(tmp_path / "wf")
    job_log = workdir / "logs/values/base.log"
    with open(tmp_path / "killed.log", "w") as handle:
        proc = subprocess.Popen(
            _snakemake_cmd(TARGET),
            cwd=workdir,
            env=offline,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for(
            "the values job",
            lambda: (
                job_log.exists()
                and ("Loading weights" in (text := job_log.read_text()) or "scoring" in text)
            ),
            proc,
        )
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its running job
        proc.wait()
    assert not (workdir / "results/values/base.json").exists()
    assert not _temp_files(workdir / "results")

    # the lock of the killed run stays: the next run refuses until --unlock (as for the
    # concurrent run of the previous test, whose message says so)
    assert any((workdir / ".snakemake" / "locks").iterdir())
    unlock = subprocess.run(
        _snakemake_cmd("--unlock"),
        cwd=workdir,
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = subprocess.run(
        _snakemake_cmd(TARGET, "--rerun-incomplete"),
        cwd=workdir,
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert reference and _outputs(workdir) == reference


@pytest.mark.slow
def test_workflow_with_a_missing_model_fails_naming_it_and_writes_no_values(
    offline: dict[str, str], tmp_path: Path
) -> None:
    workdir = _workdir(tmp_path / "wf")
    (workdir / "missing.yaml").write_text("models:\n  base: /nonexistent/model\n")
    done = subprocess.run(
        _snakemake_cmd(TARGET, config=("missing.yaml",)),
        cwd=workdir,
        env=offline,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    log = (workdir / "logs/values/base.log").read_text()
    assert "model '/nonexistent/model': no such folder" in log and "Traceback" not in log
    assert not (workdir / "results/values/base.json").exists()
    assert not _temp_files(workdir / "results")


def test_cli_with_a_missing_model_is_one_clear_error(
    offline: dict[str, str], questionnaire: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.json"
    assert (
        main(
            [
                "values",
                "--model",
                str(tmp_path / "no-model"),
                "--questionnaire",
                str(questionnaire),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no-model" in err and "no such folder" in err and "Traceback" not in err
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    assert (
        main(
            [
                "values",
                "--model",
                str(empty),
                "--questionnaire",
                str(questionnaire),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "empty-folder" in err and "cannot be loaded" in err and "Traceback" not in err
    corpus = _write_corpus(tmp_path / "C017.jsonl", n=4)
    assert (
        main(
            [
                "train-hislm",
                "--base",
                "./no/such/model",
                "--corpus",
                str(corpus),
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    assert "./no/such/model" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "m").exists()


# ----------------------------------------------------------------------------- downloads
PAYLOAD = hashlib.sha256(b"seed").digest() * 4096  # 131,072 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CUT = 20_000
FLIPPED = PAYLOAD[:70_000] + bytes([PAYLOAD[70_000] ^ 0x10]) + PAYLOAD[70_001:]


class _Faulty(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD; each request takes the next scripted fault (then behaves)."""

    faults: ClassVar[list[str]] = []
    seen: ClassVar[list[str | None]] = []  # the Range header of every request

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        fault = self.faults.pop(0) if self.faults else "ok"
        header = self.headers.get("Range")
        self.seen.append(header)
        start = int(header.split("=")[1].rstrip("-")) if header and fault != "no-range" else 0
        body = (FLIPPED if fault == "flip" else PAYLOAD)[start:]
        if fault == "short-no-length":  # close-delimited body that simply ends too early
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[:50_000])
            self.close_connection = True
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "cut":  # the connection drops mid-body
            self.wfile.write(body[:CUT])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)


Served = tuple[str, type[_Faulty]]  # the file's URL and the handler class (faults, seen)


@pytest.fixture()
def faulty() -> Iterator[Served]:
    handler = type("Scripted", (_Faulty,), {"faults": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/f.bin", handler
    server.shutdown()
    server.server_close()


def test_truncated_body_without_length_is_refetched_and_never_used(
    faulty: Served, tmp_path: Path
) -> None:
    url, handler = faulty
    handler.faults[:] = ["short-no-length"]
    dest = tmp_path / "f.bin"
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen == [None, None]  # the short copy failed its sha256: fetched afresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_always_truncated_is_a_clear_error_and_leaves_nothing_at_the_target(
    faulty: Served, tmp_path: Path
) -> None:
    url, handler = faulty
    handler.faults[:] = ["short-no-length"] * 2
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="does not match the pinned sha256"):
        fetch(url, dest, SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bit_flip_is_rejected_and_one_fresh_fetch_repairs_it(
    faulty: Served, tmp_path: Path
) -> None:
    url, handler = faulty
    handler.faults[:] = ["flip"]
    dest = tmp_path / "f.bin"
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen == [None, None]


def test_corrupt_part_left_by_an_earlier_run_is_discarded(faulty: Served, tmp_path: Path) -> None:
    url, handler = faulty
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(FLIPPED[:80_000])  # resumable, but wrong bytes
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen == ["bytes=80000-", None]  # resumed, failed the check, refetched


def test_corrupt_file_at_the_target_is_replaced(faulty: Served, tmp_path: Path) -> None:
    url, handler = faulty
    dest = tmp_path / "f.bin"
    dest.write_bytes(FLIPPED)
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen == [None]


def test_server_ignoring_range_restarts_cleanly(faulty: Served, tmp_path: Path) -> None:
    url, handler = faulty
    handler.faults[:] = ["cut", "no-range"]
    dest = tmp_path / "f.bin"
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen == [None, f"bytes={CUT}-"]  # answered 200: the part was rewritten


def test_repeated_drops_stop_with_a_resumable_part_and_the_rerun_completes(
    faulty: Served, tmp_path: Path
) -> None:
    url, handler = faulty
    handler.faults[:] = ["cut"] * 8
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="rerun to resume"):
        fetch(url, dest, SHA, progress=False)
    part = dest.with_name("f.bin.part")
    size = part.stat().st_size
    assert not dest.exists() and 0 < size < len(PAYLOAD) and part.read_bytes() == PAYLOAD[:size]
    handler.faults.clear()
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert not part.exists() and handler.seen[-1] == f"bytes={size}-"


# ----------------------------------------------------------------------------- full disk, EACCES
@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_disk_full_keeps_old_file_and_folder_and_leaves_no_temp(small_disk: Path) -> None:
    target = small_disk / "r.json"
    write_json(target, {"v": 1})
    with pytest.raises(OSError) as info:
        write_json(target, {"v": "x" * 200_000})
    assert info.value.errno == errno.ENOSPC
    assert read_json(target) == {"v": 1}
    model = small_disk / "model"
    with atomic_dir(model) as tmp:
        (tmp / "weights").write_text("old")
    with pytest.raises(OSError) as info, atomic_dir(model) as tmp:
        (tmp / "weights").write_bytes(b"x" * 200_000)
    assert info.value.errno == errno.ENOSPC
    assert (model / "weights").read_text() == "old"
    assert sorted(p.name for p in small_disk.iterdir()) == ["model", "r.json"]


def test_download_onto_a_full_disk_says_so_and_resumes_once_there_is_space(
    small_disk: Path, faulty: Served
) -> None:
    url, handler = faulty
    dest = small_disk / "f.bin"
    with pytest.raises(DownloadError, match="No space left"):
        fetch(url, dest, SHA, progress=False)
    assert handler.seen == [None]  # a full disk is not a dropped connection: no retries
    assert not dest.exists()
    size = dest.with_name("f.bin.part").stat().st_size
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)
    assert fetch(url, dest, SHA, progress=False).read_bytes() == PAYLOAD
    assert handler.seen[-1] == f"bytes={size}-" and not _temp_files(small_disk)


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` characters."""

    def __init__(self, handle: IO[Any], room: int) -> None:
        self.handle, self.room = handle, room

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, data: Any) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(self.handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _denied(*args: object, **kwargs: object) -> Any:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


@pytest.mark.parametrize("fault", ["write", "fsync", "mkstemp", "replace"])
def test_failed_atomic_write_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    target = tmp_path / "r.json"
    write_json(target, {"v": 1})
    if fault == "write":
        real = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real(fd, *a, **k), 10))
    elif fault == "fsync":
        monkeypatch.setattr(
            os,
            "fsync",
            lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
        )
    elif fault == "mkstemp":  # a read-only folder (root ignores chmod, so simulate EACCES)
        monkeypatch.setattr(pio.tempfile, "mkstemp", _denied)
    else:
        monkeypatch.setattr(os, "replace", _denied)
    with pytest.raises(OSError) as info:
        write_json(target, {"v": 2, "pad": "x" * 100})
    assert info.value.errno in (errno.ENOSPC, errno.EACCES)
    monkeypatch.undo()
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("failing_call", [1, 2])
def test_failed_folder_replace_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    """Replacing a folder takes two renames (old aside, new in); either may be refused."""
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("old")
    real, calls = os.replace, []

    def replace(src: Any, dst: Any) -> None:
        calls.append(1)
        if len(calls) == failing_call:
            _denied()
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError), atomic_dir(target) as tmp:
        (tmp / "weights").write_text("new")
    monkeypatch.undo()
    assert (target / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_folder_that_appears_while_we_finish_is_replaced_not_crashed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two builders of one cache folder (e.g. two jobs converting the embedded model)."""
    target = tmp_path / "model"
    real, raced = os.replace, list[bool]()

    def replace(src: Any, dst: Any) -> None:
        if not raced:  # the other builder finishes between our check and our rename
            raced.append(True)
            target.mkdir()
            (target / "weights").write_text("theirs")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("ours")
    monkeypatch.undo()
    assert (target / "weights").read_text() == "ours"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# ----------------------------------------------------------------------------- malformed input
_MC_RULES = [
    "death",
    "pain",
    "disable",
    "freedom",
    "pleasure",
    "deceive",
    "cheat",
    "break_promise",
    "break_law",
    "duty",
]
MC_HEADER = [
    "scenario_id",
    "ambiguity",
    "generation_type",
    "generation_rule",
    "context",
    "action1",
    "action2",
    *(f"a1_{r}" for r in _MC_RULES),
    *(f"a2_{r}" for r in _MC_RULES),
]


def _mc_row(sid: str) -> list[str]:
    return [
        sid,
        "low",
        "Generated",
        "Do not kill",
        "You hold a grenade.",
        "I throw it.",
        "I keep it.",
        "Yes",
        *["No"] * 19,
    ]


@pytest.mark.parametrize("ragged", ["short", "long"])
def test_ragged_csv_row_is_one_clear_error_naming_file_and_row(
    offline: dict[str, str],
    offline_cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ragged: str,
) -> None:
    rows = [MC_HEADER, _mc_row("H_1"), _mc_row("H_2"), _mc_row("H_3")]
    rows[2] = rows[2][:-3] if ragged == "short" else [*rows[2], "Yes"]
    csv = tmp_path / "mine.csv"
    csv.write_text("".join(",".join(r) + "\n" for r in rows))
    out = tmp_path / "v.json"
    assert (
        main(
            [
                "values",
                "--model",
                str(offline_cache / "models" / "tiny-seed0"),
                "--moralchoice",
                str(csv),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "mine.csv" in err and "row 3" in err and "Traceback" not in err
    assert not out.exists()


def test_truncated_questionnaire_items_are_refused(
    offline: dict[str, str],
    offline_cache: Path,
    questionnaire: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    torn = tmp_path / "q"
    shutil.copytree(questionnaire, torn)
    items = torn / "items.jsonl"
    items.write_bytes(items.read_bytes()[:-40])  # a writer killed mid-line (no atomic write)
    out = tmp_path / "v.json"
    assert (
        main(
            [
                "values",
                "--model",
                str(offline_cache / "models" / "tiny-seed0"),
                "--questionnaire",
                str(torn),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "items.jsonl" in err and "truncated" in err and not out.exists()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("this is not JSON", "invalid JSON"),
        ('{"content": "a torn last li', "invalid JSON"),
        ('["a", "list"]', "expected a JSON object"),
    ],
)
def test_corpus_line_that_is_not_a_record_names_file_and_line(
    offline: dict[str, str],
    offline_cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: str,
    problem: str,
) -> None:
    corpus = _write_corpus(tmp_path / "C017.jsonl", n=2)
    with corpus.open("a") as handle:
        handle.write(line + ("\n" if "torn" not in line else ""))
    out = tmp_path / "model"
    assert (
        main(
            [
                "train-hislm",
                "--base",
                str(offline_cache / "models" / "tiny-seed0"),
                "--corpus",
                str(corpus),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{corpus}, row 3: {problem}" in err and "Traceback" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["C017.jsonl"]


# ----------------------------------------------------------------------------- model garbage
def test_empty_refusing_and_garbage_answers_are_counted_never_nan(head_templates: Path) -> None:
    from progalign.evaluation.engine import EvalSettings, evaluate
    from progalign.evaluation.templates import load_templates
    from progalign.questionnaire.items import Item
    from scripted import ScriptedBackend

    labels: dict[str, tuple[str, ...]] = {"a1": ("Yes",) + ("No",) * 9, "a2": ("No",) * 10}
    items = [
        Item(
            "H_1",
            "moralchoice",
            "You hold a grenade.",
            ("I throw it.", "I keep it."),
            labels=labels,
        ),
        Item(
            "F_1",
            "foundation",
            "A child is bullied.",
            ("I intervene.", "I walk away."),
            theme="Harm_Care",
        ),
        Item(
            "V_1",
            "views",
            "What is art?",
            ("Art is divine.", "Art is material.", "Art is constructed.", "Art is integral."),
        ),
    ]
    answers = {
        "grenade": "",
        "bullied": "I'm sorry, but I cannot help with that.",
        "art": "\x00\ufffd\u202e ##### " + "lorem " * 500,
    }

    def answer(prompt: str) -> str:
        return next(a for key, a in answers.items() if key in prompt)

    templates = load_templates(head_templates)
    settings = EvalSettings(mode="generate", permutations="cyclic", bootstrap=20)
    result = evaluate(items, templates, ScriptedBackend(answer=answer), settings)
    assert result["complete"] is False
    assert all(g["valid"] == 0 for g in result["groups"].values())
    # an empty answer counts as a refusal (3 question types x 2 orders of H_1 and of F_1);
    # garbage is invalid (2 question types x 4 orders of V_1)
    assert result["counts"]["refusals"] == 12 and result["counts"]["invalid"] == 8
    assert all(item["p"] is None for item in result["items"])
    for values in (result["vector"], result["ci95"]["low"], result["ci95"]["high"]):
        assert np.isfinite(values).all()
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN anywhere


def test_non_finite_log_likelihoods_are_invalid_answers_not_nan(head_templates: Path) -> None:
    """NaN/inf scores (e.g. half-precision overflow) must not poison the vector."""
    import math

    from progalign.backends.base import ContinuationScore
    from progalign.evaluation.engine import EvalSettings, evaluate
    from progalign.evaluation.templates import load_templates
    from progalign.questionnaire.items import Item
    from scripted import ScriptedBackend

    class Overflowing(ScriptedBackend):
        def loglikelihood(self, requests: Any, progress: bool = False) -> Any:
            def score(context: str, n: int) -> list[float]:
                if "grenade" in context:
                    return [math.nan] * n
                if "bullied" in context:
                    return [-math.inf] * n
                return [-1.0, -math.inf, -2.0, -3.0][:n]

            return [
                [ContinuationScore(v, 1) for v in score(r.context, len(r.continuations))]
                for r in requests
            ]

    items = [
        Item(
            "H_1",
            "moralchoice",
            "You hold a grenade.",
            ("I throw it.", "I keep it."),
            labels={"a1": ("Yes",) + ("No",) * 9, "a2": ("No",) * 10},
        ),
        Item(
            "F_1",
            "foundation",
            "A child is bullied.",
            ("I intervene.", "I walk away."),
            theme="Harm_Care",
        ),
        Item(
            "V_1",
            "views",
            "What is art?",
            ("Art is divine.", "Art is material.", "Art is constructed.", "Art is integral."),
        ),
    ]
    settings = EvalSettings(permutations="identity", bootstrap=20)
    result = evaluate(items, load_templates(head_templates), Overflowing(), settings)
    assert result["counts"]["invalid"] == 6  # 3 types of H_1 + 3 of F_1
    assert result["groups"]["views"]["valid"] == 1 and result["complete"] is False
    assert result["items"][2]["p"][1] == 0.0  # -inf on one option is a probability of 0
    json.dumps(result, allow_nan=False)
