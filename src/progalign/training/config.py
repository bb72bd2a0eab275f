"""Hyper-parameters of historical-model training, loadable from YAML (section ``hislm``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from progalign.errors import ProgalignError


@dataclass(frozen=True)
class HislmConfig:
    """Continued pre-training of a base causal LM on one century.

    The defaults are the upstream ``Model.finetune`` defaults that produced the released
    HistLlama3 models (lr 1.5e-5, 4 epochs, polynomial schedule to 5e-8 with power 11,
    warm-up 7.5 %, cut-off 1024 tokens, 10 % validation; docs/semantics.md#historical-models).
    CPU presets override them.

    Attributes:
        epochs: Passes over the century's text.
        learning_rate: Peak learning rate.
        lr_scheduler: A transformers scheduler name (``polynomial``, ``cosine``, ``constant`` ...).
        lr_end: Final learning rate of the polynomial schedule.
        power: Power of the polynomial schedule (upstream: 11 when epochs > 1, else 1).
        warmup_ratio: Fraction of steps with linear warm-up.
        batch_size: Sequences per device per step.
        gradient_accumulation: Steps accumulated per optimiser update.
        max_seq_len: Tokens per training sequence (upstream ``cutoff_len``).
        val_fraction: Share of sequences held out for the validation loss (0 disables).
        top_k_layers: Train only the top k decoder layers (+ final norm); None trains all.
            Embeddings and output layer stay frozen then, so lower-layer activations are the
            same in every model of the family.
        max_tokens: Use at most this many corpus tokens (None: all).
        weight_decay: AdamW weight decay.
        seed: Seed of data order and initialisation of anything random.
        sft_epochs: Epochs of the optional SFT stage (upstream: 1).
        sft_learning_rate: Learning rate of the SFT stage (upstream script: 3e-6).
        sft_max_length: Token limit of an SFT conversation (upstream cut-off: 1024).
    """

    epochs: float = 4.0
    learning_rate: float = 1.5e-5
    lr_scheduler: str = "polynomial"
    lr_end: float = 5e-8
    power: float | None = None
    warmup_ratio: float = 0.075
    batch_size: int = 8
    gradient_accumulation: int = 1
    max_seq_len: int = 1024
    val_fraction: float = 0.1
    top_k_layers: int | None = None
    max_tokens: int | None = None
    weight_decay: float = 0.0
    seed: int = 0
    sft_epochs: float = 1.0
    sft_learning_rate: float = 3e-6
    sft_max_length: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def schedule_power(self) -> float:
        """The polynomial power actually used (upstream rule when unset)."""
        if self.power is not None:
            return self.power
        return 11.0 if self.epochs > 1 else 1.0

    def replace(self, **changes: Any) -> HislmConfig:
        """Return a copy with ``changes`` (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_hislm_config(path: str | Path | None) -> HislmConfig:
    """Read the ``hislm`` section of a YAML file (or the whole file); unknown keys are errors."""
    if path is None:
        return HislmConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProgalignError(f"{path}: cannot read training config ({exc})") from None
    section = data.get("hislm", data) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ProgalignError(f"{path}: expected a mapping of hislm hyper-parameters")
    known = {f.name for f in dataclasses.fields(HislmConfig)} - {"extra"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ProgalignError(f"{path}: unknown hislm key(s) {', '.join(unknown)}")
    return HislmConfig(**section)
