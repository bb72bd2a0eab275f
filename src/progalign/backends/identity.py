"""Identify a model for provenance: path or repo id, and a content hash of its weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from progalign.io import sha256_file

#: Weights larger than this are identified by names and sizes instead of a full hash.
_HASH_LIMIT = 2 * 1024**3
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


def model_identity(model: str) -> dict[str, Any]:
    """Return ``{id, weights_sha256 | weights_files, provenance?}`` for a local folder or repo id.

    ``weights_sha256`` hashes the sorted per-file sha256s of the weight files, so two folders
    with equal weights get equal identities wherever they live.
    """
    path = Path(model)
    if not path.is_dir():
        return {"id": model, "local": False}
    files = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    record: dict[str, Any] = {"id": path.name, "path": str(path.resolve()), "local": True}
    if sum(p.stat().st_size for p in files) <= _HASH_LIMIT:
        digest = hashlib.sha256()
        for p in files:
            digest.update(f"{p.name}:{sha256_file(p, remember=True)}\n".encode())
        record["weights_sha256"] = digest.hexdigest()
    else:
        record["weights_files"] = {p.name: p.stat().st_size for p in files}
    meta = path / "progalign_model.json"
    if meta.exists():
        record["provenance"] = json.loads(meta.read_text(encoding="utf-8"))
    return record
