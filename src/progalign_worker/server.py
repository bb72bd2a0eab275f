"""A warm fork server for the ``progalign`` CLI (``python -m progalign_worker.server``).

Every workflow job is a fresh ``progalign`` process, and importing torch, transformers and TRL
costs 5-8 s of CPU before any work starts: on the embedded default (115 jobs, 2 cores) that
is ~15 % of the run. The server imports them once and forks a child per job: the child takes
the job's stdin/stdout/stderr (passed over a Unix socket), working directory, environment and
arguments, runs :func:`progalign.cli.main` and reports the exit code. The child dies with its
job: when the job's client process goes away, so does the child. The server itself never runs
a torch operation or creates a thread, so every child starts as clean as a new process.

Nothing here decides results: a job gives bit-identical outputs in a child and in its own
process (tested). No library does this (``multiprocessing``'s forkserver serves its own pools,
not unrelated processes), hence the hand-written protocol: one JSON request with three file
descriptors, one ``rc N`` reply.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from progalign_worker.identity import THREAD_VARS, apply_thread_counts, identity

#: Imported before the first fork: what the jobs' commands would import themselves.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.trainer",
    "safetensors.torch",
    "datasets",
    "trl",
    "trl.trainer.dpo_trainer",
    "trl.trainer.reward_trainer",
    "trl.trainer.rloo_trainer",
    "trl.trainer.sft_trainer",
    "progalign.cli",
    "progalign.evaluation.api",
    "progalign.evaluation.cli",
    "progalign.benchmark.cli",
    "progalign.benchmark.steps",
    "progalign.training.cli",
    "progalign.training.preference",
    "progalign.backends.hf",
)

_HEADER = struct.Struct("!I")


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules``; return those that failed (a job then imports what it needs)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # an optional stack missing here must not stop the server
            failed.append(name)
    return failed


def read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One length-prefixed JSON request and the file descriptors sent with it."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < _HEADER.size:
        raise ConnectionError("truncated request")
    (length,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ConnectionError("truncated request")
        body += chunk
    return json.loads(body.decode("utf-8")), list(fds)


def _die_with_client(conn: socket.socket) -> None:
    """Kill this child as soon as its client closes the connection (the job was killed)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            conn.recv(1)  # the client never sends more: this returns only on close
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _run_job(conn: socket.socket, expected: dict[str, Any]) -> int:
    """In the forked child: adopt the job's context, run the CLI, return its exit code."""
    request, fds = read_request(conn)
    theirs = request.get("identity") or {}
    if theirs != expected or len(fds) != 3:
        differs = sorted(
            k for k in expected.keys() | theirs.keys() if expected.get(k) != theirs.get(k)
        )
        print(
            f"progalign worker: refused a job (differs: {differs or 'fds'}); it runs in its "
            "own process",
            file=sys.stderr,
            flush=True,
        )
        conn.sendall(b"refuse\n")
        return 0
    command = " ".join(request["argv"])[:300]
    print(
        f"progalign worker: running progalign {command} in pid {os.getpid()}",
        file=sys.stderr,
        flush=True,
    )
    log_fd = os.dup(2)  # the server's log, for the usage line after the job
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    conn.sendall(b"ok\n")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    apply_thread_counts(request["env"])
    sys.argv = ["progalign", *request["argv"]]
    _die_with_client(conn)
    from progalign.cli import main

    try:
        code: Any = main(request["argv"])
    except SystemExit as exc:  # argparse errors and --help; a message goes to stderr as usual
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    rc = code if isinstance(code, int) else (0 if code is None else 1)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    os.write(
        log_fd,
        (
            f"progalign worker: done pid {os.getpid()} rc {rc} "
            f"cpu_s {usage.ru_utime + usage.ru_stime:.1f} "
            f"max_rss_mib {usage.ru_maxrss / 1024:.0f}: {command}\n"
        ).encode(),
    )
    conn.sendall(f"rc {rc}\n".encode())
    return rc


def _child(conn: socket.socket, listener: socket.socket, expected: dict[str, Any]) -> None:
    listener.close()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    rc = 1
    try:
        rc = _run_job(conn, expected)
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        os._exit(rc)


def _parent_death_signal() -> None:
    """Ask Linux to SIGTERM the server when the process that started it dies."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def serve(path: Path, idle_exit_s: float = 6 * 3600) -> None:
    """Preload, listen on ``path`` and fork a child per request until terminated.

    The server exits on SIGTERM, when the process that started it dies, or after
    ``idle_exit_s`` without a request. ``path + ".ready"`` appears once it accepts jobs.
    """
    parent = os.getppid()
    _parent_death_signal()
    for name in THREAD_VARS:  # import torch with the machine's default; jobs set their own
        os.environ.pop(name, None)
    expected = identity()  # before the imports, some of which set variables of their own
    failed = preload()
    if threading.active_count() != 1:  # never fork a multi-threaded process
        print("progalign worker: a preloaded module started a thread; not serving", file=sys.stderr)
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ready = Path(f"{path}.ready")
    try:
        listener.bind(str(path))
        listener.listen(64)
        listener.settimeout(1.0)
        ready.write_text(json.dumps({"pid": os.getpid(), "failed_preloads": failed}))
        print(
            f"progalign worker {os.getpid()}: serving on {path}"
            f" (preload failures: {failed or 'none'})",
            file=sys.stderr,
            flush=True,
        )
        last = time.monotonic()
        while os.getppid() == parent and time.monotonic() - last < idle_exit_s:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                _child(conn, listener, expected)
            conn.close()
    finally:
        listener.close()
        for leftover in (path, ready):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def main(argv: list[str] | None = None) -> int:
    """``python -m progalign_worker.server --socket PATH``."""
    parser = argparse.ArgumentParser(prog="progalign-worker", description=__doc__)
    parser.add_argument("--socket", required=True, type=Path, help="Unix socket to listen on")
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=6 * 3600,
        help="exit after this many seconds without a job",
    )
    args = parser.parse_args(argv)
    serve(args.socket, args.idle_exit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
