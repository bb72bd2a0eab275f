"""Model updates used by the alignment baselines and by PG-Coevolve's simulated human.

Four trainers share one settings class and one output contract:

=======================  ==============================  ========================================
function                 TRL mechanism                   used by
=======================  ==============================  ========================================
``train_dpo``            ``DPOTrainer`` (sigmoid loss    Lifelong / Extrapolative DPO
                         + weighted ``sft`` term)
``train_reward_model``   ``RewardTrainer``               RLHF part 1 (reward model)
``train_rloo``           ``RLOOTrainer``                 RLHF part 2 (upstream: PPO; TRL has none)
``train_sft_pairs``      ``SFTTrainer`` (completion      PG-Coevolve simulated human
                         -only loss)
=======================  ==============================  ========================================

Each function loads its starting model from a local Hugging Face folder, trains in float32 master
weights (bf16 autocast on a GPU that supports it), and writes a plain HF folder (weights as
safetensors + tokenizer) plus ``training.json`` (metrics, settings, input identities,
provenance) atomically: everything is built in a hidden sibling of ``out_dir`` and moved into
place with ``os.replace`` only when complete, so a failed or killed job leaves no ``out_dir``.
On CPU, equal inputs and seed give bit-identical weights.

A pair's ``weight`` is an integer sample weight realised, as upstream, by replicating the pair
``weight`` times (the extrapolative algorithms use ``min(|w|, 5)``,
docs/semantics.md#extrapolation; capping is the caller's job). Replicas are placed next to
their original, in input order; the trainer then shuffles with the seed.

``UPSTREAM_SETTINGS`` holds the upstream hyper-parameters per stage
(docs/semantics.md#training-settings):

==============  =======  ===========================  ======  ======  =====  ======  ============
stage           lr       schedule                     epochs  batch   accum  warmup  other
==============  =======  ===========================  ======  ======  =====  ======  ============
dpo             3e-7     constant                     2       2       2      0       β 0.1,
                                                                                     dpo_ftx 0.04
reward          4e-7     polynomial (1e-8, power 3)   7.2     8       1      0.075
rloo (PPO)      1e-6     polynomial (HF defaults)     0.4     2       1      0.075   1024 new
                                                                                     tokens, top-p
                                                                                     0.9
sft_history     1.5e-5   polynomial (5e-8, power 1)   1       8       1      0.075
sft_influence   1.5e-5   polynomial (5e-8, power 11)  2       8       1      0.075
==============  =======  ===========================  ======  ======  =====  ======  ============

Batch sizes are upstream's per-GPU sizes (its global batch grew with the number of GPUs). All
stages used a 1024-token cut-off. Upstream also held out 10 % for validation and loaded the best
checkpoint; these trainers train on everything and keep the last weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError, SettingError
from progalign.io import atomic_dir, write_json

log = logging.getLogger(__name__)

TRAINING_FILE = "training.json"


@dataclass(frozen=True)
class PreferencePair:
    """One preference of the human proxy.

    Attributes:
        prompt: The user turn (instruction + blank line + input); TRL renders it with the
            model's chat template (conversational format).
        chosen: The preferred assistant reply.
        rejected: The other reply.
        weight: Integer sample weight, realised by replicating the pair ``weight`` times
            (upstream replicated extrapolated pairs ``min(|w|, 5)`` times). At least 1.
    """

    prompt: str
    chosen: str
    rejected: str
    weight: int = 1


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training stage (one class for every stage).

    Attributes:
        learning_rate: Peak learning rate (AdamW).
        epochs: Passes over the (replicated) data; fractions allowed.
        batch_size: Samples per device per step (pairs for DPO/reward; completions for RLOO).
        grad_accum: Steps accumulated per optimiser update.
        lr_scheduler: A transformers scheduler name (``constant``, ``polynomial``, ...).
        lr_scheduler_kwargs: Extra scheduler arguments, e.g. ``{"lr_end": 5e-8, "power": 11}``.
        warmup_ratio: Fraction of the steps with linear warm-up, in [0, 1).
        max_length: Token limit of a rendered conversation (DPO and SFT truncate, the reward
            trainer drops longer pairs; unused by RLOO, whose completions stop at
            ``max_new_tokens``).
        top_k_layers: Train only the top k decoder layers and the final norm (the reward
            model's score head too); None trains all parameters.
        seed: Seed of initialisation, data order and sampling.
        beta: DPO β; for RLOO the (fixed) KL coefficient to the reference policy.
        sft_weight: DPO only: weight of the NLL-on-chosen term (upstream ``dpo_ftx`` = 0.04).
        max_new_tokens: RLOO completion length.
        num_generations: RLOO group size (completions per prompt, at least 2).
        temperature: RLOO sampling temperature.
        top_p: RLOO nucleus sampling (upstream PPO: 0.9).
    """

    learning_rate: float
    epochs: float
    batch_size: int = 2
    grad_accum: int = 1
    lr_scheduler: str = "constant"
    lr_scheduler_kwargs: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    max_length: int = 1024
    top_k_layers: int | None = None
    seed: int = 0
    beta: float = 0.1
    sft_weight: float = 0.0
    max_new_tokens: int = 32
    num_generations: int = 2
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "learning_rate": self.learning_rate > 0,
            "epochs": self.epochs > 0,
            "batch_size": self.batch_size >= 1,
            "grad_accum": self.grad_accum >= 1,
            "warmup_ratio": 0 <= self.warmup_ratio < 1,
            "max_length": self.max_length >= 1,
            "top_k_layers": self.top_k_layers is None or self.top_k_layers >= 1,
            "beta": self.beta >= 0,
            "sft_weight": self.sft_weight >= 0,
            "max_new_tokens": self.max_new_tokens >= 1,
            "num_generations": self.num_generations >= 2,
            "temperature": self.temperature > 0,
            "top_p": 0 < self.top_p <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                value = getattr(self, name)
                raise SettingError(f"training setting {name}={value!r} is out of range")


#: Upstream hyper-parameters per stage (defaults of upstream ``Model.finetune``;
#: docs/semantics.md#training-settings).
#: "rloo" maps upstream's PPO stage onto RLOO: beta is the initial coefficient of PPO's adaptive
#: KL controller (TRL 0.8 default 0.2, target KL 6), fixed here; the polynomial schedule uses the
#: transformers defaults (lr_end 1e-7, power 1) as upstream passed none; RLOO needs a group of
#: at least two completions per prompt, so one batch of 2 holds one prompt.
UPSTREAM_SETTINGS: dict[str, TrainSettings] = {
    "dpo": TrainSettings(learning_rate=3e-7, epochs=2, batch_size=2, grad_accum=2,
                         lr_scheduler="constant", warmup_ratio=0.0, beta=0.1, sft_weight=0.04),
    "reward": TrainSettings(learning_rate=4e-7, epochs=7.2, batch_size=8, grad_accum=1,
                            lr_scheduler="polynomial",
                            lr_scheduler_kwargs={"lr_end": 1e-8, "power": 3},
                            warmup_ratio=0.075),
    "rloo": TrainSettings(learning_rate=1e-6, epochs=0.4, batch_size=2, grad_accum=1,
                          lr_scheduler="polynomial", warmup_ratio=0.075, beta=0.2,
                          max_new_tokens=1024, num_generations=2, temperature=1.0, top_p=0.9),
    "sft_history": TrainSettings(learning_rate=1.5e-5, epochs=1, batch_size=8, grad_accum=1,
                                 lr_scheduler="polynomial",
                                 lr_scheduler_kwargs={"lr_end": 5e-8, "power": 1},
                                 warmup_ratio=0.075),
    "sft_influence": TrainSettings(learning_rate=1.5e-5, epochs=2, batch_size=8, grad_accum=1,
                                   lr_scheduler="polynomial",
                                   lr_scheduler_kwargs={"lr_end": 5e-8, "power": 11},
                                   warmup_ratio=0.075),
}


# --------------------------------------------------------------------------------------------
# Public entry points (implementations in dpo.py, reward.py, rloo.py; imported lazily so that
# importing this module stays cheap and free of import cycles).


def train_dpo(
    model_dir: Path,
    pairs: Sequence[PreferencePair],
    out_dir: Path,
    settings: TrainSettings,
    ref_model_dir: Path | None = None,
) -> dict[str, Any]:
    """DPO update of the model in ``model_dir``; see :func:`progalign.training.dpo.train_dpo`."""
    from progalign.training.dpo import train_dpo as run

    return run(model_dir, pairs, out_dir, settings, ref_model_dir)


def train_reward_model(
    model_dir: Path, pairs: Sequence[PreferencePair], out_dir: Path, settings: TrainSettings
) -> dict[str, Any]:
    """Reward model from a copy of the policy; see :mod:`progalign.training.reward`."""
    from progalign.training.reward import train_reward_model as run

    return run(model_dir, pairs, out_dir, settings)


def train_rloo(
    policy_dir: Path, reward_dir: Path, prompts: Sequence[str], out_dir: Path,
    settings: TrainSettings,
) -> dict[str, Any]:
    """RLOO update of a policy against a reward model; see :mod:`progalign.training.rloo`."""
    from progalign.training.rloo import train_rloo as run

    return run(policy_dir, reward_dir, prompts, out_dir, settings)


def train_sft_pairs(
    model_dir: Path, records: Sequence[tuple[str, str]], out_dir: Path, settings: TrainSettings
) -> dict[str, Any]:
    """Supervised fine-tuning on (prompt, completion) pairs (PG-Coevolve's simulated human).

    The pairs become prompt/completion conversations for TRL's ``SFTTrainer``; the loss covers
    the completion tokens only.

    Args:
        model_dir: Starting model (HF folder with a chat template).
        records: ``(user turn, assistant reply)`` pairs.
        out_dir: Output folder (written atomically; replaced if present).
        settings: Hyper-parameters (``beta``, ``sft_weight`` and the RLOO fields are unused).

    Returns:
        The record also written to ``out_dir/training.json``.

    Raises:
        ProgalignError: no records, a missing model folder, or bad settings.
    """
    if not records:
        raise ProgalignError("SFT: no (prompt, completion) records to train on")
    for number, record in enumerate(records, start=1):
        if len(record) != 2 or not all(isinstance(x, str) for x in record):
            raise ProgalignError(
                f"SFT: record {number} is not a (prompt, completion) pair of strings"
            )

    def build(ctx: StageContext) -> Any:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        rows = [{"prompt": [{"role": "user", "content": p}],
                 "completion": [{"role": "assistant", "content": c}]} for p, c in records]
        config = SFTConfig(**trainer_arguments(settings, ctx.scratch),
                           max_length=settings.max_length, completion_only_loss=True,
                           packing=False)
        return SFTTrainer(model=ctx.model, args=config, train_dataset=Dataset.from_list(rows),
                          processing_class=ctx.tokenizer)

    summary = {"n_records": len(records), "n_samples": len(records),
               "inputs_sha256": _digest([list(r) for r in records])}
    return run_stage("sft", model_dir, out_dir, settings, build, summary,
                     algorithm="SFT, completion-only loss (TRL SFTTrainer)")


# --------------------------------------------------------------------------------------------
# Shared machinery.


@dataclass
class StageContext:
    """What a stage's trainer factory gets: the loaded model and tokenizer, a scratch folder."""

    model: Any
    tokenizer: Any
    scratch: Path
    memo: Any = None  # LowerMemo shared by every model of the stage (None: off)

    def reuse_lower(self, other: Any) -> None:
        """Serve ``other``'s frozen lower layers from this stage's memo (reference, reward)."""
        from progalign.training.lowermemo import install

        if self.memo is not None:
            try:
                install(other, self.memo)
            except ValueError as exc:  # other lower weights, or trainable ones: plain forward
                log.info("not reusing lower-layer activations for %s: %s",
                         type(other).__name__, exc)


def check_model_dir(path: Path, role: str = "model") -> Path:
    """Return ``path`` if it holds a Hugging Face model (``config.json``), else raise.

    Raises:
        ProgalignError: naming the folder.
    """
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ProgalignError(f"{role} folder {folder} has no config.json (not a model folder)")
    return folder


def replicate(pairs: Sequence[PreferencePair], stage: str) -> list[PreferencePair]:
    """Expand each pair into ``weight`` copies (deterministic order: replicas follow the original).

    Raises:
        ProgalignError: empty input, a non-string field, or a weight that is not an integer ≥ 1.
    """
    if not pairs:
        raise ProgalignError(f"{stage}: no preference pairs to train on (skip this update)")
    out: list[PreferencePair] = []
    for number, pair in enumerate(pairs, start=1):
        if not all(isinstance(x, str) for x in (pair.prompt, pair.chosen, pair.rejected)):
            raise ProgalignError(
                f"{stage}: pair {number} has a prompt/chosen/rejected that is not text"
            )
        if isinstance(pair.weight, bool) or not isinstance(pair.weight, int) or pair.weight < 1:
            raise ProgalignError(
                f"{stage}: pair {number} has weight {pair.weight!r}; need an integer ≥ 1 "
                "(the number of replications)"
            )
        out.extend([pair] * pair.weight)
    return out


def pairs_summary(
    pairs: Sequence[PreferencePair], samples: Sequence[PreferencePair]
) -> dict[str, Any]:
    """Counts and a content hash of the pairs, for ``training.json``."""
    return {
        "n_pairs": len(pairs),
        "n_samples": len(samples),
        "inputs_sha256": _digest([dataclasses.asdict(p) for p in pairs]),
    }


def preference_rows(samples: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """TRL conversational preference rows (explicit prompt)."""
    return [{"prompt": [{"role": "user", "content": s.prompt}],
             "chosen": [{"role": "assistant", "content": s.chosen}],
             "rejected": [{"role": "assistant", "content": s.rejected}]} for s in samples]


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def on_gpu() -> bool:
    """Whether training runs on a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def trainer_arguments(settings: TrainSettings, scratch: Path) -> dict[str, Any]:
    """Keyword arguments common to every TRL config (``TrainingArguments`` fields)."""
    import torch

    gpu = on_gpu()
    return {
        "output_dir": str(scratch),
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "lr_scheduler_type": settings.lr_scheduler,
        "lr_scheduler_kwargs": dict(settings.lr_scheduler_kwargs or {}),
        "warmup_steps": settings.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "use_cpu": not gpu,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        "activation_checkpointing": False,  # small models; keeps runs simple and deterministic
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_strategy": "steps",
        "logging_steps": 1,
        "report_to": "none",
        "dataloader_num_workers": 0,
    }


def load_tokenizer(model_dir: Path) -> Any:
    """Load the tokenizer; it must have a chat template (conversational data)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.chat_template is None:
        raise ProgalignError(f"{model_dir}: the tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: Path) -> Any:
    """Load a causal LM with float32 (master) weights; the trainer autocasts to bf16 on a GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)


@contextmanager
def _timer(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(time.perf_counter() - start, 3)


def _lower_memo(model: Any, top_k: int | None, disk: bool) -> tuple[Any, Callable[[], None]]:
    """Install the frozen-lower-layer memo when only the top layers train (else a no-op).

    ``disk`` shares activations across jobs: right for fixed texts (preference pairs, answers),
    wasteful for freshly sampled ones (RLOO completions).
    """
    from progalign.backends.split import _layers
    from progalign.training.lowermemo import (
        enabled,
        install,
        memo_for,
        score_labelled_positions_only,
    )

    score_labelled_positions_only()
    if top_k is None or not enabled() or top_k >= len(_layers(model)):
        return None, lambda: None
    memo = memo_for(model, len(_layers(model)) - top_k, disk=disk)
    return memo, install(model, memo)


def run_stage(
    stage: str,
    model_dir: Path,
    out_dir: Path,
    settings: TrainSettings,
    build: Callable[[StageContext], Any],
    summary: dict[str, Any],
    *,
    algorithm: str,
    load_model: Callable[[Path], Any] = load_causal_lm,
    prepare: Callable[[Any], dict[str, int]] | None = None,
    inputs: dict[str, Path] | None = None,
    deviations: Sequence[str] = (),
) -> dict[str, Any]:
    """Load, train with the trainer ``build`` returns, and write the output folder atomically.

    Args:
        stage: Short stage name (``dpo``, ``reward``, ``rloo``, ``sft``).
        model_dir: Starting model folder.
        out_dir: Final output folder.
        settings: Hyper-parameters.
        build: Makes the TRL trainer from a :class:`StageContext`.
        summary: Stage-specific counts merged into the record.
        algorithm: Human-readable description recorded in ``training.json``.
        load_model: Loads the model to train (default: causal LM in float32).
        prepare: Freezes parameters; default :func:`freeze_below_top` with ``top_k_layers``.
        inputs: Further input models, identified in the record by name.
        deviations: Documented departures from upstream, recorded verbatim.

    Returns:
        The record written to ``out_dir/training.json``.
    """
    from transformers import set_seed

    from progalign.backends.identity import model_identity
    from progalign.provenance import device_description, provenance
    from progalign.training.hislm import freeze_below_top

    started = time.perf_counter()
    model_dir = check_model_dir(model_dir)
    timings: dict[str, float] = {}
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        with _timer(timings, "load_s"):
            set_seed(settings.seed)
            tokenizer = load_tokenizer(model_dir)
            model = load_model(model_dir)
            counts = (prepare or (lambda m: freeze_below_top(m, settings.top_k_layers)))(model)
            memo, undo = _lower_memo(model, settings.top_k_layers, disk=stage != "rloo")
        scratch = tmp / ".trainer"
        scratch.mkdir()
        with _timer(timings, "train_s"):
            trainer = build(StageContext(model, tokenizer, scratch, memo))
            result = trainer.train()
        undo()
        shutil.rmtree(scratch, ignore_errors=True)
        with _timer(timings, "save_s"):
            trained = trainer.accelerator.unwrap_model(trainer.model)
            trained.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        history = [
            {k: v for k, v in row.items() if isinstance(v, int | float)}
            for row in trainer.state.log_history
        ]
        timings["total_s"] = round(time.perf_counter() - started, 3)
        record: dict[str, Any] = {
            "stage": stage,
            "algorithm": algorithm,
            "model": model_identity(str(model_dir)),
            "inputs": {k: model_identity(str(v)) for k, v in (inputs or {}).items()},
            "settings": dataclasses.asdict(settings),
            **summary,
            "parameters": counts,
            "lower_layers": None if memo is None else {"reused_below": memo.depth, **memo.stats},
            "train_loss": result.training_loss,
            "steps": trainer.state.global_step,
            "history": history,
            "deviations": list(deviations),
            "timings": timings,
            "provenance": provenance(
                command=f"train-{stage}",
                device=device_description("cuda" if on_gpu() else "cpu"),
            ),
        }
        write_json(tmp / TRAINING_FILE, record)
    log.info("%s: trained %s in %.1f s (%d steps, loss %.4f)", stage, out, timings["total_s"],
             record["steps"], record["train_loss"])
    return record
