"""The four ProgressGym baselines: Lifelong / Extrapolative × DPO / RLHF
(docs/semantics.md#algorithms).

Parameters (``benchmark.params`` in the config, passed to every algorithm as upstream):
``independent`` (restart from the initial model every step), and for the extrapolative
variants ``timesteps_ahead`` (h) and ``extrapolation_order`` (k).
RLHF is a reward model (TRL ``RewardTrainer``) followed by RLOO (TRL has no PPO any more): a
documented deviation from the paper's PPO, recorded in every result.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from progalign.benchmark.extrapolation import extrapolate
from progalign.benchmark.protocol import Examinee, Feedback, State, StepContext
from progalign.benchmark.registry import algorithm

log = logging.getLogger(__name__)

RLHF_DEVIATION = "rlhf: reward model + RLOO (TRL >= 1.13 has no PPO; the paper used PPO)"


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


class _PreferenceLearner(Examinee):
    """Shared logic: pick the starting model, build weighted pairs, run the optimiser."""

    optimiser = "dpo"

    @property
    def independent(self) -> bool:
        """Restart every update from the initial model (``independent``)."""
        return _flag(self.params.get("independent", False))

    def pairs(self, state: State, feedback: Feedback) -> tuple[list[Any], State, dict[str, Any]]:
        """Training pairs for this step, the new state and a summary."""
        from progalign.training.preference import PreferencePair

        pairs = [
            PreferencePair(p.prompt, *pair)
            for p in feedback.preferences
            if (pair := p.pair) is not None
        ]
        return pairs, state, {"pairs": len(pairs)}

    def update(
        self, state: State, model: Path, feedback: Feedback, out: Path, ctx: StepContext
    ) -> State:
        """Train on this step's (possibly extrapolated) preferences."""
        from progalign.training.preference import TrainSettings, train_dpo

        start = ctx.initial_model if self.independent else model
        pairs, state, info = self.pairs(state, feedback)
        steps = list(state.get("updates", []))
        if not pairs:
            log.warning(
                "%s step %d: no usable preference pairs; model unchanged", self.name, feedback.step
            )
            shutil.copytree(start, out)
            steps.append({"step": feedback.step, **info, "trained": False})
            return {**state, "updates": steps}
        settings = {k: TrainSettings(**{"seed": ctx.seed, **v}) for k, v in ctx.training.items()}
        if self.optimiser == "dpo":
            metrics = train_dpo(start, pairs, out, settings["dpo"], ref_model_dir=start)
        else:
            from progalign.training.preference import train_reward_model, train_rloo

            reward_dir = ctx.scratch / "reward-model"
            rm = train_reward_model(start, pairs, reward_dir, settings["reward"])
            metrics = {
                "reward": rm,
                "rloo": train_rloo(start, reward_dir, feedback.prompts, out, settings["rloo"]),
            }
        steps.append({"step": feedback.step, **info, "trained": True, "train_loss": _loss(metrics)})
        return {**state, "updates": steps}

    def describe(self) -> dict[str, Any]:
        """Adds the optimiser and, for RLHF, the PPO -> RLOO deviation."""
        extra = {"optimiser": self.optimiser}
        if self.optimiser == "rlhf":
            extra["deviation"] = RLHF_DEVIATION
        return {**super().describe(), **extra}


def _loss(metrics: dict[str, Any]) -> float | None:
    for key in ("train_loss", "loss"):
        if isinstance(metrics.get(key), int | float):
            return float(metrics[key])
    nested = metrics.get("rloo")
    return _loss(nested) if isinstance(nested, dict) else None


class _Extrapolative(_PreferenceLearner):
    """Extrapolates each comparison's vote history ``timesteps_ahead`` steps ahead."""

    def pairs(self, state: State, feedback: Feedback) -> tuple[list[Any], State, dict[str, Any]]:
        """Append this step's decisions to the history and extrapolate it."""
        from progalign.training.preference import PreferencePair

        horizon = int(self.params.get("timesteps_ahead", 1))
        order = int(self.params.get("extrapolation_order", 1))
        current = {p.key: (list(pair) if (pair := p.pair) else None) for p in feedback.preferences}
        history = [*state.get("history", []), current]
        as_pairs = [{k: (tuple(v) if v else None) for k, v in h.items()} for h in history]
        weighted, counts = extrapolate(as_pairs, order=order, horizon=horizon)
        prompts = {p.key: p.prompt for p in feedback.preferences}
        pairs = [
            PreferencePair(prompts[str(w.key)], w.pair[0], w.pair[1], weight=w.weight)
            for w in weighted
            if str(w.key) in prompts
        ]
        info = {
            "pairs": len(pairs),
            "samples": sum(p.weight for p in pairs),
            **counts,
            "effective_order": min(order, len(history) - 1),
            "horizon": horizon,
        }
        return pairs, {**state, "history": history}, info


@algorithm("LifelongDPO")
class LifelongDPO(_PreferenceLearner):
    """Continual DPO on each century's preferences (TRL ``DPOTrainer``)."""


@algorithm("LifelongRLHF")
class LifelongRLHF(_PreferenceLearner):
    """Continual RLHF: reward model on each century's preferences, then RLOO on the pool."""

    optimiser = "rlhf"


@algorithm("ExtrapolativeDPO")
class ExtrapolativeDPO(_Extrapolative):
    """DPO on preferences extrapolated ``timesteps_ahead`` centuries ahead."""


@algorithm("ExtrapolativeRLHF")
class ExtrapolativeRLHF(_Extrapolative):
    """RLHF on preferences extrapolated ``timesteps_ahead`` centuries ahead."""

    optimiser = "rlhf"
