"""Memory per GPU of a training stage under an engine, and of vLLM inference (bytes).

Every constant comes from :mod:`progalign.plan.constants`; docs/resources.md writes the formulas
out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from progalign.plan.architecture import Architecture
from progalign.plan.constants import (
    ACTIVATION_BYTES,
    BF16,
    CHECKPOINT_BYTES,
    FROZEN_BYTES,
    GATHERED_MODULES,
    GB,
    LOGIT_BYTES,
    TRAINABLE_BYTES,
    VLLM_OVERHEAD_GB,
)

#: Training stages: (trains a reward model, frozen models beside the policy, LM logits).
TRAINING_STAGES: dict[str, tuple[bool, tuple[str, ...], bool]] = {
    "pretrain": (False, (), True),
    "sft": (False, (), True),
    "dpo": (False, ("reference",), True),
    "reward": (True, (), False),
    "rloo": (False, ("reference", "reward model"), True),
}


@dataclass(frozen=True)
class TrainingLoad:
    """What one training process computes per micro-batch.

    Attributes:
        stage: A key of ``TRAINING_STAGES``.
        tokens: Tokens per micro-batch through the trained model (DPO and the reward model:
            chosen and rejected sequences both).
        top_k_layers: Only the top k blocks train (None: all).
        generation_tokens: RLOO only: tokens of the sequences generated at once (KV cache).
    """

    stage: str
    tokens: int
    top_k_layers: int | None = None
    generation_tokens: int = 0


def training_terms(
    arch: Architecture,
    load: TrainingLoad,
    engine: str,
    ranks: int,
    checkpointing: bool,
    gather_for_generation: bool = True,
) -> dict[str, float]:
    """Bytes per GPU of a training stage, term by term.

    Args:
        arch: The model.
        load: The stage and its micro-batch.
        engine: ``single``, ``ddp``, ``fsdp``, ``zero2`` or ``zero3``.
        ranks: Processes (one per GPU) the states are sharded over.
        checkpointing: Activation checkpointing (recompute in the backward pass).
        gather_for_generation: RLOO under ZeRO-3/FSDP: generation gathers the whole policy
            (TRL's ``ds3_gather_for_generation``); False gathers module by module.
    """
    reward, frozen, logits = TRAINING_STAGES[load.stage]
    total = arch.reward_parameters if reward else arch.parameters
    trainable = arch.trainable_parameters(load.top_k_layers, reward=reward)
    terms: dict[str, float] = {}
    for term, nbytes, sharded in TRAINABLE_BYTES[engine]:
        count = total if term == "weights" else trainable
        terms[term] = count * nbytes / (ranks if sharded else 1)
    frozen_bytes, frozen_sharded = FROZEN_BYTES[engine]
    for name in frozen:
        count = arch.reward_parameters if name == "reward model" else arch.parameters
        terms[name] = count * frozen_bytes / (ranks if frozen_sharded else 1)
    if engine in ("zero3", "fsdp"):
        largest = max(arch.layer_parameters, arch.embedding_parameters)
        terms["gathered"] = GATHERED_MODULES * largest * BF16
    layers = (
        arch.num_layers if load.top_k_layers is None else min(load.top_k_layers, arch.num_layers)
    )
    per_layer = load.tokens * arch.hidden_size
    if checkpointing:
        terms["activations"] = per_layer * (layers * CHECKPOINT_BYTES + ACTIVATION_BYTES)
    else:
        terms["activations"] = per_layer * layers * ACTIVATION_BYTES
    if logits:
        terms["logits"] = load.tokens * arch.vocab_size * LOGIT_BYTES
    if load.generation_tokens:
        terms["kv cache"] = load.generation_tokens * arch.kv_bytes_per_token(BF16)
        if engine in ("zero3", "fsdp") and gather_for_generation:
            terms["generation gather"] = arch.parameters * BF16
    return terms


def kv_heads_per_gpu(arch: Architecture, tensor_parallel: int) -> int:
    """KV heads each GPU caches: split over the ranks, replicated when fewer than ranks."""
    return max(1, math.ceil(arch.num_kv_heads / tensor_parallel))


def inference_terms(
    arch: Architecture, tensor_parallel: int, sequences: int, sequence_tokens: int
) -> dict[str, float]:
    """Bytes per GPU of inference (vLLM; the hf backend is ``tensor_parallel`` 1): bf16 weights
    split over the ranks, a KV cache holding ``sequences`` sequences of ``sequence_tokens``,
    and a fixed overhead.
    """
    per_token = 2 * arch.num_layers * kv_heads_per_gpu(arch, tensor_parallel) * arch.head_dim * BF16
    return {
        "weights": arch.parameters * BF16 / tensor_parallel,
        "kv cache": sequences * sequence_tokens * per_token,
        "overhead": VLLM_OVERHEAD_GB * GB,
    }
