"""RLOO's prompt states: rows and generations built on them equal the plain computations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from progalign.lowerlayers import (
    LowerMemo,
    LowerStore,
    encode_prompt,
    extend,
    lower_row,
    memo_forward,
    prefilled_generate,
)

DEPTH = 3  # the tiny model has 4 layers; the top one trains


def _model(path: Path, dtype: torch.dtype = torch.float64):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.model.layers[DEPTH].parameters():
        p.requires_grad_(True)
    return model


PROMPT = [5, 17, 42, 8, 99, 23, 7, 64]
REST = [11, 12, 13, 14, 15]


@pytest.mark.parametrize("start", [0, 3])
def test_extending_a_prompt_state_equals_a_one_piece_row(tiny_model: Path, start: int) -> None:
    """At position 0 and shifted by left padding (RoPE keys rotated by the offset)."""
    model = _model(tiny_model)
    state = encode_prompt(model, PROMPT, DEPTH, torch.device("cpu"))
    got = extend(model, state, REST, start, DEPTH, torch.device("cpu"))
    want = lower_row(model, PROMPT + REST, DEPTH, torch.device("cpu"), start)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-9), float((got - want).abs().max())
    assert torch.equal(extend(model, state, [], start, DEPTH, torch.device("cpu")), state.hidden)


def test_memo_rows_extend_known_prompts_but_never_store_them(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = _model(tiny_model)
    memo = LowerMemo(depth=DEPTH, store=LowerStore(tmp_path / "store"))
    memo.prompt_state(model, PROMPT, torch.device("cpu"))
    ids = torch.tensor([PROMPT + REST, [0, 0, *PROMPT, *REST[:3]]])
    mask = torch.tensor([[1] * 13, [0, 0] + [1] * 11])
    with torch.no_grad(), memo_forward(model, memo):
        got = model(input_ids=ids, attention_mask=mask).logits
        assert memo.stats["extended"] == 2 and memo.stats["bypassed"] == 0
        # rows built on a prompt stay in memory; the store holds one-piece rows only
        assert not list((tmp_path / "store").rglob("*.safetensors"))
        memo.prompts.clear()
        memo.memory.clear()
        plain = model(input_ids=ids, attention_mask=mask).logits
    # float64, but transformers builds RoPE tables in float32: a shifted prompt agrees to ~1e-8
    assert torch.allclose(got[mask.bool()], plain[mask.bool()], atol=1e-6)
    assert torch.allclose(got[0], plain[0], atol=1e-9)  # unshifted


def test_prefilled_generation_equals_plain_generation(tiny_model: Path) -> None:
    """Greedy tokens identical and every step's logits equal to 1e-9 (float64), on a
    left-padded batch with a repeated prompt, as RLOO samples it."""
    from transformers import GenerationConfig

    model = _model(tiny_model)
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=6,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=0,
    )
    short = PROMPT[:5]
    ids = torch.tensor([PROMPT, PROMPT, [0, 0, 0, *short]])
    mask = torch.tensor([[1] * 8, [1] * 8, [0, 0, 0] + [1] * 5])
    plain = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    memo = LowerMemo(depth=DEPTH)
    with prefilled_generate(model, memo):
        fast = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        assert memo.stats["prefilled"] == 3 and len(memo.prompts) == 2  # the repeat is shared
        assert torch.equal(fast.sequences, plain.sequences)
        for a, b in zip(fast.scores, plain.scores, strict=True):
            assert torch.allclose(a, b, atol=1e-9), float((a - b).abs().max())
        # anything else (here: a positional argument) goes to the original generate
        model.generate(ids, attention_mask=mask, generation_config=config)
        assert memo.stats["bypassed"] == 1
    assert "generate" not in model.__dict__
