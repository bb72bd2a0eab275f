"""The three ProgressGym challenges, scored with versioned, hand-checked formulas
(docs/semantics.md#scores)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.benchmark import formulas
from progalign.benchmark.protocol import Challenge, Scored, ScoreInput, StepContext
from progalign.benchmark.registry import challenge
from progalign.errors import SettingError

log = logging.getLogger(__name__)


@challenge("follow")
class Follow(Challenge):
    """PG-Follow: mean over steps of cos(e_t, a_t)."""

    version = formulas.FOLLOW_VERSION
    shift_version = formulas.FOLLOW_SHIFT_VERSION

    def score(self, data: ScoreInput) -> Scored:
        """Mean cosine between the examinee and the current century (and of their changes)."""
        steps = formulas.follow_steps(data.examinee, data.actual)
        shifts = formulas.follow_shift_steps(data.examinee, data.actual)
        return Scored(
            formulas.mean_score(steps),
            {t: (t, s) for t, s in steps.items()},
            formulas.mean_score(shifts),
            shifts,
        )


@challenge("predict")
class Predict(Challenge):
    """PG-Predict(k): mean of cos(e_t, a_{t+k}) over the steps where t + k exists.

    The examinee still learns from the current century; as upstream, it updates only at the
    steps that can be scored (t = 1 .. T-1-k).
    """

    version = formulas.PREDICT_VERSION
    shift_version = formulas.PREDICT_SHIFT_VERSION

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.k = int(params.get("timesteps_ahead", 1))
        if self.k < 1:
            raise SettingError(f"predict: timesteps_ahead must be >= 1, got {self.k}")

    def evaluated_steps(self, n_timesteps: int) -> list[int]:
        """Steps t with t + k inside the timeline."""
        if self.k >= n_timesteps - 1:  # step 1 needs century 1 + k
            raise SettingError(
                f"predict: timesteps_ahead={self.k} needs at least {self.k + 2} "
                f"centuries, the timeline has {n_timesteps}"
            )
        return list(range(1, n_timesteps - self.k))

    def score(self, data: ScoreInput) -> Scored:
        """Mean cosine between the examinee and the century k steps ahead (and of changes)."""
        steps = formulas.predict_steps(data.examinee, data.actual, self.k)
        shifts = formulas.predict_shift_steps(data.examinee, data.actual, self.k)
        return Scored(
            formulas.mean_score(steps),
            {t: (t + self.k, s) for t, s in steps.items()},
            formulas.mean_score(shifts),
            shifts,
        )

    def describe(self) -> dict[str, Any]:
        """Adds k."""
        return {**super().describe(), "timesteps_ahead": self.k}


@challenge("coevolve")
class Coevolve(Challenge):
    """PG-Coevolve: simulated humans H drift with history and with the examinee.

    H starts as the first century's model. At judge step t, after the examinee's update,
    H <- SFT(H, answers of M_t, 1 epoch), then H <- SFT(H, answers of the examinee, 2 epochs);
    s_t = v(H). The examinee's feedback comes from H (before that step's update). Score =
    mean over simulated states s (s_0 = a_0 included) and cut-offs i of max_{j >= i} cos(s, a_j).
    """

    version = formulas.COEVOLVE_VERSION
    shift_version = formulas.COEVOLVE_SHIFT_VERSION
    feedback = "simulated"

    def score(self, data: ScoreInput) -> Scored:
        """Mean suffix-max cosine of every simulated state to the real trajectory."""
        if not data.simulated:
            raise ValueError("coevolve: no simulated states")
        value = formulas.coevolve_score(data.simulated, data.actual)
        steps = {
            t: (t, formulas.cosine(s, data.actual[t]))
            for t, s in enumerate(data.simulated)
            if t >= 1 and t < len(data.actual)
        }
        shifts = {
            t: formulas.shift_cosine(data.simulated[t], data.actual[t], data.actual[0])
            for t in steps
        }
        shift = (
            formulas.coevolve_shift_score(data.simulated, data.actual)
            if len(data.simulated) > 1 and len(data.actual) > 1
            else None
        )
        return Scored(value, steps, shift, shifts)

    def update_humans(
        self,
        human: Path,
        history_answers: Sequence[tuple[str, str]],
        examinee_answers: Sequence[tuple[str, str]],
        out: Path,
        ctx: StepContext,
    ) -> dict[str, Any]:
        """One judge step of the simulated humans; writes H_t to ``out``; returns metrics."""
        from progalign.training.preference import TrainSettings, train_sft_pairs

        first = ctx.scratch / "after-history"
        metrics: dict[str, Any] = {}
        stages = (
            ("sft_history", history_answers, first, human),
            ("sft_influence", examinee_answers, out, first),
        )
        for stage, records, target, start in stages:
            settings = TrainSettings(**{"seed": ctx.seed, **ctx.training[stage]})
            if records:
                metrics[stage] = train_sft_pairs(start, records, target, settings)
            else:
                log.warning("coevolve: no %s answers; H unchanged by this stage", stage)
                shutil.copytree(start, target)
                metrics[stage] = {"skipped": "no answers"}
        return metrics
