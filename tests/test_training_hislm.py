"""Continued pre-training on a tiny model: frozen layers, determinism, atomic output, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from progalign.cli import main
from progalign.training.config import HislmConfig, load_hislm_config
from progalign.training.hislm import corpus_blocks, train_hislm

WORDS = [
    "the",
    "king",
    "and",
    "the",
    "people",
    "of",
    "the",
    "land",
    "spoke",
    "of",
    "law",
    "and",
    "mercy",
    "and",
    "bread",
]


def _records(n: int = 40, year: int = 1650) -> list[dict]:
    return [
        {
            "content": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60)),
            "creation_year": year,
            "source_dataset": "test",
            "license": "public domain",
            "source": "test",
        }
        for i in range(n)
    ]


CFG = HislmConfig(
    epochs=1,
    learning_rate=1e-3,
    lr_scheduler="constant",
    warmup_ratio=0,
    batch_size=4,
    max_seq_len=32,
    top_k_layers=1,
    seed=3,
)


def test_blocks_are_full_length_and_end_documents_with_eos(tiny_model: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    blocks = corpus_blocks(tok, ["a b c", "d e f"], max_seq_len=2)
    flat = [t for b in blocks for t in b]
    assert all(len(b) == 2 for b in blocks) and tok.eos_token_id in flat
    assert len(corpus_blocks(tok, ["a b c"] * 50, 8, max_tokens=20)) == 2


def test_top_k_training_changes_only_the_top_layer_and_is_deterministic(tiny_model, tmp_path):
    first = train_hislm(str(tiny_model), _records(), tmp_path / "a", CFG)
    train_hislm(str(tiny_model), _records(), tmp_path / "b", CFG)
    base = load_file(tiny_model / "model.safetensors")
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    top = "model.layers.3."
    changed = {k for k in base if not torch.equal(base[k], a[k])}
    assert changed and all(k.startswith(top) or k == "model.norm.weight" for k in changed)
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed: identical weights
    assert first["parameters"]["trainable"] < first["parameters"]["total"]
    meta = json.loads((tmp_path / "a" / "progalign_model.json").read_text())
    assert meta["config"]["top_k_layers"] == 1 and meta["eval_loss"] is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_later_epochs_run_the_top_layers_only(tiny_model, tmp_path):
    """Through ``transformers.Trainer`` (which passes ``num_items_in_batch`` down with every
    batch) the frozen layers are computed once per block: epoch 2 and the validation passes
    are served from the memo, none bypass it; the weights equal a run without the memo."""
    cfg = CFG.replace(epochs=2)
    meta = train_hislm(str(tiny_model), _records(), tmp_path / "memo", cfg)
    stats = meta["lower_layers"]
    assert stats["bypassed"] == 0 and stats["computed"] > 0
    assert stats["memory"] >= stats["computed"]  # every block again in epoch 2
    os.environ["PROGALIGN_LOWER_MEMO"] = "0"
    try:
        plain = train_hislm(str(tiny_model), _records(), tmp_path / "plain", cfg)
    finally:
        del os.environ["PROGALIGN_LOWER_MEMO"]
    assert plain["lower_layers"] is None
    a = load_file(tmp_path / "memo" / "model.safetensors")
    b = load_file(tmp_path / "plain" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_config_file_rejects_unknown_keys(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("hislm:\n  epochs: 2\n  top_k_layers: 4\n")
    assert load_hislm_config(good).top_k_layers == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("hislm:\n  epoch: 2\n")
    with pytest.raises(Exception, match="unknown hislm key"):
        load_hislm_config(bad)


def test_record_without_year_is_a_clear_error(tiny_model, tmp_path, capsys):
    corpus = tmp_path / "C017.jsonl"
    corpus.write_text(json.dumps({"content": "text", "source_dataset": "x"}) + "\n")
    code = main(
        [
            "train-hislm",
            "--base",
            str(tiny_model),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2 and "creation_year" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_killed_training_leaves_nothing_that_looks_finished(tiny_model, tmp_path):
    corpus = tmp_path / "C017.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in _records(400)))
    out = tmp_path / "model"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "progalign.cli",
            "train-hislm",
            "--base",
            str(tiny_model),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--epochs",
            "50",
            "--max-seq-len",
            "32",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        p.name.startswith(".model.") and (p / ".trainer").is_dir() for p in tmp_path.iterdir()
    ):
        time.sleep(0.2)
    time.sleep(2)  # well into training
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()


def test_sft_stage_trains_on_completions_and_is_recorded(tiny_model, tmp_path, monkeypatch):
    """Pre-training and SFT are two phases of one stage of the shared stage runner."""
    from progalign.training import hislm, stage

    stages = []
    real = stage.run_stage

    def spy(spec):
        stages.append((spec.name, [(p.name, p.lower_memo) for p in spec.phases]))
        return real(spec)

    monkeypatch.setattr(hislm, "run_stage", spy)
    sft = tmp_path / "timeless.jsonl"
    sft.write_text(
        "".join(
            json.dumps(
                {
                    "instruction": f"Name a colour number {i}.",
                    "input": "",
                    "output": "The sky is blue and the grass is green.",
                }
            )
            + "\n"
            for i in range(16)
        )
    )
    meta = train_hislm(
        str(tiny_model),
        _records(),
        tmp_path / "m",
        CFG.replace(sft_epochs=1, sft_learning_rate=1e-3),
        sft_file=sft,
    )
    assert meta["sft"]["records"] == 16 and meta["sft"]["train_loss"] > 0
    assert str(sft) in meta["sft"]["file"]
    assert stages == [("hislm", [("pretrain", True), ("sft", False)])]


def test_bad_sft_file_fails_before_training(tiny_model, tmp_path, capsys):
    corpus = tmp_path / "C017.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"instruction": "hi"}) + "\n")
    code = main(
        [
            "train-hislm",
            "--base",
            str(tiny_model),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "m"),
            "--sft",
            str(sft),
        ]
    )
    assert code == 2 and "'output'" in capsys.readouterr().err
