"""Preference trainers on a tiny random model: DPO, reward model, RLOO, SFT on pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from progalign.errors import ProgalignError
from progalign.training.preference import (
    TRAINING_FILE,
    UPSTREAM_SETTINGS,
    PreferencePair,
    TrainSettings,
    replicate,
    train_dpo,
    train_reward_model,
    train_rloo,
    train_sft_pairs,
)

ACTIONS = ["tell the truth", "keep the promise", "share the bread", "help the stranger"]
PAIRS = [PreferencePair(f"Is it right to {a}?", "yes", "no") for a in ACTIONS]
FAST = TrainSettings(learning_rate=1e-2, epochs=3, batch_size=2, seed=1)


def _logp(model, tokenizer, prompt: str, completion: str) -> float:
    """Sum of the log-probabilities of the assistant reply's tokens (end-of-turn included)."""
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        [*user, {"role": "assistant", "content": completion}], tokenize=False
    )
    head_ids = tokenizer(head, add_special_tokens=False).input_ids
    ids = tokenizer(full, add_special_tokens=False).input_ids
    assert ids[: len(head_ids)] == head_ids
    with torch.no_grad():
        logp = model(torch.tensor([ids])).logits[0].log_softmax(-1)
    return sum(logp[i - 1, ids[i]].item() for i in range(len(head_ids), len(ids)))


def _margins(model_dir: Path) -> list[float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return [
        _logp(model, tokenizer, p.prompt, p.chosen) - _logp(model, tokenizer, p.prompt, p.rejected)
        for p in PAIRS
    ]


def _changed(base: Path, trained: Path) -> set[str]:
    a, b = load_file(base / "model.safetensors"), load_file(trained / "model.safetensors")
    assert a.keys() == b.keys()
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_dpo_raises_the_preference_margin_and_records_the_run(tiny_model: Path, tmp_path: Path):
    settings = TrainSettings(learning_rate=1e-2, epochs=3, batch_size=2, sft_weight=0.04, seed=1)
    record = train_dpo(tiny_model, PAIRS, tmp_path / "dpo", settings)
    before, after = _margins(tiny_model), _margins(tmp_path / "dpo")
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    saved = json.loads((tmp_path / "dpo" / TRAINING_FILE).read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["stage"] == "dpo" and saved["n_pairs"] == 4 and saved["n_samples"] == 4
    assert saved["steps"] == 6 and saved["train_loss"] > 0
    assert "sft" in saved["algorithm"].lower() or "NLL" in saved["algorithm"]
    assert saved["inputs"]["reference"]["weights_sha256"] == saved["model"]["weights_sha256"]
    assert saved["provenance"]["libraries"]["trl"] and saved["timings"]["train_s"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def test_dpo_top_k_layers_leaves_lower_layers_bit_identical(tiny_model: Path, tmp_path: Path):
    weighted = [PreferencePair(PAIRS[0].prompt, "yes", "no", weight=3), PAIRS[1]]
    settings = TrainSettings(learning_rate=1e-2, epochs=1, batch_size=2, top_k_layers=1)
    record = train_dpo(tiny_model, weighted, tmp_path / "top", settings)
    changed = _changed(tiny_model, tmp_path / "top")
    assert changed and all(
        k.startswith("model.layers.3.") or k == "model.norm.weight" for k in changed
    ), changed
    assert record["n_pairs"] == 2 and record["n_samples"] == 4  # sum of the weights
    assert record["steps"] == 2
    assert record["parameters"]["trainable"] < record["parameters"]["total"]


def test_replication_is_by_weight_in_input_order():
    a = PreferencePair("p", "a", "b", weight=3)
    b = PreferencePair("q", "c", "d")
    assert replicate([a, b], "DPO") == [a, a, a, b]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ProgalignError, match="pair 1 has weight"):
            replicate([PreferencePair("p", "a", "b", weight=bad)], "DPO")  # type: ignore[arg-type]


def test_dpo_is_bit_identical_for_the_same_seed(tiny_model: Path, tmp_path: Path):
    settings = TrainSettings(learning_rate=1e-3, epochs=1, batch_size=2, sft_weight=0.04, seed=7)
    train_dpo(tiny_model, PAIRS, tmp_path / "a", settings)
    train_dpo(tiny_model, PAIRS, tmp_path / "b", settings)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert _changed(tiny_model, tmp_path / "a")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_failed_training_leaves_no_output(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import trl

    def boom(self, *args, **kwargs):
        raise RuntimeError("killed mid-training")

    monkeypatch.setattr(trl.DPOTrainer, "train", boom)
    with pytest.raises(RuntimeError, match="killed"):
        train_dpo(tiny_model, PAIRS, tmp_path / "new", FAST)
    assert not (tmp_path / "new").exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "marker").write_text("previous result")
    with pytest.raises(RuntimeError):
        train_dpo(tiny_model, PAIRS, old, FAST)
    assert [p.name for p in old.iterdir()] == ["marker"]  # the old result is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # no scratch left behind


def test_bad_input_is_a_clear_error(tiny_model: Path, tmp_path: Path):
    with pytest.raises(ProgalignError, match="no preference pairs"):
        train_dpo(tiny_model, [], tmp_path / "x", FAST)
    with pytest.raises(ProgalignError, match="no preference pairs"):
        train_reward_model(tiny_model, [], tmp_path / "x", FAST)
    with pytest.raises(ProgalignError, match="no prompts"):
        train_rloo(tiny_model, tiny_model, [], tmp_path / "x", FAST)
    with pytest.raises(ProgalignError, match=r"no \(prompt, completion\) records"):
        train_sft_pairs(tiny_model, [], tmp_path / "x", FAST)
    missing = tmp_path / "nowhere"
    with pytest.raises(ProgalignError, match=str(missing)):
        train_dpo(missing, PAIRS, tmp_path / "x", FAST)
    with pytest.raises(ProgalignError, match="reference model folder"):
        train_dpo(tiny_model, PAIRS, tmp_path / "x", FAST, ref_model_dir=missing)
    with pytest.raises(ProgalignError, match="reward model folder"):
        train_rloo(tiny_model, missing, ["q"], tmp_path / "x", FAST)
    with pytest.raises(ProgalignError, match="num_generations"):
        train_rloo(
            tiny_model,
            tiny_model,
            ["q"],
            tmp_path / "x",
            TrainSettings(learning_rate=1e-3, epochs=1, batch_size=3),
        )
    with pytest.raises(ProgalignError, match="learning_rate"):
        TrainSettings(learning_rate=0, epochs=1)
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def reward_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rm") / "rm"
    train_reward_model(tiny_model, PAIRS, out, TrainSettings(learning_rate=1e-2, epochs=4, seed=2))
    return out


def test_reward_model_scores_chosen_above_rejected(tiny_model: Path, reward_dir: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(reward_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id

    def score(prompt: str, reply: str) -> float:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}],
            tokenize=False,
        )
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            return float(model(**ids).logits[0, 0])

    assert all(score(p.prompt, p.chosen) > score(p.prompt, p.rejected) for p in PAIRS)
    record = json.loads((reward_dir / TRAINING_FILE).read_text())
    assert record["stage"] == "reward" and record["n_samples_trained"] == 4


def test_reward_model_top_k_trains_the_score_head(tiny_model: Path, tmp_path: Path):
    settings = TrainSettings(learning_rate=1e-2, epochs=1, top_k_layers=1)
    record = train_reward_model(tiny_model, PAIRS[:2], tmp_path / "rm", settings)
    trained = load_file(tmp_path / "rm" / "model.safetensors")
    base = load_file(tiny_model / "model.safetensors")
    assert "score.weight" in trained
    assert torch.equal(
        trained["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"]
    )
    head = trained["score.weight"].numel()
    assert record["parameters"]["trainable"] > head


def test_rloo_runs_end_to_end(tiny_model: Path, reward_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    settings = TrainSettings(
        learning_rate=1e-3,
        epochs=1,
        batch_size=2,
        max_new_tokens=6,
        num_generations=2,
        beta=0.05,
        seed=3,
    )
    record = train_rloo(
        tiny_model, reward_dir, [p.prompt for p in PAIRS[:2]], tmp_path / "pol", settings
    )
    assert "RLOO" in record["algorithm"] and "PPO" in record["algorithm"]
    saved = json.loads((tmp_path / "pol" / TRAINING_FILE).read_text())
    assert saved["algorithm"] == record["algorithm"]
    assert saved["n_prompts"] == 2 and saved["steps"] == 2
    assert saved["inputs"]["reward_model"]["path"] == str(reward_dir.resolve())
    assert any("reward" in row for row in saved["history"])
    AutoModelForCausalLM.from_pretrained(tmp_path / "pol")  # a loadable policy
    assert _changed(tiny_model, tmp_path / "pol")


def test_sft_pairs_lowers_the_completion_nll(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from progalign.training import stage

    stages = []
    real = stage.run_stage

    def spy(spec):
        stages.append((spec.name, [p.name for p in spec.phases], spec.record_file))
        return real(spec)

    monkeypatch.setattr(stage, "run_stage", spy)
    records = [(p.prompt, "yes") for p in PAIRS]
    record = train_sft_pairs(tiny_model, records, tmp_path / "sft", FAST)
    assert stages == [("sft", ["train"], TRAINING_FILE)]  # the shared stage runner
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)

    def nll(folder: Path) -> float:
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        return -sum(_logp(model, tokenizer, p, c) for p, c in records)

    assert nll(tmp_path / "sft") < nll(tiny_model)
    assert record["stage"] == "sft" and record["n_records"] == 4 and record["steps"] == 6


def test_upstream_settings_follow_the_spec():
    dpo = UPSTREAM_SETTINGS["dpo"]
    assert (dpo.learning_rate, dpo.epochs, dpo.beta, dpo.sft_weight) == (3e-7, 2, 0.1, 0.04)
    assert (dpo.batch_size, dpo.grad_accum, dpo.lr_scheduler) == (2, 2, "constant")
    reward = UPSTREAM_SETTINGS["reward"]
    assert reward.epochs == pytest.approx(7.2) and reward.lr_scheduler_kwargs == {
        "lr_end": 1e-8,
        "power": 3,
    }
    rloo = UPSTREAM_SETTINGS["rloo"]
    assert (rloo.learning_rate, rloo.epochs, rloo.max_new_tokens) == (1e-6, 0.4, 1024)
    assert UPSTREAM_SETTINGS["sft_history"].lr_scheduler_kwargs == {"lr_end": 5e-8, "power": 1}
    influence = UPSTREAM_SETTINGS["sft_influence"]
    assert influence.epochs == 2 and influence.lr_scheduler_kwargs == {"lr_end": 5e-8, "power": 11}
    assert all(s.warmup_ratio == 0.075 for k, s in UPSTREAM_SETTINGS.items() if k != "dpo")
