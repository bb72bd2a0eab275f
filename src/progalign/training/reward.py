"""Reward model (RLHF part 1) with TRL's ``RewardTrainer``.

As upstream, the reward model is a copy of the current policy: the same checkpoint loaded as
``AutoModelForSequenceClassification`` with one label (a new, seeded linear score head on the
last non-padding token), trained with the Bradley-Terry loss on (chosen, rejected). It is saved
as an ordinary HF folder so that ``train_rloo`` (or TRL's ``reward_funcs``) loads it by path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError
from progalign.training.launch import delegate
from progalign.training.stage import (
    TRAINING_FILE,
    PreferencePair,
    StageContext,
    TrainSettings,
    freeze_below_top,
    pairs_summary,
    preference_rows,
    replicate,
    run_trl_stage,
    trainer_arguments,
)

_DEVIATIONS = (
    "pairs whose rendered chosen or rejected conversation exceeds max_length are dropped "
    "(TRL RewardTrainer); upstream truncated them at the cut-off",
    "no validation split and no best-checkpoint selection (upstream: 10 % validation, load best)",
)


def load_reward_model(model_dir: Path) -> Any:
    """Load ``model_dir`` as a one-label sequence classifier in float32 (new head if a policy).

    The pad token id is taken from the tokenizer (the classifier finds the last real token by
    it); the caller seeds the head's initialisation.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    if pad_id is None:
        raise ProgalignError(f"{model_dir}: the tokenizer has neither a pad nor an EOS token")
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=1, dtype=torch.float32, pad_token_id=pad_id
    )
    model.config.pad_token_id = pad_id
    return model


def _freeze(settings: TrainSettings) -> Any:
    def prepare(model: Any) -> dict[str, int]:
        counts = freeze_below_top(model, settings.top_k_layers)
        if settings.top_k_layers is not None:  # the new score head must learn
            head = getattr(model, "score", None)
            if head is None:
                raise ProgalignError(f"{type(model).__name__}: no score head found to train")
            head.requires_grad_(True)
            counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return counts

    return prepare


def train_reward_model(
    model_dir: Path, pairs: Sequence[PreferencePair], out_dir: Path, settings: TrainSettings
) -> dict[str, Any]:
    """Train a reward model from a copy of the policy in ``model_dir``; write it to ``out_dir``.

    Args:
        model_dir: The policy the reward model starts from (HF folder with a chat template).
        pairs: Preferences; each is used ``weight`` times.
        out_dir: Output folder (written atomically; replaced if present).
        settings: Hyper-parameters (``beta``, ``sft_weight`` and the RLOO fields are unused).
            With ``top_k_layers`` the score head trains too.

    Returns:
        The record also written to ``out_dir/training.json``; ``n_samples_trained`` counts the
        replicated pairs left after TRL's length filter.

    Raises:
        ProgalignError: no pairs, a bad pair, every pair too long, a missing model folder, or
            bad settings.
    """
    samples = replicate(pairs, "reward model")
    summary = pairs_summary(pairs, samples)
    launched = delegate(
        "reward",
        out_dir,
        TRAINING_FILE,
        {
            "model_dir": str(model_dir),
            "pairs": [dataclasses.asdict(p) for p in pairs],
            "out_dir": str(out_dir),
            "settings": dataclasses.asdict(settings),
        },
    )
    if launched is not None:  # trained under accelerate launch (progalign.training.launch)
        return launched

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import RewardConfig, RewardTrainer

        config = RewardConfig(
            **trainer_arguments(settings, ctx.scratch),
            max_length=settings.max_length,
            disable_dropout=True,
        )
        trainer: Any = RewardTrainer(
            model=ctx.model,
            args=config,
            train_dataset=Dataset.from_list(preference_rows(samples)),
            processing_class=ctx.tokenizer,
        )
        kept = len(trainer.train_dataset)  # after TRL's length filter
        if kept == 0:
            raise ProgalignError(
                f"reward model: all {len(samples)} pairs are longer than max_length="
                f"{settings.max_length} tokens"
            )
        summary["n_samples_trained"] = kept
        return trainer

    return run_trl_stage(
        "reward",
        model_dir,
        out_dir,
        settings,
        build,
        summary,
        algorithm="reward model (Bradley-Terry; TRL RewardTrainer on a copy of the policy)",
        load_model=load_reward_model,
        prepare=_freeze(settings),
        deviations=_DEVIATIONS,
    )
