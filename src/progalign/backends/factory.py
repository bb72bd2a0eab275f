"""Open a scoring backend by name (apart from ``base``, which the backends import, so that
importing them stays one-way)."""

from __future__ import annotations

from typing import Any

from progalign.backends.base import Backend


def load_backend(name: str, model: str, **options: Any) -> Backend:
    """Instantiate a backend by name (``hf`` or ``vllm``).

    Raises:
        ValueError: unknown backend name.
    """
    if name == "hf":
        from progalign.backends.hf import HFBackend

        return HFBackend(model, **options)
    if name == "vllm":
        from progalign.backends.vllm import VLLMBackend

        return VLLMBackend(model, **options)
    raise ValueError(f"unknown backend {name!r} (hf, vllm)")
