"""Run a training stage under ``accelerate launch`` instead of in this process.

A *launch* is an accelerate command prefix, e.g. ``accelerate launch --config_file
configs/accelerate/zero3.yaml --num_machines 1 --num_processes 8`` (``progalign train-hislm
--launch TEXT``, ``progalign step examinee|humans --launch TEXT``, or the environment variable
:data:`LAUNCH_ENV`). With none set, every stage trains in the calling process, as before.

With one set, each stage function (:func:`~progalign.training.dpo.train_dpo` and the others)
hands its arguments to :func:`delegate`: they are written to a request file in a scratch
folder beside the output, ``TEXT -m progalign.training.rank REQUEST`` runs as a subprocess
(every rank builds the same trainer, the main rank writes the output folder atomically),
and the caller gets the record the ranks wrote, exactly as from an in-process run. Its output
goes to this process's stderr and to a log file that a failure names. What the caller does
afterwards (the benchmark's evaluation) stays in this process, outside any process group.

When ``--num_machines`` is above 1, one accelerate launcher per node is started through
``srun`` inside a SLURM allocation (:mod:`progalign.training.slurm_task` fills in each node's
machine rank and the main node's address). See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError, SettingError
from progalign.io import read_json, remove_stale_siblings, scratch_dir, sha256_file, write_json
from progalign.training import memory
from progalign.training.memory import MemorySaving

log = logging.getLogger(__name__)

#: Environment variable holding a launch prefix (the ``--launch`` flag takes precedence).
LAUNCH_ENV = "PROGALIGN_LAUNCH"
#: Set in the launched processes: the request they serve (a rank never launches again).
RANK_ENV = "PROGALIGN_RANK_REQUEST"
#: The module every rank runs (``accelerate launch ... -m RANK_MODULE REQUEST``).
RANK_MODULE = "progalign.training.rank"
#: The per-node entry of a multi-node launch (``srun ... -m SLURM_TASK_MODULE``).
SLURM_TASK_MODULE = "progalign.training.slurm_task"
#: Name of the request file in the stage's scratch folder.
REQUEST_FILE = "request.json"

_LAUNCH: contextvars.ContextVar[str | None] = contextvars.ContextVar("launch", default=None)


@contextlib.contextmanager
def launching(text: str | None, memory_saving: MemorySaving | None = None) -> Iterator[None]:
    """Train every stage started inside the block under the launch prefix ``text``.

    Args:
        text: An accelerate command prefix; None or blank leaves the current choice
            (the environment's :data:`LAUNCH_ENV`, else in-process training).
        memory_saving: Memory savings for those stages (None: leave the current ones).
    """
    with contextlib.ExitStack() as stack:
        if memory_saving is not None:
            stack.enter_context(memory.saving(memory_saving))
        if text is not None and text.strip():
            launch_words(text)  # fail on a bad prefix before any work
            token = _LAUNCH.set(text)
            stack.callback(_LAUNCH.reset, token)
        yield


def add_launch_argument(parser: Any) -> None:
    """Add ``--launch TEXT`` and the memory savings' flags to a training command's parser."""
    parser.add_argument(
        "--launch",
        metavar="TEXT",
        help="train each stage under this accelerate command prefix, e.g. 'accelerate launch "
        "--config_file configs/accelerate/zero3.yaml --num_machines 1 --num_processes 8' "
        f"(default: ${LAUNCH_ENV}, else in this process; docs/distributed.md)",
    )
    memory.add_memory_arguments(parser)


def current_launch() -> str | None:
    """The launch prefix in force here (None: train in this process, also inside a rank)."""
    if os.environ.get(RANK_ENV):
        return None
    text = _LAUNCH.get() or os.environ.get(LAUNCH_ENV, "")
    return text if text.strip() else None


def launched() -> dict[str, Any] | None:
    """In a launched rank: the launch description of its request (see
    :func:`launch_description`); None in a process that was not launched."""
    request = os.environ.get(RANK_ENV)
    if not request:
        return None
    data = read_json(request)
    info: dict[str, Any] = data.get("launch") or {} if isinstance(data, dict) else {}
    return info


def current_memory() -> MemorySaving:
    """The memory savings in force: in a launched rank, those its request carries; elsewhere
    those the command set (:func:`progalign.training.memory.saving`)."""
    request = os.environ.get(RANK_ENV)
    if not request:
        return memory.in_force()
    data = read_json(request)
    saved = data.get("memory") if isinstance(data, dict) else None
    return MemorySaving(**saved) if isinstance(saved, dict) else MemorySaving()


def processes() -> int:
    """Processes a stage started here trains with: the ranks' ``WORLD_SIZE`` inside a launched
    rank, the ``--num_processes`` of the launch in force, else 1 (in this process)."""
    if os.environ.get(RANK_ENV):
        return int(os.environ.get("WORLD_SIZE", "1"))
    text = current_launch()
    if text is None:
        return 1
    value = option(launch_words(text), "--num_processes") or "1"
    if not value.isdigit() or int(value) < 1:
        raise SettingError(f"--launch: --num_processes {value!r} is not a positive integer")
    return int(value)


def launch_words(text: str) -> list[str]:
    """Split a launch prefix into words, checking that it is an accelerate launch command.

    Raises:
        SettingError: unparsable text, or not ``accelerate launch ...`` (the module mode
            ``-m`` and the script are added by the launcher).
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SettingError(f"--launch {text!r}: cannot parse ({exc})") from None
    if len(words) < 2 or Path(words[0]).name != "accelerate" or words[1] != "launch":
        raise SettingError(
            f"--launch {text!r}: expected an accelerate command prefix such as "
            "'accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2'"
        )
    if any(w in ("-m", "--module", "--no_python") for w in words):
        raise SettingError(f"--launch {text!r}: leave out -m/--module; the launcher adds it")
    return words


def option(words: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``words`` (None: absent)."""
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def num_machines(words: list[str]) -> int:
    """``--num_machines`` of a launch (1 when absent).

    Raises:
        SettingError: a value that is not a positive integer.
    """
    value = option(words, "--num_machines") or "1"
    if not value.isdigit() or int(value) < 1:
        raise SettingError(f"--launch: --num_machines {value!r} is not a positive integer")
    return int(value)


def launch_description(words: list[str]) -> dict[str, Any]:
    """What a rank records about its launch: the command, machines, config file and sha256."""
    config = option(words, "--config_file")
    info: dict[str, Any] = {
        "launch": shlex.join(words),
        "num_machines": num_machines(words),
        "accelerate_config": config,
        "accelerate_config_sha256": None,
    }
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise SettingError(f"--launch: accelerate config file {config} not found")
        info["accelerate_config_sha256"] = sha256_file(path)
    return info


def resolve_executable(words: list[str]) -> list[str]:
    """The accelerate of this Python's environment when ``accelerate`` is not on PATH."""
    if words[0] == "accelerate" and shutil.which("accelerate") is None:
        beside = Path(sys.executable).parent / "accelerate"
        if beside.is_file():
            return [str(beside), *words[1:]]
    return words


def cpus_per_task(env: dict[str, str]) -> int | None:
    """The job's CPUs per task: ``SLURM_CPUS_PER_TASK``, else ``CPUs/Task`` of ``scontrol show
    job -o $SLURM_JOB_ID`` (a Snakemake job step sees only ``SLURM_JOB_ID``); None if unknown."""
    value = env.get("SLURM_CPUS_PER_TASK", "")
    if not value.isdigit():
        try:
            shown = subprocess.run(
                ["scontrol", "show", "job", "-o", env.get("SLURM_JOB_ID", "")],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        fields = dict(f.split("=", 1) for f in shown.split() if "=" in f)
        value = fields.get("CPUs/Task", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def command(text: str, request: Path, env: dict[str, str] | None = None) -> list[str]:
    """The subprocess that serves ``request`` under the launch ``text``.

    One machine: ``TEXT -m progalign.training.rank REQUEST``. Several: ``srun`` starts one
    :mod:`progalign.training.slurm_task` per node, which adds the node's machine rank and the
    main node's address and port to ``TEXT``.

    Raises:
        SettingError: a bad prefix, or several machines outside a SLURM allocation.
    """
    words = launch_words(text)
    machines = num_machines(words)
    if machines == 1:
        return [*resolve_executable(words), "-m", RANK_MODULE, str(request)]
    env = dict(os.environ) if env is None else env
    if not env.get("SLURM_JOB_ID"):
        raise SettingError(
            f"--launch: --num_machines {machines} needs a SLURM allocation of {machines} nodes "
            "(no SLURM_JOB_ID here); run the job through the SLURM profile, or use "
            "--num_machines 1"
        )
    cpus = cpus_per_task(env)
    return [
        "srun",
        f"--nodes={machines}",
        f"--ntasks={machines}",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",  # one node's launcher dies: srun ends the others at once
        *([f"--cpus-per-task={cpus}"] if cpus else []),  # srun does not inherit the job's
        sys.executable,
        "-m",
        SLURM_TASK_MODULE,
        "--launch",
        text,
        str(request),
    ]


def delegate(stage: str, out_dir: Path, record_file: str, arguments: dict[str, Any]) -> Any:
    """Run ``stage`` under the launch in force and return its record, or None without one.

    Args:
        stage: Stage name known to :mod:`progalign.training.rank` (``hislm``, ``dpo``,
            ``reward``, ``rloo``, ``sft``).
        out_dir: The stage's output folder (the ranks write it atomically).
        record_file: The record's file name inside ``out_dir``.
        arguments: The stage function's arguments, JSON-ready.

    Returns:
        The record read from ``out_dir/record_file``; None when no launch is set (the caller
        trains in this process).

    Raises:
        ProgalignError: the launch failed (naming the stage, the exit status and the log), or
            it ended without writing the record.
    """
    text = current_launch()
    if text is None:
        return None
    out_dir = Path(out_dir)
    words = launch_words(text)
    request = {
        "stage": stage,
        "arguments": arguments,
        "launch": launch_description(words),
        "memory": memory.in_force().to_json(),
    }
    with scratch_dir(out_dir) as scratch:
        path = scratch / REQUEST_FILE
        write_json(path, request)
        argv = command(text, path)
        log_file = out_dir.with_name(f".{out_dir.name}.launch.log")
        env = {k: v for k, v in os.environ.items() if k != LAUNCH_ENV}
        env[RANK_ENV] = str(path)
        log.info("%s: launching %s (log %s)", stage, shlex.join(argv), log_file)
        code = _run_logged(argv, env, log_file)
    if code != 0:
        remove_stale_siblings(out_dir)  # what the killed ranks were building
        raise ProgalignError(
            f"training stage {stage}: the launch {text!r} failed with exit status {code} "
            f"(a rank died or raised); the ranks' output is in {log_file}; {out_dir} was not "
            "written"
        )
    record_path = out_dir / record_file
    if not record_path.is_file():
        raise ProgalignError(
            f"training stage {stage}: the launch ended without writing {record_path}; "
            f"see {log_file}"
        )
    log_file.unlink(missing_ok=True)
    return read_json(record_path)


def _run_logged(argv: list[str], env: dict[str, str], log_file: Path) -> int:
    """Run ``argv``, copying its output to this process's stderr and to ``log_file``."""
    try:
        with (
            open(log_file, "w", encoding="utf-8") as sink,
            subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            ) as proc,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                sys.stderr.write(line)
            return proc.wait()
    except FileNotFoundError as exc:
        raise ProgalignError(f"cannot start the launch {shlex.join(argv)!r}: {exc}") from None
