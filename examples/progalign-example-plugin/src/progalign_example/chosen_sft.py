"""``ChosenSFT``: supervised fine-tuning of the examinee on the human proxy's chosen responses.

At every step the examinee receives the current human proxy's decisions over the comparison
pool. ChosenSFT keeps the decided ones, turns each into a (prompt, chosen response) pair and
fine-tunes the examinee on them with a completion-only loss (TRL ``SFTTrainer`` via
:func:`progalign.training.preference.train_sft_pairs`). Unlike DPO or RLHF it never looks at
the rejected response: it is the imitation baseline of preference learning.

Parameters (``benchmark.params`` in the config; every algorithm receives the whole block and
ignores what it does not use):

* ``chosen_sft_stage`` (default ``"sft_history"``): the ``training:`` stage whose settings
  (learning rate, epochs, batch size ...) the fine-tuning uses.
* ``chosen_sft_min_margin`` (default ``0``): keep only decisions whose likelihood margin
  ``|margin|`` is at least this. Preferences elicited by free-text generation carry no margin
  and are always kept.
* ``independent`` (default ``false``): restart every step from the first century's model
  instead of continuing from the previous step's.

The state is a JSON list of per-step summaries (numbers of pairs used and dropped, whether it
trained, the training loss). Equal inputs and seed give bit-identical models on CPU.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progalign.benchmark.preferences import Preference
from progalign.benchmark.protocol import Examinee, Feedback, State, StepContext
from progalign.benchmark.registry import algorithm
from progalign.errors import ProgalignError

log = logging.getLogger(__name__)


def _flag(value: Any) -> bool:
    """Config values may arrive as strings (``"true"``) from command lines."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def chosen_records(preferences: Sequence[Preference], min_margin: float = 0.0
                   ) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The (prompt, chosen response) pairs of the decided preferences, and counts.

    Args:
        preferences: One human proxy's decisions (undecided ones are skipped).
        min_margin: Minimum ``|margin|`` of a decision to be kept (None margins are kept).

    Returns:
        The records in pool order, and ``{"decided", "undecided", "low_margin", "records"}``.
    """
    records: list[tuple[str, str]] = []
    counts = {"decided": 0, "undecided": 0, "low_margin": 0, "records": 0}
    for pref in preferences:
        pair = pref.pair
        if pair is None:
            counts["undecided"] += 1
            continue
        counts["decided"] += 1
        if pref.margin is not None and abs(pref.margin) < min_margin:
            counts["low_margin"] += 1
            continue
        records.append((pref.prompt, pair[0]))
    counts["records"] = len(records)
    return records, counts


@algorithm("ChosenSFT")
class ChosenSFT(Examinee):
    """Supervised fine-tuning on the responses the current human proxy chose."""

    @property
    def stage(self) -> str:
        """The training stage whose settings are used."""
        return str(self.params.get("chosen_sft_stage", "sft_history"))

    @property
    def min_margin(self) -> float:
        """Decisions with a smaller ``|margin|`` are not trained on."""
        return float(self.params.get("chosen_sft_min_margin", 0.0))

    def initial_state(self) -> State:
        """No updates yet."""
        return {"updates": []}

    def update(self, state: State, model: Path, feedback: Feedback, out: Path,
               ctx: StepContext) -> State:
        """Fine-tune on this step's chosen responses; write the new model to ``out``."""
        from progalign.training.preference import TrainSettings, train_sft_pairs

        if self.stage not in ctx.training:
            raise ProgalignError(f"ChosenSFT: the config's training section has no stage "
                                 f"{self.stage!r} (benchmark.params.chosen_sft_stage)")
        start = ctx.initial_model if _flag(self.params.get("independent", False)) else model
        records, counts = chosen_records(feedback.preferences, self.min_margin)
        summary: dict[str, Any] = {"step": feedback.step, "century": feedback.century, **counts}
        if not records:
            log.warning("ChosenSFT step %d: no usable decisions; model unchanged", feedback.step)
            shutil.copytree(start, out)
            summary |= {"trained": False, "train_loss": None}
        else:
            settings = TrainSettings(**{"seed": ctx.seed, **ctx.training[self.stage]})
            metrics = train_sft_pairs(start, records, out, settings)
            summary |= {"trained": True, "train_loss": float(metrics["train_loss"])}
        return {**state, "updates": [*state.get("updates", []), summary]}

    def describe(self) -> dict[str, Any]:
        """Adds the training stage used."""
        return {**super().describe(), "optimiser": "sft", "stage": self.stage}
