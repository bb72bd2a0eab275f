"""One node's accelerate launcher of a multi-node run, started by ``srun`` (one task per node).

``python -m progalign.training.slurm_task --launch TEXT REQUEST`` adds to the accelerate
command prefix ``TEXT`` what differs per node, all read from SLURM's environment:

* ``--machine_rank``: ``SLURM_NODEID`` (else ``SLURM_PROCID``; one task per node);
* ``--main_process_ip``: the first host of ``SLURM_JOB_NODELIST`` (expanded by
  ``scontrol show hostnames``);
* ``--main_process_port``: :func:`main_port` of ``SLURM_JOB_ID``, the same on every node.

It logs ``slurm_task: machine_rank=R node=HOST main_process_ip=H main_process_port=P``
to stderr and then replaces itself with ``TEXT ... -m progalign.training.rank REQUEST``. See
docs/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping

from progalign.errors import ProgalignError, SettingError

#: The main process port is ``PORT_BASE + SLURM_JOB_ID % PORT_SPAN``: unprivileged, below
#: Linux's default ephemeral range (32768-60999), and the same on every node of a job.
PORT_BASE = 15000
PORT_SPAN = 15000


def main_port(job_id: str) -> int:
    """The rendezvous port of a SLURM job (stable per job, in ``[15000, 30000)``).

    Raises:
        SettingError: a job id that is not a number.
    """
    base = job_id.split("_", 1)[0]  # array jobs: "<job>_<task>"
    if not base.isdigit():
        raise SettingError(f"SLURM_JOB_ID {job_id!r} is not a job number")
    return PORT_BASE + int(base) % PORT_SPAN


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (``node[01-04],gpu7`` -> ``node01``).

    Uses ``scontrol show hostnames``; a list without ranges or commas is its own first host.

    Raises:
        ProgalignError: scontrol is missing or fails on a compressed list.
    """
    if not any(c in nodelist for c in "[,"):
        return nodelist.strip()
    try:
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ProgalignError(
            f"cannot expand SLURM_JOB_NODELIST {nodelist!r} with scontrol: {exc}"
        ) from None
    if not out:
        raise ProgalignError(f"scontrol shows no hosts in SLURM_JOB_NODELIST {nodelist!r}")
    return out[0]


def machine_arguments(env: Mapping[str, str]) -> list[str]:
    """The per-node accelerate options from SLURM's environment ``env``.

    Raises:
        SettingError: not inside a SLURM job step (a variable is missing).
    """
    missing = [k for k in ("SLURM_JOB_ID", "SLURM_JOB_NODELIST") if not env.get(k)]
    node = env.get("SLURM_NODEID") or env.get("SLURM_PROCID")
    if node is None:
        missing.append("SLURM_NODEID")
    if missing:
        raise SettingError(
            f"not inside a SLURM job step ({', '.join(missing)} unset); multi-node training "
            "starts this through srun"
        )
    return [
        "--machine_rank",
        str(node),
        "--main_process_ip",
        first_host(env["SLURM_JOB_NODELIST"]),
        "--main_process_port",
        str(main_port(env["SLURM_JOB_ID"])),
    ]


def task_command(text: str, request: str, env: Mapping[str, str]) -> list[str]:
    """This node's command: the launch prefix, the node's options, the rank module."""
    from progalign.training.launch import RANK_MODULE, launch_words, resolve_executable

    words = launch_words(text)
    for flag in ("--machine_rank", "--main_process_ip", "--main_process_port"):
        if any(w == flag or w.startswith(flag + "=") for w in words):
            raise SettingError(f"--launch {text!r}: leave {flag} out; SLURM's environment sets it")
    return [*resolve_executable(words), *machine_arguments(env), "-m", RANK_MODULE, request]


def main(argv: list[str] | None = None) -> int:
    """Entry point: build this node's command and replace this process with it."""
    parser = argparse.ArgumentParser(prog="python -m progalign.training.slurm_task")
    parser.add_argument("--launch", required=True, help="the accelerate command prefix")
    parser.add_argument("--print", action="store_true", help="print the command, do not run it")
    parser.add_argument("request", help="the request file (progalign.training.launch)")
    args = parser.parse_args(argv)
    try:
        argv_out = task_command(args.launch, args.request, os.environ)
    except ProgalignError as exc:
        print(f"progalign slurm task: error: {exc}", file=sys.stderr)
        return 2
    given = argv_out[argv_out.index("--machine_rank") :][:6]
    host = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    print(
        f"slurm_task: machine_rank={given[1]} node={host} main_process_ip={given[3]} "
        f"main_process_port={given[5]}",
        file=sys.stderr,
        flush=True,
    )
    if args.print:
        print(shlex.join(argv_out))
        return 0
    sys.stdout.flush()
    os.execvp(argv_out[0], argv_out)
    return 0  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
