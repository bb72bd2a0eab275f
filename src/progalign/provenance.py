"""Provenance records attached to every result file (docs/semantics.md#artefacts-and-provenance)."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from progalign._version import __version__

_LIBRARIES = ("torch", "transformers", "tokenizers", "numpy", "trl", "vllm", "snakemake")


def git_commit() -> str | None:
    """Return the commit of the progalign checkout (``+dirty`` if modified), or None."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change numbers, for those installed."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_description(device: str) -> str:
    """Describe the compute device (GPU name for CUDA, CPU model otherwise)."""
    if device.startswith("cuda"):
        import torch

        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {platform.processor() or platform.machine()}"


def provenance(**extra: Any) -> dict[str, Any]:
    """Return the common provenance block, merged with caller-specific fields.

    Timestamps are deliberately left out, so equal inputs give byte-identical results;
    callers record durations under ``timings``.
    """
    record: dict[str, Any] = {
        "progalign_version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "libraries": library_versions(),
    }
    record.update(extra)
    return record
