"""DPO update (Lifelong / Extrapolative DPO) with TRL's ``DPOTrainer``.

Loss: the sigmoid DPO loss with β, plus, when ``sft_weight`` > 0, TRL's ``"sft"`` loss (NLL of
the chosen reply) through ``DPOConfig(loss_type=["sigmoid", "sft"], loss_weights=[1,
sft_weight])``. That is the counterpart of LLaMA-Factory's ``dpo_ftx`` (upstream 0.04), which
adds ``dpo_ftx`` × the chosen reply's NLL to each pair's DPO loss. TRL 1.16 has no
``rpo_alpha`` any more; the multi-loss list is its mechanism. One difference remains:
LLaMA-Factory averages the NLL per sequence and then over the batch, TRL over all chosen
tokens of the batch; they agree when the chosen replies of a batch have equal length (as for
the one-word answers of the preference pool).

The reference model is a frozen copy of the starting model (or of ``ref_model_dir``), loaded
separately from disk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.training.launch import delegate
from progalign.training.stage import (
    TRAINING_FILE,
    PreferencePair,
    StageContext,
    TrainSettings,
    check_model_dir,
    load_causal_lm,
    pairs_summary,
    preference_rows,
    replicate,
    run_trl_stage,
    trainer_arguments,
)

_DEVIATIONS = (
    "SFT term: TRL's 'sft' loss averages the chosen NLL over the batch's chosen tokens; "
    "LLaMA-Factory's dpo_ftx per sequence, then over the batch (equal for equal lengths)",
    "no validation split and no best-checkpoint selection (upstream: 10 % validation, load best)",
)


def train_dpo(
    model_dir: Path,
    pairs: Sequence[PreferencePair],
    out_dir: Path,
    settings: TrainSettings,
    ref_model_dir: Path | None = None,
) -> dict[str, Any]:
    """Train the model in ``model_dir`` with DPO on ``pairs``; write it to ``out_dir``.

    Args:
        model_dir: Starting policy (HF folder with a chat template).
        pairs: Preferences; each is used ``weight`` times.
        out_dir: Output folder (written atomically; replaced if present).
        settings: Hyper-parameters (``beta``, ``sft_weight`` and the common fields).
        ref_model_dir: Reference model; default: the starting model.

    Returns:
        The record also written to ``out_dir/training.json``.

    Raises:
        ProgalignError: no pairs, a bad pair, a missing model folder, or bad settings.
    """
    samples = replicate(pairs, "DPO")
    ref_dir = check_model_dir(
        ref_model_dir if ref_model_dir is not None else model_dir, "reference model"
    )
    launched = delegate(
        "dpo",
        out_dir,
        TRAINING_FILE,
        {
            "model_dir": str(model_dir),
            "pairs": [dataclasses.asdict(p) for p in pairs],
            "out_dir": str(out_dir),
            "settings": dataclasses.asdict(settings),
            "ref_model_dir": None if ref_model_dir is None else str(ref_model_dir),
        },
    )
    if launched is not None:  # trained under accelerate launch (progalign.training.launch)
        return launched

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        losses, weights = ["sigmoid"], [1.0]
        if settings.sft_weight > 0:
            losses.append("sft")
            weights.append(settings.sft_weight)
        config = DPOConfig(
            **trainer_arguments(settings, ctx.scratch),
            beta=settings.beta,
            loss_type=losses,
            loss_weights=weights,
            max_length=settings.max_length,
            disable_dropout=True,
        )
        ref_model = load_causal_lm(ref_dir)
        ref_model.requires_grad_(False)
        ref_model.eval()
        ctx.reuse_lower(ref_model)
        return DPOTrainer(
            model=ctx.model,
            ref_model=ref_model,
            args=config,
            train_dataset=Dataset.from_list(preference_rows(samples)),
            processing_class=ctx.tokenizer,
        )

    loss = "sigmoid DPO"
    if settings.sft_weight:
        loss += f" + {settings.sft_weight} × NLL(chosen)"
    return run_trl_stage(
        "dpo",
        model_dir,
        out_dir,
        settings,
        build,
        pairs_summary(pairs, samples),
        algorithm=f"DPO ({loss}; TRL DPOTrainer, frozen reference)",
        inputs={"reference": ref_dir},
        deviations=_DEVIATIONS,
    )
