"""The real transformers backend on a tiny random model: batched == unbatched."""

from __future__ import annotations

from pathlib import Path

import pytest

from progalign.backends.base import LLRequest
from progalign.backends.hf import HFBackend
from progalign.backends.kv import common_prefix

HEADER = "Indicate your choice in the following situation. Respond solely with [A] or [B].\n\n"
REQUESTS = [
    LLRequest(HEADER + "A farmer finds a purse at the market.", ("[A]", "[B]")),
    LLRequest(HEADER + "A soldier must choose.", ("A. keep the promise", "B. break the law")),
    LLRequest(HEADER + "A soldier must choose in a time of war.", ("yes", "no", "I prefer it")),
    LLRequest("Is it right to tell a lie?", ("Yes, because honesty matters.", "No.")),
    LLRequest(HEADER + "A farmer finds a purse", (" at the market.", " and keeps it")),
]


@pytest.fixture(scope="module")
def backend(tiny_model: Path) -> HFBackend:
    return HFBackend(str(tiny_model), device="cpu", dtype="float32", batch_size=3)


def _flat(scores):
    return [(s.logprob, s.n_tokens) for row in scores for s in row]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8])
@pytest.mark.parametrize("share_prefix", [True, False])
def test_batched_equals_unbatched(backend: HFBackend, batch_size: int, share_prefix: bool):
    reference = _flat(backend.loglikelihood_naive(REQUESTS))
    backend.batch_size, backend.share_prefix = batch_size, share_prefix
    batched = _flat(backend.loglikelihood(REQUESTS))
    for (a, n), (b, m) in zip(batched, reference, strict=True):
        assert n == m
        assert a == pytest.approx(b, abs=1e-5)
    assert all(lp < 0 for lp, _ in reference)


def test_continuation_tokens_are_the_tail_of_the_joint_encoding(backend: HFBackend):
    tok = backend.tokenize_request(REQUESTS[1])
    joint = backend.encode(REQUESTS[1].context + REQUESTS[1].continuations[0])
    assert tok.context + tok.continuations[0] == joint


def test_common_prefix_keeps_one_token_per_context():
    assert common_prefix([[1, 2, 3], [1, 2, 3, 4]]) == (1, 2)
    assert common_prefix([[1, 2], [3]]) == ()
    assert common_prefix([[5, 6, 7]]) == (5, 6)


def test_chat_and_alpaca_formats(backend: HFBackend):
    chat = backend.format_prompt("Pick one.\n\n", "Question?", "chat")
    assert chat.startswith("<|im_start|>") and chat.endswith("<|im_start|>assistant\n")
    assert "Pick one.\n\nQuestion?" in chat
    alpaca = backend.format_prompt("Pick one.", "Question?", "alpaca")
    assert "### Instruction:\nPick one.\n\n### Input:\nQuestion?\n\n### Response:\n" in alpaca


def test_generation_is_batched_deterministic_and_stops(backend: HFBackend):
    prompts = ["Is it right to", "A farmer finds a purse at the market and"]
    backend.batch_size = 2
    first = backend.generate(prompts, max_new_tokens=6)
    backend.batch_size = 1
    assert backend.generate(prompts, max_new_tokens=6) == first
    assert len(first) == 2 and all(isinstance(a, str) for a in first)


def test_describe_names_model_and_weights(backend: HFBackend, tiny_model: Path):
    info = backend.describe()
    assert info["backend"] == "hf" and info["dtype"] == "float32"
    assert len(info["model"]["weights_sha256"]) == 64
    assert info["parameters"] == backend.n_parameters() > 0
