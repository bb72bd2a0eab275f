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

This module gathers them (and the settings and pair types of :mod:`progalign.training.stage`,
which every trainer imports) in one place; it imports the trainers, never the other way round.
Each function loads its starting model from a local Hugging Face folder, trains in float32
master weights (bf16 autocast on a GPU that supports it), and writes a plain HF folder (weights
as safetensors + tokenizer) plus ``training.json`` (metrics, settings, input identities,
provenance) atomically, through :func:`progalign.training.stage.run_stage`: everything is built
in a hidden sibling of ``out_dir`` and moved into place with ``os.replace`` only when complete,
so a failed or killed job leaves no ``out_dir``. On CPU, equal inputs and seed give
bit-identical weights.

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

from progalign.settings import UPSTREAM_SETTINGS, TrainSettings
from progalign.training.dpo import train_dpo
from progalign.training.reward import train_reward_model
from progalign.training.rloo import train_rloo
from progalign.training.sft import train_sft_pairs
from progalign.training.stage import TRAINING_FILE, PreferencePair, replicate

__all__ = [
    "TRAINING_FILE",
    "UPSTREAM_SETTINGS",
    "PreferencePair",
    "TrainSettings",
    "replicate",
    "train_dpo",
    "train_reward_model",
    "train_rloo",
    "train_sft_pairs",
]
