"""Start and stop the warm worker for one Snakemake run (its onstart/onsuccess/onerror)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from progalign_worker.identity import ENV_VAR

_running: dict[str, subprocess.Popen[bytes]] = {}


_SHIM = """#!/bin/sh
# progalign through the run's warm worker (progalign_worker); plain progalign when none fits
exec {python} -m progalign_worker.client "$@"
"""


def start(log: str | os.PathLike[str]) -> str:
    """Start a worker and route the ``progalign`` calls of the jobs started after this call to it.

    Exports ``$PROGALIGN_WORKER`` and puts a ``progalign`` shim (``python -m
    progalign_worker.client``) first on ``$PATH``; the ``progalign`` console script itself knows
    nothing of the worker.

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
        proc = subprocess.Popen(
            [sys.executable, "-m", "progalign_worker.server", "--socket", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    _running[str(path)] = proc
    shim = folder / "bin" / "progalign"
    shim.parent.mkdir()
    shim.write_text(_SHIM.format(python=shlex.quote(sys.executable)), encoding="utf-8")
    shim.chmod(0o755)
    os.environ[ENV_VAR] = str(path)
    os.environ["PATH"] = f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}"
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
    """Stop the workers started by :func:`start` in this process; undo the environment."""
    os.environ.pop(ENV_VAR, None)
    while _running:
        path, proc = _running.popitem()
        shim_dir = str(Path(path).parent / "bin")
        os.environ["PATH"] = os.pathsep.join(
            d for d in os.environ.get("PATH", "").split(os.pathsep) if d != shim_dir
        )
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
