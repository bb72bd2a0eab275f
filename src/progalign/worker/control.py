"""Start and stop the warm worker for one Snakemake run (its onstart/onsuccess/onerror)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from progalign.worker.identity import ENV_VAR

_running: dict[str, subprocess.Popen[bytes]] = {}


def start(log: str | os.PathLike[str]) -> str:
    """Start a worker and export ``$PROGALIGN_WORKER`` to the jobs started after this call.

    Returns at once: the worker opens its socket when its imports are done (5-10 s), and a
    job that starts before then, or after the worker failed (see ``log``), runs as a plain
    process.

    Args:
        log: File for the worker's own messages (jobs keep their own logs).

    Returns:
        The socket path.
    """
    folder = Path(tempfile.mkdtemp(prefix="progalign-worker-"))  # short: AF_UNIX limits paths
    path = folder / "socket"
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "progalign.worker.server", "--socket",
                                 str(path)], stdin=subprocess.DEVNULL, stdout=handle,
                                stderr=subprocess.STDOUT)
    _running[str(path)] = proc
    os.environ[ENV_VAR] = str(path)
    return str(path)


def wait_ready(path: str, timeout_s: float = 120.0) -> bool:
    """Wait until the worker at ``path`` serves; False if it ended or timed out first."""
    proc = _running.get(path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        if Path(f"{path}.ready").exists():
            return True
        time.sleep(0.05)
    return False


def stop() -> None:
    """Stop the workers started by :func:`start` in this process; unset the variable."""
    os.environ.pop(ENV_VAR, None)
    while _running:
        path, proc = _running.popitem()
        _terminate(proc)
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
