"""The memory savings the resource plan adds to GPU training commands
(``--activation-checkpointing``, ``--no-gather-for-generation``; docs/resources.md): the flags
reach every trainer configuration, a launched stage's ranks get them through the request, and
activation checkpointing trains to the same weights as without it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from progalign.settings import TrainSettings
from progalign.training.launch import RANK_ENV, add_launch_argument, current_memory, launching
from progalign.training.memory import MemorySaving
from progalign.training.sft import train_sft_pairs
from progalign.training.stage import trainer_arguments

RECORDS = [("Is honesty good?", "yes"), ("Is theft good?", "no")] * 2
SETTINGS = TrainSettings(learning_rate=1e-2, epochs=2, batch_size=2, seed=3, top_k_layers=None)


def _parse(*argv: str) -> MemorySaving:
    parser = argparse.ArgumentParser()
    add_launch_argument(parser)
    return MemorySaving.from_args(parser.parse_args(list(argv)))


def test_the_flags_reach_the_trainer_configuration(tmp_path: Path):
    assert _parse() == MemorySaving()
    saving = _parse("--activation-checkpointing", "--no-gather-for-generation")
    assert saving == MemorySaving(activation_checkpointing=True, gather_for_generation=False)
    assert trainer_arguments(SETTINGS, tmp_path)["activation_checkpointing"] is False
    with launching(None, saving):
        assert trainer_arguments(SETTINGS, tmp_path)["activation_checkpointing"] is True
        assert current_memory().gather_for_generation is False
    assert current_memory() == MemorySaving()  # undone with the block


def test_a_rank_takes_the_savings_of_its_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    request = tmp_path / "request.json"
    saved = {"activation_checkpointing": True, "gather_for_generation": False}
    request.write_text(json.dumps({"stage": "rloo", "arguments": {}, "memory": saved}))
    monkeypatch.setenv(RANK_ENV, str(request))
    assert current_memory() == MemorySaving(**saved)


@pytest.mark.slow
def test_activation_checkpointing_trains_to_the_same_weights(tiny_model: Path, tmp_path: Path):
    plain = train_sft_pairs(tiny_model, RECORDS, tmp_path / "plain", SETTINGS)
    with launching(None, MemorySaving(activation_checkpointing=True)):
        saved = train_sft_pairs(tiny_model, RECORDS, tmp_path / "ckpt", SETTINGS)
    assert plain["steps"] == saved["steps"] == 4
    assert "memory_saving" not in plain["provenance"]
    assert saved["provenance"]["memory_saving"] == {
        "activation_checkpointing": True,
        "gather_for_generation": True,
    }
    assert saved["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-4)
    a = load_file(tmp_path / "plain" / "model.safetensors")
    b = load_file(tmp_path / "ckpt" / "model.safetensors")
    start = load_file(tiny_model / "model.safetensors")
    moved = max((a[k] - start[k]).abs().max().item() for k in a if k in start)
    assert moved > 1e-3  # it trained
    # Recomputing the forward in the backward adds the same numbers in the same order.
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-5 * max(1.0, moved)
