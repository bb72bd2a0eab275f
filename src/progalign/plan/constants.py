"""Every constant of the resource plan, stated once (docs/resources.md explains each).

Bytes are per parameter or per token; GB are 1e9 bytes.
"""

from __future__ import annotations

#: Bytes in a GB (decimal, as GPU vendors state memory).
GB = 1e9
#: bf16 / fp32 bytes.
BF16 = 2
FP32 = 4

#: Per trainable parameter, per engine: (term, bytes, sharded over the ranks). DeepSpeed keeps
#: bf16 weights and gradients and an fp32 master copy plus Adam's two fp32 moments (the ZeRO
#: paper's 2 + 2 + 12 = 16 bytes); single/DDP/FSDP hold fp32 weights under autocast (the
#: trainer loads fp32 master weights) with fp32 gradients and Adam: 4 + 4 + 8 = 16 bytes.
TRAINABLE_BYTES: dict[str, tuple[tuple[str, int, bool], ...]] = {
    "single": (("weights", FP32, False), ("gradients", FP32, False), ("adam", 2 * FP32, False)),
    "ddp": (("weights", FP32, False), ("gradients", FP32, False), ("adam", 2 * FP32, False)),
    "fsdp": (("weights", FP32, True), ("gradients", FP32, True), ("adam", 2 * FP32, True)),
    "zero2": (
        ("weights", BF16, False),
        ("gradients", BF16, True),
        ("master", FP32, True),
        ("adam", 2 * FP32, True),
    ),
    "zero3": (
        ("weights", BF16, True),
        ("gradients", BF16, True),
        ("master", FP32, True),
        ("adam", 2 * FP32, True),
    ),
}
#: Per frozen parameter (DPO/RLOO reference, RLOO reward model), per engine: (bytes, sharded).
#: DeepSpeed runs them in bf16 (TRL prepares them as ZeRO-3 when training is ZeRO-3, else
#: unsharded); FSDP wraps them sharded in fp32; single/DDP keep the fp32 copy the trainer loads.
FROZEN_BYTES: dict[str, tuple[int, bool]] = {
    "single": (FP32, False),
    "ddp": (FP32, False),
    "fsdp": (FP32, True),
    "zero2": (BF16, False),
    "zero3": (BF16, True),
}
#: ZeRO-3/FSDP gather a module's full bf16 weights to compute it: the one in use and the one
#: prefetched, each at most the largest module (a decoder layer or the embedding).
GATHERED_MODULES = 2

#: Activation bytes per token, per layer, per hidden unit without recomputation:
#: Korthikanti et al. 2022, eq. (1), s·b·h·(34 + 5·a·s/h) bytes per layer with 16-bit
#: activations, less the 5·a·s/h attention-score term that fused (flash / SDPA) attention
#: does not store.
ACTIVATION_BYTES = 34
#: With activation checkpointing: each layer keeps only its bf16 input (2·s·b·h), and one layer
#: at a time holds its full activations (34·s·b·h) while it is recomputed.
CHECKPOINT_BYTES = 2
#: Language-model logits: fp32 logits and their gradient over the vocabulary, per token.
LOGIT_BYTES = 2 * FP32

#: Share of a GPU's memory a training process may plan for (the rest: CUDA context, NCCL
#: buffers, allocator fragmentation).
TRAIN_USABLE = 0.9
#: vLLM's gpu_memory_utilization: the share of each GPU vLLM may take (VLLMBackend's default).
VLLM_GPU_MEMORY_UTILIZATION = 0.85
#: vLLM's memory besides weights and KV cache: activations of a forward pass, CUDA graphs,
#: sampler buffers (GB per GPU).
VLLM_OVERHEAD_GB = 2.0
#: Prompt tokens an inference sequence is sized for (upstream's cutoff_len 1024); generated
#: tokens come on top (the rule's max_new_tokens).
PROMPT_TOKENS = 1024

#: Host memory per process (Python, torch, CUDA context, data loaders), GB.
HOST_PROCESS_GB = 8.0
