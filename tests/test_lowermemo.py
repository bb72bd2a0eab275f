"""The frozen-lower-layer memo used in training equals the plain forward (with gradients)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from progalign.lowerlayers import (
    LowerMemo,
    LowerStore,
    fingerprint,
    memo_for,
    memo_forward,
    trl_scores_labelled_positions_only,
)
from progalign.training.preference import PreferencePair, TrainSettings, train_dpo
from progalign.training.stage import freeze_below_top


def _model(path: Path, top_k: int):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    freeze_below_top(model, top_k)
    return model


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 200, (3, 9), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # right padding
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    return ids, mask


def _loss_and_grads(model, ids, mask):
    model.zero_grad()
    logits = model(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    loss = (logits.log_softmax(-1)[real] * torch.linspace(0.1, 1, logits.shape[-1])).sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return logits[real].detach(), grads


def test_memo_equals_plain_forward_and_backward(tiny_model: Path, tmp_path: Path):
    ids, mask = _batch()
    plain = _model(tiny_model, top_k=1)
    memo_model = _model(tiny_model, top_k=1)
    memo = LowerMemo(depth=3, store=LowerStore(tmp_path / "store"))
    with memo_forward(memo_model, memo):
        want_logits, want_grads = _loss_and_grads(plain, ids, mask)
        got_logits, got_grads = _loss_and_grads(memo_model, ids, mask)
        torch.testing.assert_close(got_logits, want_logits, rtol=1e-5, atol=1e-5)
        assert got_grads.keys() == want_grads.keys() and got_grads
        for name in want_grads:
            scale = want_grads[name].abs().max().item()
            torch.testing.assert_close(
                got_grads[name], want_grads[name], rtol=1e-3, atol=1e-5 * scale
            )
        assert memo.stats == {"memory": 0, "disk": 0, "computed": 3, "bypassed": 0}
        # the second pass is served from memory; a new memo on the same store reads the disk
        _loss_and_grads(memo_model, ids, mask)
        assert memo.stats["memory"] == 3 and memo.stats["computed"] == 3
        other = _model(tiny_model, top_k=1)
        second = LowerMemo(depth=3, store=memo.store)
        with memo_forward(other, second):
            again, _ = _loss_and_grads(other, ids, mask)
        assert second.stats["disk"] == 3 and second.stats["computed"] == 0
        torch.testing.assert_close(again, got_logits, rtol=0, atol=0)
    assert "forward" not in memo_model.base_model.__dict__
    assert "forward" not in other.base_model.__dict__


def test_memo_serves_left_padding_and_bypasses_generation(tiny_model: Path):
    model = _model(tiny_model, top_k=1)
    plain = _model(tiny_model, top_k=1)
    memo = LowerMemo(depth=3)
    ids, _ = _batch()
    left = torch.ones_like(ids)
    left[0, :2] = 0  # left padding: the real tokens sit at positions 2, 3, ...
    holes = torch.ones_like(ids)
    holes[1, 3] = 0  # not one contiguous run: bypassed
    with torch.no_grad(), memo_forward(model, memo):
        got = model(input_ids=ids, attention_mask=left).logits
        want = plain(input_ids=ids, attention_mask=left).logits
        torch.testing.assert_close(got[left.bool()], want[left.bool()], rtol=1e-5, atol=1e-5)
        assert memo.stats["computed"] == 3 and memo.stats["bypassed"] == 0
        torch.testing.assert_close(
            model(input_ids=ids, attention_mask=holes).logits,
            plain(input_ids=ids, attention_mask=holes).logits,
        )
        assert memo.stats["bypassed"] == 1
        out = model.generate(ids[:1, :4], max_new_tokens=3, do_sample=False)
        ref = plain.generate(ids[:1, :4], max_new_tokens=3, do_sample=False)
    assert torch.equal(out, ref)
    assert memo.stats["bypassed"] >= 2


def test_memo_refuses_trainable_lower_layers(tiny_model: Path):
    model = _model(tiny_model, top_k=2)  # layers 2 and 3 train
    with pytest.raises(ValueError, match="not all frozen"), memo_forward(model, LowerMemo(depth=3)):
        pass
    assert "forward" not in model.base_model.__dict__


def test_dpo_with_the_memo_trains_like_without(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    pairs = [
        PreferencePair(f"Is it right to {a}?", "yes", "no")
        for a in ("lie", "steal", "help", "share")
    ]
    settings = TrainSettings(
        learning_rate=1e-2, epochs=2, batch_size=2, top_k_layers=1, sft_weight=0.04, seed=3
    )
    record = train_dpo(tiny_model, pairs, tmp_path / "memo", settings)
    monkeypatch.setenv("PROGALIGN_LOWER_MEMO", "0")
    plain = train_dpo(tiny_model, pairs, tmp_path / "plain", settings)
    assert record["lower_layers"]["reused_below"] == 3 and plain["lower_layers"] is None
    stats = record["lower_layers"]
    # 8 distinct (prompt, reply) texts; everything else (reference model, epoch 2) reused
    assert stats["computed"] == 8 and stats["memory"] > stats["computed"]
    a = load_file(tmp_path / "memo" / "model.safetensors")
    b = load_file(tmp_path / "plain" / "model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6)
    assert abs(record["train_loss"] - plain["train_loss"]) < 1e-4
    assert json.loads((tmp_path / "memo" / "training.json").read_text())["lower_layers"] == stats


def test_trl_scores_only_labelled_positions_on_cpu():
    import trl.trainer.utils as trl_utils
    from trl.kernels import chunked_logprob

    with trl_scores_labelled_positions_only() as active:
        assert active is True
        assert trl_utils._use_triton(torch.device("cpu")) is True
        assert chunked_logprob._use_triton(torch.device("cpu")) is False  # kernels untouched
        with trl_scores_labelled_positions_only() as again:
            assert again is True  # idempotent
        assert trl_utils._use_triton(torch.device("cpu")) is True  # the inner exit keeps it
    assert trl_utils._use_triton is chunked_logprob._use_triton  # restored


def test_memo_refuses_a_model_with_other_lower_weights(tiny_model: Path):
    model = _model(tiny_model, top_k=1)
    memo = memo_for(model, 3, disk=False)
    other = _model(tiny_model, top_k=1)
    with torch.no_grad():
        other.model.layers[0].mlp.up_proj.weight.mul_(1.01)
    with pytest.raises(ValueError, match="differ from"), memo_forward(other, memo):
        pass
    twin = _model(tiny_model, top_k=1)  # separately loaded, equal weights: compared, served
    with memo_forward(model, memo), memo_forward(twin, memo):  # the model it was made for
        pass
    # a memo that only knows the fingerprint checks by hashing
    by_hash = LowerMemo(depth=3, fingerprint=fingerprint(model, 3))
    with pytest.raises(ValueError, match="differ from"), memo_forward(other, by_hash):
        pass
    with memo_forward(_model(tiny_model, top_k=1), by_hash):
        pass
