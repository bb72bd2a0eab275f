"""Shared lower layers: split forward == full forward; perplexity with and without sharing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from progalign.lowerlayers import lower_hidden, shared_depth, upper_hidden
from progalign.training.config import HislmConfig
from progalign.training.hislm import train_hislm
from progalign.training.perplexity import perplexity_matrix

TEXT_A = ["the king spoke of law and mercy to the people of the land " * 8] * 20
TEXT_B = ["a ship sailed on the sea after a storm in a time of war " * 8] * 20


@pytest.fixture(scope="module")
def family(tiny_model: Path, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("family")
    cfg = HislmConfig(
        epochs=2,
        learning_rate=3e-3,
        lr_scheduler="constant",
        warmup_ratio=0,
        batch_size=4,
        max_seq_len=32,
        top_k_layers=1,
        val_fraction=0,
    )
    out = {}
    for name, text in (("A", TEXT_A), ("B", TEXT_B)):
        records = [{"content": t, "creation_year": 1650, "source_dataset": "t"} for t in text]
        train_hislm(str(tiny_model), records, root / name, cfg)
        out[name] = root / name
    return out


def test_split_forward_equals_full_forward(family):
    model = AutoModelForCausalLM.from_pretrained(family["A"]).eval()
    ids = torch.randint(0, 500, (2, 24))
    with torch.inference_mode():
        full = model.base_model(ids).last_hidden_state
    for depth in range(5):
        split = upper_hidden(model, lower_hidden(model, ids, depth), depth)
        assert torch.allclose(split, full, atol=1e-6)


def test_family_shares_all_but_the_trained_layer(family, tiny_model):
    models = [AutoModelForCausalLM.from_pretrained(p) for p in (tiny_model, *family.values())]
    assert shared_depth(models) == 3  # 4 layers, the top one trained


def test_perplexity_sharing_matches_plain_and_models_know_their_text(family):
    texts = {"A": TEXT_A[:4], "B": TEXT_B[:4]}
    shared = perplexity_matrix(family, texts, max_seq_len=32, share_lower=True)
    plain = perplexity_matrix(family, texts, max_seq_len=32, share_lower=False)
    for m in shared:
        for c in shared[m]:
            assert shared[m][c] == pytest.approx(plain[m][c], rel=1e-5)
    assert shared["A"]["A"] < shared["B"]["A"] and shared["B"]["B"] < shared["A"]["B"]
