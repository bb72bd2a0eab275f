"""Tests of the tiny random test model (no downloads)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from progalign.models import PROVENANCE_FILE, SMOLLM2_CHAT_TEMPLATE, SPECIAL_TOKENS
from progalign.models.tiny import build_tiny_model, builtin_sentences


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


def test_loads_with_auto_classes(tiny_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.model_type == "llama"
    assert model.dtype == torch.float32
    assert model.config.vocab_size == 512
    assert model.config.num_hidden_layers == 4
    assert len(tokenizer) <= model.config.vocab_size
    assert tuple(tokenizer.convert_ids_to_tokens([0, 1, 2])) == SPECIAL_TOKENS
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert model.config.eos_token_id == tokenizer.eos_token_id == 2
    text = "A doctor must choose in a time of war: tell the truth or tell a lie."
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text) / 2  # the BPE learned merges on the built-in sample
    with torch.no_grad():
        out = model(torch.tensor([ids]))
    assert out.logits.shape == (1, len(ids), 512)
    assert torch.isfinite(out.logits).all()
    assert json.loads((tiny_dir / PROVENANCE_FILE).read_text())["kind"] == "tiny-random"
    assert sorted(p.name for p in tiny_dir.iterdir() if p.name.startswith(".")) == []


def test_chat_template_renders(tiny_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Is it right to lie?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text.endswith("<|im_start|>user\nIs it right to lie?<|im_end|>\n<|im_start|>assistant\n")
    assert text.startswith("<|im_start|>system\n")
    ids = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        return_dict=True,
    )["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.convert_ids_to_tokens(ids).count("<|im_end|>") == 2


def test_generation_runs(tiny_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    enc = tokenizer(["Is it right", "A farmer decided to"], return_tensors="pt", padding=True)
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape == (2, enc["input_ids"].shape[1] + 4)


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_same_seed_identical_weights(tmp_path: Path, tiny_dir: Path) -> None:
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert torch.equal(torch.rand(3), before)  # the caller's RNG is left alone
    a, b = _tensors(tiny_dir), _tensors(again)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tiny_dir / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()
    other = _tensors(build_tiny_model(tmp_path / "other", seed=1))
    assert not all(torch.equal(a[k], other[k]) for k in a)


def test_fast_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "tiny"
    build_tiny_model(target, seed=0, vocab_size=300, hidden_size=32, num_layers=2, num_heads=2)
    start = time.perf_counter()
    build_tiny_model(target, seed=1, corpus=["The quick brown fox jumps over the lazy dog."] * 5)
    assert time.perf_counter() - start < 5.0
    assert AutoModelForCausalLM.from_pretrained(target).config.vocab_size == 512
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary leftovers


def test_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        build_tiny_model(tmp_path / "a", vocab_size=100)
    with pytest.raises(ValueError, match="num_heads"):
        build_tiny_model(tmp_path / "b", hidden_size=30, num_heads=4)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_builtin_sample_is_deterministic() -> None:
    first = builtin_sentences()
    assert first == builtin_sentences()
    assert 200 <= len(first) <= 2000
