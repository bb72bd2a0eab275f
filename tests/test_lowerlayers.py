"""The lower-layer engine's guarantees: every patch is undone on every path out of it, an
architecture without an adapter gets a clear error, one store-key format."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest
import torch

from progalign.errors import SettingError
from progalign.lowerlayers import (
    SPLIT,
    LowerMemo,
    adapter_for,
    fingerprint,
    memo_forward,
    packed_key,
    prefilled_generate,
    row_key,
    supported,
    training_memo,
    trl_scores_labelled_positions_only,
)
from progalign.lowerlayers.patches import patched
from progalign.lowerlayers.store import parse_row_key
from progalign.training.stage import Phase, Stage, freeze_below_top, run_stage


def _llama(path: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    freeze_below_top(model, 1)
    return model


def _gpt2(vocab: int = 64):
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(
        GPT2Config(vocab_size=vocab, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    )


class Boom(RuntimeError):
    pass


def test_patched_restores_instance_and_module_attributes_on_error():
    owner = types.SimpleNamespace(kept="mine")
    module = types.ModuleType("fake")
    with (
        pytest.raises(Boom),
        patched(owner, "kept", "patched"),
        patched(owner, "new", 1),
        patched(module, "flag", True),
    ):
        assert (owner.kept, owner.new, module.flag) == ("patched", 1, True)
        raise Boom
    assert owner.kept == "mine" and not hasattr(owner, "new") and not hasattr(module, "flag")


def test_engine_patches_are_undone_when_the_wrapped_code_raises(tiny_model: Path):
    import trl.trainer.utils as trl_utils
    from trl.kernels import chunked_logprob

    model = _llama(tiny_model)
    memo = LowerMemo(depth=3)
    with (
        pytest.raises(Boom),
        memo_forward(model, memo),
        prefilled_generate(model, memo),
        trl_scores_labelled_positions_only(),
    ):
        assert "forward" in model.base_model.__dict__ and "generate" in model.__dict__
        assert trl_utils._use_triton is not chunked_logprob._use_triton
        with torch.no_grad():
            model(input_ids=torch.tensor([[5, 6, 7]]))  # served by the memo
        raise Boom
    assert memo.stats["computed"] == 1
    assert "forward" not in model.base_model.__dict__ and "generate" not in model.__dict__
    assert trl_utils._use_triton is chunked_logprob._use_triton


def test_run_stage_undoes_its_patches_when_a_phase_fails(tiny_model: Path, tmp_path: Path):
    import trl.trainer.utils as trl_utils
    from trl.kernels import chunked_logprob

    loaded = []

    def load(path: Path):
        loaded.append(_llama(path))
        return loaded[-1]

    def build(ctx):
        assert ctx.memo is not None and "forward" in ctx.model.base_model.__dict__
        assert trl_utils._use_triton is not chunked_logprob._use_triton
        ctx.enter(prefilled_generate(ctx.model, ctx.memo))
        return object()

    def run(trainer):
        raise Boom("killed mid-training")

    stage = Stage(
        name="test",
        model=tiny_model,
        out_dir=tmp_path / "out",
        seed=0,
        top_k_layers=1,
        phases=[Phase("train", build, run)],
        record=lambda done: {},
        load_model=load,
        lower_disk=False,
    )
    with pytest.raises(Boom):
        run_stage(stage)
    model = loaded[0]
    assert "forward" not in model.base_model.__dict__ and "generate" not in model.__dict__
    assert trl_utils._use_triton is chunked_logprob._use_triton
    assert list(tmp_path.iterdir()) == []  # no output, no scratch


def test_an_architecture_without_adapter_is_a_clear_error(tiny_model: Path, tmp_path: Path):
    from transformers import AutoConfig

    from progalign.backends.hf import HFBackend

    model = _gpt2()
    assert not supported(model) and supported(_llama(tiny_model))
    with pytest.raises(SettingError, match=r"llama models; GPT2LMHeadModel is a 'gpt2' model"):
        adapter_for(model)
    with pytest.raises(SettingError, match="'gpt2'"):
        fingerprint(model, 1)
    with pytest.raises(SettingError, match="'gpt2'"), memo_forward(model, LowerMemo(depth=1)):
        pass
    assert "forward" not in model.base_model.__dict__
    assert training_memo(model, 1, disk=False) is None  # training falls back to plain forwards

    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_model, folder)
    _gpt2(AutoConfig.from_pretrained(tiny_model).vocab_size).save_pretrained(folder)
    HFBackend(str(folder))  # full forwards need no adapter
    with pytest.raises(SettingError, match="'gpt2'"):
        HFBackend(str(folder), lower_cache_layers=1)


def test_one_store_key_format():
    assert row_key([5, 6]) == (5, 6) and parse_row_key((5, 6)) == (0, [5, 6])
    assert row_key([5, 6], start=3) == (-4, 5, 6) and parse_row_key((-4, 5, 6)) == (3, [5, 6])
    assert packed_key([5], [[6], [7, 8]]) == (5, SPLIT, 6, SPLIT, 7, 8)
    # a packed row's context is never empty, so its key never starts with a marker
    keys = {row_key([5, 6, 7], s) for s in range(4)} | {packed_key([5], [[6, 7]])}
    assert len(keys) == 5


def test_a_training_memo_hashes_the_lower_weights_once(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The fingerprint (a sha256 over every lower weight: about a second for SmolLM2 on the
    CPU) names both the memo and its on-disk store: it is computed once per stage."""
    import progalign.lowerlayers.memo as memo_module

    calls: list[int] = []
    real = memo_module.fingerprint

    def counted(model, depth):
        calls.append(depth)
        return real(model, depth)

    monkeypatch.setattr(memo_module, "fingerprint", counted)
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path))
    model = _llama(tiny_model)
    memo = training_memo(model, 1, disk=True)
    assert memo is not None and memo.store is not None
    assert len(calls) == 1
    assert memo.store.root.name == memo.fingerprint == real(model, memo.depth)
