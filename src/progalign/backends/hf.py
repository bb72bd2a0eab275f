"""Hugging Face transformers backend (CPU or GPU).

Log-likelihood scoring shares computation at two levels:

1. Requests are sorted by their context tokens and batched; the longest common token prefix of a
   batch (the chat preamble and question header, often the scenario too) is encoded once and its
   key/value cache is reused by every row, and by the next batches while the prefix is the same.
2. Each context is encoded once for all of its continuations: the continuations run as one batch
   on top of the context's cache (rows duplicated by index, not recomputed).

Only the positions that are scored go through the output layer (the vocabulary projection is
the largest matrix of a small model).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from progalign.backends.base import Backend, ContinuationScore, LLRequest, PromptFormat
from progalign.backends.kv import (
    SORT_PREFIX,
    Tokenized,
    batch_prefix,
    forward_hidden,
    prefix_cache,
    upcast,
)
from progalign.backends.tokens import PromptTokenizer
from progalign.errors import ProgalignError, SettingError

log = logging.getLogger(__name__)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {
        "float64": torch.float64,
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }[dtype]


class HFBackend(Backend):
    """A causal LM loaded with ``transformers.AutoModelForCausalLM``.

    Args:
        model: Local model folder or Hugging Face repo id.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...
        dtype: ``auto`` (bfloat16 on GPU, float32 on CPU), ``float32``, ``bfloat16``, ``float16``,
            or ``float64`` (slow; for exactness checks).
        batch_size: Contexts per forward pass.
        threads: torch intra-op threads (default: leave torch's choice).
        share_prefix: Encode the common prefix of a batch once (disable only to measure it).
        lower_cache_layers: Reuse cached activations of the bottom N decoder layers (families
            that share them, docs/performance.md); None scores with full forwards.
        top_k_layers: The model differs from its family only in its top k decoder layers:
            reuse cached activations of all the others (instead of ``lower_cache_layers``).
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        threads: int | None = None,
        share_prefix: bool = True,
        lower_cache_layers: int | None = None,
        top_k_layers: int | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.model_id = model
        self.device = _resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.share_prefix = share_prefix
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=self.dtype)
        except (OSError, ValueError) as exc:  # missing files, unknown repo id, offline
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProgalignError(f"model {model!r} cannot be loaded: {reason}") from None
        self.model.eval()
        self.model.to(self.device)  # type: ignore[arg-type]
        self.prompts = PromptTokenizer(self.tokenizer, model)
        if lower_cache_layers is not None and top_k_layers is not None:
            raise SettingError("give lower_cache_layers or top_k_layers, not both")
        if top_k_layers is not None:
            n_layers = int(self.model.config.num_hidden_layers)
            if not 1 <= top_k_layers < n_layers:
                raise SettingError(
                    f"top_k_layers={top_k_layers}, but the model has {n_layers} "
                    f"layers (use 1..{n_layers - 1}, or null)"
                )
            lower_cache_layers = n_layers - top_k_layers
        if lower_cache_layers:
            from progalign.lowerlayers import adapter_for

            adapter_for(self.model)  # an architecture without an adapter: a clear error now
        self.lower_cache_layers = lower_cache_layers
        self._lower_store: Any = None

    # ----------------------------------------------------------------- prompts and tokens
    def format_prompt(self, instruction: str, input_text: str, fmt: PromptFormat) -> str:
        """See ``Backend.format_prompt``."""
        return self.prompts.format_prompt(instruction, input_text, fmt)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (BOS prepended when the tokenizer would add one)."""
        return self.prompts.encode(text)

    def tokenize_request(self, request: LLRequest) -> Tokenized:
        """See ``PromptTokenizer.tokenize_request``."""
        return self.prompts.tokenize_request(request)

    # ----------------------------------------------------------------- scoring
    @torch.inference_mode()
    def loglikelihood(
        self, requests: Sequence[LLRequest], progress: bool = False
    ) -> list[list[ContinuationScore]]:
        """See ``Backend.loglikelihood``."""
        tokenized = [self.tokenize_request(r) for r in requests]
        if self.lower_cache_layers:
            return self._loglikelihood_lower_cached(tokenized, progress)
        # Group contexts that share a long prefix (same chat preamble and question header),
        # then by length so that batches carry little padding; permutations of one item stay
        # adjacent (same prefix, nearly the same length).
        order = sorted(
            range(len(tokenized)),
            key=lambda i: (
                tokenized[i].context[:SORT_PREFIX],
                len(tokenized[i].context),
                tokenized[i].context,
            ),
        )
        results: list[list[ContinuationScore]] = [[] for _ in requests]
        cached: tuple[tuple[int, ...], Any] | None = None
        bar = tqdm(total=len(order), desc="scoring", unit="prompt", disable=not progress)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            rows = [tokenized[i] for i in batch]
            prefix = batch_prefix([r.context for r in rows]) if self.share_prefix else ()
            if prefix and (cached is None or cached[0] != prefix):
                cached = (prefix, prefix_cache(self.model, prefix, self.device))
            kv = cached[1] if prefix and cached is not None else None
            scores = forward_hidden(self.model, rows, len(prefix), kv, self.device)
            for i, row_scores in zip(batch, scores, strict=True):
                results[i] = [ContinuationScore(lp, n) for lp, n in row_scores]
            bar.update(len(batch))
        bar.close()
        return results

    def _loglikelihood_lower_cached(
        self, tokenized: list[Tokenized], progress: bool
    ) -> list[list[ContinuationScore]]:
        from progalign.backends.lowercache import loglikelihood_lower_cached
        from progalign.lowerlayers import store_for

        depth = int(self.lower_cache_layers or 0)
        if self._lower_store is None:
            self._lower_store = store_for(self.model, depth)
        return loglikelihood_lower_cached(
            self.model,
            tokenized,
            depth,
            self._lower_store,
            self.device,
            self.batch_size,
            progress,
            share_prefix=self.share_prefix,
        )

    @torch.inference_mode()
    def loglikelihood_naive(self, requests: Sequence[LLRequest]) -> list[list[ContinuationScore]]:
        """Reference scorer: one full forward per (context, continuation), no batching or cache.

        Used to check the batched path and as the naive baseline of the benchmarks.
        """
        results = []
        for request in requests:
            tok = self.tokenize_request(request)
            row = []
            for cont in tok.continuations:
                ids = torch.tensor([tok.context + cont], device=self.device)
                logits = upcast(self.model(ids).logits[0, len(tok.context) - 1 : -1])
                logprobs = torch.log_softmax(logits, dim=-1)
                picked = logprobs.gather(1, torch.tensor(cont, device=self.device)[:, None])
                row.append(ContinuationScore(float(picked.sum()), len(cont)))
            results.append(row)
        return results

    # ----------------------------------------------------------------- generation
    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
        progress: bool = False,
    ) -> list[str]:
        """See ``Backend.generate``. Batched with left padding."""
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        torch.manual_seed(seed)
        answers: list[str] = []
        bar = tqdm(total=len(prompts), desc="generating", unit="prompt", disable=not progress)
        for start in range(0, len(prompts), self.batch_size):
            encoded = [self.encode(p) for p in prompts[start : start + self.batch_size]]
            width = max(len(e) for e in encoded)
            ids = torch.full((len(encoded), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, e in enumerate(encoded):
                ids[row, width - len(e) :] = torch.tensor(e)
                mask[row, width - len(e) :] = 1
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": temperature, "top_p": 0.95}
                if temperature > 0
                else {"do_sample": False}
            )
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                **sampling,
            )
            for row in out[:, width:]:
                answers.append(str(self.tokenizer.decode(row, skip_special_tokens=True)).strip())
            bar.update(len(encoded))
        bar.close()
        return answers

    def n_parameters(self) -> int | None:
        """See ``Backend.n_parameters``."""
        return int(sum(p.numel() for p in self.model.parameters()))

    def describe(self) -> dict[str, Any]:
        """See ``Backend.describe``."""
        from progalign.backends.identity import model_identity

        return {
            "backend": self.name,
            "model": model_identity(self.model_id),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "parameters": self.n_parameters(),
            "threads": torch.get_num_threads(),
            "share_prefix": self.share_prefix,
            "lower_cache_layers": self.lower_cache_layers,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "local": Path(self.model_id).exists(),
        }
