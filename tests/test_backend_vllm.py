"""vLLM backend: runs only where vLLM and a CUDA GPU exist (the GPU image)."""

from __future__ import annotations

from pathlib import Path

import pytest

from progalign.backends.base import LLRequest

vllm = pytest.importorskip("vllm", reason="vLLM is only installed in the GPU image")
torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.vllm,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_vllm_loglikelihoods_match_transformers(tiny_model: Path) -> None:
    from progalign.backends.hf import HFBackend
    from progalign.backends.vllm import VLLMBackend

    requests = [
        LLRequest("A farmer finds a purse at the market.", ("[A]", "B. keep it")),
        LLRequest("Is it right to tell a lie?", ("Yes.", "No, never.")),
    ]
    hf = HFBackend(str(tiny_model), device="cuda", dtype="float32")
    fast = VLLMBackend(str(tiny_model), dtype="float32", gpu_memory_utilization=0.3)
    for a_row, b_row in zip(hf.loglikelihood(requests), fast.loglikelihood(requests), strict=True):
        for a, b in zip(a_row, b_row, strict=True):
            assert a.n_tokens == b.n_tokens
            assert a.logprob == pytest.approx(b.logprob, abs=1e-3)
    answers = fast.generate(["Is it right to"], max_new_tokens=4)
    assert len(answers) == 1
