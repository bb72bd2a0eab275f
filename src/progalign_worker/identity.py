"""What a job and a warm worker must share for the worker to run the job (cheap to compute).

A forked worker child runs with the interpreter, the installed code and the import-time
environment of the worker, not of the job. :func:`identity` captures exactly those; a job whose
identity differs (another virtual environment, a container, edited source files, different
``HF_*``/``OMP_*``/... variables, another host) runs in its own process instead.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

#: Set by the workflow for its jobs: the path of the worker's socket.
ENV_VAR = "PROGALIGN_WORKER"

#: Variables that libraries read when they are imported (or that change what is imported):
#: the worker imported them with its own values, so a job must have the same ones.
IMPORT_TIME_PREFIXES = (
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "TORCH",
    "PYTORCH_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "KMP_",
    "TOKENIZERS_",
    "CUDA_",
    "PYTHON",
    "SAFETENSORS_",
    "TRL_",
    "ACCELERATE_",
    "WANDB_",
)

#: Thread counts (Snakemake sets these per job): the child applies them itself, see
#: :func:`apply_thread_counts`, so they need not match.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: A job inside a batch allocation or an Apptainer container runs in its own process (the
#: worker lives outside it; other containers differ in interpreter path, see identity()).
_FOREIGN_MARKERS = ("SLURM_JOB_ID", "APPTAINER_CONTAINER", "SINGULARITY_CONTAINER")


def _code_stamp() -> list[float | int]:
    """Newest modification time and file count of the progalign sources."""
    root = Path(__file__).resolve().parents[1]
    newest, count = 0.0, 0
    for path in root.rglob("*.py"):
        newest = max(newest, path.stat().st_mtime)
        count += 1
    return [newest, count]


def identity(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The interpreter, code, host and import-time environment of this process."""
    env = os.environ if environ is None else environ
    return {
        "python": sys.executable,
        "prefix": sys.prefix,
        "version": list(sys.version_info[:3]),
        "package": str(Path(__file__).resolve().parents[1]),
        "code": _code_stamp(),
        "host": socket.gethostname(),
        "uid": os.getuid(),
        "env": {
            k: v
            for k, v in sorted(env.items())
            if k.startswith(IMPORT_TIME_PREFIXES) and k not in THREAD_VARS
        },
    }


def foreign_context(environ: dict[str, str] | None = None) -> str | None:
    """Why this process must not hand its work to a worker (a batch job, a container)."""
    env = os.environ if environ is None else environ
    for marker in _FOREIGN_MARKERS:
        if env.get(marker):
            return f"{marker} is set"
    return None


def apply_thread_counts(environ: dict[str, str]) -> None:
    """Give torch the intra-op thread count a fresh process would read from the environment."""
    value = environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        import torch

        torch.set_num_threads(int(value))
