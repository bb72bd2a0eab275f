"""Scoring backends: Hugging Face transformers (CPU/GPU) and vLLM (GPU, imported lazily)."""

from progalign.backends.base import Backend, ContinuationScore, LLRequest
from progalign.backends.factory import load_backend

__all__ = ["Backend", "ContinuationScore", "LLRequest", "load_backend"]
