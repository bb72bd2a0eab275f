"""vLLM backend for GPUs (imported lazily; vLLM lives only in the GPU image).

Written against vLLM's documented offline API: ``LLM`` and ``SamplingParams``. Log-likelihoods
come from ``prompt_logprobs``: each (context + continuation) token sequence is submitted as a
prompt with ``max_tokens=1`` and the log-probabilities vLLM reports for the prompt's own tokens
are summed over the continuation. Automatic prefix caching lets vLLM encode a shared context
once for all of its continuations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from progalign.backends.base import Backend, ContinuationScore, LLRequest, PromptFormat
from progalign.backends.tokens import PromptTokenizer
from progalign.errors import ProgalignError
from progalign.plan.constants import VLLM_GPU_MEMORY_UTILIZATION


def _tensor_parallel_size() -> int:
    """Largest power of two not above the number of visible GPUs (as upstream)."""
    import torch

    n = max(torch.cuda.device_count(), 1)
    return 1 << (n.bit_length() - 1)


class VLLMBackend(Backend):
    """A model served in-process by ``vllm.LLM``.

    Args:
        model: Local folder or Hugging Face repo id.
        device: Must resolve to CUDA (vLLM's CPU support is not used here).
        dtype: ``auto``, ``bfloat16``, ``float16`` or ``float32``.
        tensor_parallel_size: GPUs per model (default: largest power of two visible).
        gpu_memory_utilization: Fraction of GPU memory vLLM may reserve.
        seed: Engine seed (sampling).
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        tensor_parallel_size: int | None = None,
        gpu_memory_utilization: float = VLLM_GPU_MEMORY_UTILIZATION,
        seed: int = 0,
    ) -> None:
        try:
            from vllm import LLM
        except ImportError:
            raise ProgalignError(
                "the vllm backend needs vLLM, which is only in the GPU image "
                "(containers/Dockerfile, target gpu); use --backend hf elsewhere"
            ) from None
        if device not in ("auto", "cuda") and not device.startswith("cuda"):
            raise ProgalignError(f"the vllm backend runs on CUDA devices, not {device!r}")
        self.model_id = model
        self.dtype = dtype
        self.tp = tensor_parallel_size or _tensor_parallel_size()
        self.llm = LLM(
            model=model,
            dtype=dtype,
            tensor_parallel_size=self.tp,
            gpu_memory_utilization=gpu_memory_utilization,
            seed=seed,
            enable_prefix_caching=True,
        )
        self.prompts = PromptTokenizer(self.llm.get_tokenizer(), model)

    def format_prompt(self, instruction: str, input_text: str, fmt: PromptFormat) -> str:
        """See ``Backend.format_prompt``."""
        return self.prompts.format_prompt(instruction, input_text, fmt)

    def loglikelihood(
        self, requests: Sequence[LLRequest], progress: bool = False
    ) -> list[list[ContinuationScore]]:
        """See ``Backend.loglikelihood``."""
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        flat: list[dict[str, list[int]]] = []
        spans: list[tuple[int, list[int]]] = []
        for request in requests:
            tok = self.prompts.tokenize_request(request)
            for cont in tok.continuations:
                flat.append({"prompt_token_ids": tok.context + cont})
                spans.append((len(tok.context), cont))
        outputs = self.llm.generate(flat, params, use_tqdm=progress)
        scores = []
        for output, (start, cont) in zip(outputs, spans, strict=True):
            positions = output.prompt_logprobs[start : start + len(cont)]
            total = sum(pos[token].logprob for pos, token in zip(positions, cont, strict=True))
            scores.append(ContinuationScore(float(total), len(cont)))
        results: list[list[ContinuationScore]] = []
        cursor = 0
        for request in requests:
            results.append(scores[cursor : cursor + len(request.continuations)])
            cursor += len(request.continuations)
        return results

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
        progress: bool = False,
    ) -> list[str]:
        """See ``Backend.generate``."""
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=0.95 if temperature > 0 else 1.0,
            seed=seed,
        )
        token_prompts = [{"prompt_token_ids": self.prompts.encode(p)} for p in prompts]
        outputs = self.llm.generate(token_prompts, params, use_tqdm=progress)
        return [o.outputs[0].text.strip() for o in outputs]

    def n_parameters(self) -> int | None:
        """Parameter count is not exposed by vLLM's public API; None (letters scoring)."""
        return None

    def describe(self) -> dict[str, Any]:
        """See ``Backend.describe``."""
        import vllm

        from progalign.backends.identity import model_identity

        return {
            "backend": self.name,
            "vllm": vllm.__version__,
            "model": model_identity(self.model_id),
            "dtype": self.dtype,
            "tensor_parallel_size": self.tp,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
