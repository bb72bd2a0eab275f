"""Online policy optimisation against a reward model (RLHF part 2) with TRL's ``RLOOTrainer``.

Upstream (LLaMA-Factory 0.6) ran PPO. TRL ≥ 1.13 has no PPO trainer, so this stage uses RLOO
(REINFORCE with a leave-one-out baseline over ``num_generations`` sampled completions per
prompt, a fixed KL penalty β to the starting policy): a documented deviation, recorded in
``training.json``. The prompts are conversational user turns; the reward model scores the whole
rendered conversation, as it was trained by :mod:`progalign.training.reward`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError
from progalign.training.launch import delegate, processes
from progalign.training.stage import (
    TRAINING_FILE,
    StageContext,
    TrainSettings,
    check_model_dir,
    load_tokenizer,
    run_trl_stage,
    trainer_arguments,
)

ALGORITHM = "reward model + RLOO (TRL has no PPO; deviation from the paper's PPO)"

_DEVIATIONS = (
    "RLOO instead of PPO: no value model, leave-one-out baseline over num_generations samples "
    "per prompt, fixed KL coefficient beta (upstream PPO: adaptive KL, target 6, 4 PPO epochs)",
)


def train_rloo(
    policy_dir: Path,
    reward_dir: Path,
    prompts: Sequence[str],
    out_dir: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    """Optimise the policy in ``policy_dir`` against the reward model in ``reward_dir``.

    The reference policy for the KL term is the starting policy, loaded by TRL from
    ``policy_dir`` (skipped when ``beta`` is 0).

    Args:
        policy_dir: Starting policy (HF folder with a chat template).
        reward_dir: Reward model written by ``train_reward_model``.
        prompts: User turns to sample completions for.
        out_dir: Output folder (written atomically; replaced if present).
        settings: Hyper-parameters; ``beta`` is the KL coefficient, ``max_new_tokens``,
            ``num_generations``, ``temperature``, ``top_p`` control sampling. ``batch_size`` ×
            ``grad_accum`` completions (a multiple of ``num_generations``) make one update.

    Returns:
        The record also written to ``out_dir/training.json`` (``algorithm`` carries the
        deviation note).

    Raises:
        ProgalignError: no prompts, a missing model folder, or bad settings.
    """
    if not prompts:
        raise ProgalignError("RLOO: no prompts to train on (skip this update)")
    if not all(isinstance(p, str) for p in prompts):
        raise ProgalignError("RLOO: every prompt must be text")
    ranks = processes()  # each process samples batch_size completions per step
    per_update = settings.batch_size * settings.grad_accum * ranks
    if per_update % settings.num_generations:
        raise ProgalignError(
            f"RLOO: batch_size × grad_accum × processes = {settings.batch_size} × "
            f"{settings.grad_accum} × {ranks} = {per_update} completions is not a multiple of "
            f"num_generations={settings.num_generations}"
        )
    reward_dir = check_model_dir(reward_dir, "reward model")
    launched = delegate(
        "rloo",
        out_dir,
        TRAINING_FILE,
        {
            "policy_dir": str(policy_dir),
            "reward_dir": str(reward_dir),
            "prompts": list(prompts),
            "out_dir": str(out_dir),
            "settings": dataclasses.asdict(settings),
        },
    )
    if launched is not None:  # trained under accelerate launch (progalign.training.launch)
        return launched

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import RLOOConfig, RLOOTrainer

        from progalign.lowerlayers import prefilled_generate
        from progalign.training.launch import current_memory
        from progalign.training.reward import load_reward_model

        reward_model = load_reward_model(reward_dir)
        reward_model.requires_grad_(False)
        reward_model.eval()
        ctx.reuse_lower(reward_model)
        config = RLOOConfig(
            **trainer_arguments(settings, ctx.scratch),
            beta=settings.beta,
            num_generations=settings.num_generations,
            max_completion_length=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            disable_dropout=True,
            ds3_gather_for_generation=current_memory().gather_for_generation,
        )
        rows = [{"prompt": [{"role": "user", "content": p}]} for p in prompts]
        trainer = RLOOTrainer(
            model=ctx.model,
            reward_funcs=reward_model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=ctx.tokenizer,
            reward_processing_classes=load_tokenizer(reward_dir),
        )
        ref_model = getattr(trainer, "ref_model", None)
        if ref_model is not None:  # TRL's own frozen copy (beta > 0)
            ref_model.requires_grad_(False)
            ctx.reuse_lower(ref_model)
        if ctx.memo is not None:  # sampling starts from the prompts' states
            ctx.enter(prefilled_generate(ctx.model, ctx.memo))
        return trainer

    digest = hashlib.sha256(json.dumps(list(prompts), ensure_ascii=False).encode()).hexdigest()
    summary = {
        "n_prompts": len(prompts),
        "completions_per_epoch": len(prompts) * settings.num_generations,
        "inputs_sha256": digest,
    }
    return run_trl_stage(
        "rloo",
        policy_dir,
        out_dir,
        settings,
        build,
        summary,
        algorithm=ALGORITHM,
        inputs={"reward_model": reward_dir},
        deviations=_DEVIATIONS,
        lower_disk=False,  # freshly sampled completions never repeat across jobs
    )
