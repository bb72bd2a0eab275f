"""The job side of the warm worker: hand this ``progalign`` call to the worker, if one fits.

``python -m progalign_worker.client ARGS`` is what the workflow's ``progalign`` shim runs while a
worker serves the run (``workflow/rules/worker.smk``); the ``progalign`` console script itself
never touches the worker.

Only the standard library is imported here, so a job that the worker runs never pays for
torch. Any doubt (no worker, a different interpreter or code version, a batch job or a
container, a refused or broken connection before the job started) means the call runs in
this process as usual.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Sequence

from progalign_worker.identity import ENV_VAR, foreign_context, identity

_HEADER = struct.Struct("!I")


def run_in_worker(argv: Sequence[str]) -> int | None:
    """Run ``progalign argv`` in the worker named by ``$PROGALIGN_WORKER``.

    Returns:
        The job's exit code, or None when the call must run in this process instead.
    """
    path = os.environ.get(ENV_VAR)
    if not path or foreign_context() is not None or not os.path.exists(path):
        return None
    request = {
        "identity": identity(),
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
    }
    body = json.dumps(request).encode("utf-8")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        sys.stdout.flush()
        sys.stderr.flush()
        socket.send_fds(sock, [_HEADER.pack(len(body)) + body], [0, 1, 2])
        reader = sock.makefile("rb")
        _end_with_signals()
        accepted = reader.readline().decode("utf-8", "replace").strip()
        if accepted != "ok":  # refused (its identity differs) or gone: nothing ran
            return None
        reply = reader.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        sock.close()
    if not reply.startswith("rc "):
        print(
            f"progalign: the worker process running this job ended without an exit code ({path})",
            file=sys.stderr,
        )
        return 1
    return int(reply[3:])


def _end_with_signals() -> None:
    """A signal ends this client at once; closing the socket then ends the job in the worker."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``progalign argv`` in the worker if one fits, else in this process."""
    args = list(sys.argv[1:] if argv is None else argv)
    remote = run_in_worker(args)
    if remote is not None:
        return remote
    from progalign.cli import main as progalign_main

    return progalign_main(args)


if __name__ == "__main__":
    sys.exit(main())
