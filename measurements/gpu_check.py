"""The parts of measurements/gpu_check.sh (run it, not this file; see measurements/RESULTS.md).

    python measurements/gpu_check.py env|backend|vllm|train|two-process OUT_DIR

Each part writes ``OUT_DIR/<part>.json`` with ``status`` ``ok``, ``skipped`` (a library it needs
is not installed, or not enough GPUs; ``reason`` says which) or ``failed`` (``error``), and
prints one summary line. Nothing is downloaded: the model is a tiny random Llama built here.
``PROGALIGN_GPU_CHECK_DEVICE=cpu`` runs every part on the CPU (the test of this script);
``PROGALIGN_GPU_CHECK_TWO_PROCESS=1`` runs the 2-process part with fewer than 2 GPUs (on the
CPU with gloo when the device is ``cpu``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEVICE = os.environ.get("PROGALIGN_GPU_CHECK_DEVICE", "cuda")
FORCE_TWO = os.environ.get("PROGALIGN_GPU_CHECK_TWO_PROCESS") == "1"
LIBRARIES = ("torch", "transformers", "tokenizers", "trl", "accelerate", "datasets", "peft")
LIBRARIES += ("deepspeed", "vllm", "pydantic", "numpy")
TRAIN_NEEDS = ("trl", "datasets", "accelerate", "pydantic", "yaml")
PAIRS = 4  # DPO pairs and SFT records: one optimiser step at batch size PAIRS


class Skip(Exception):
    """The part cannot run here (reason in the message); not a failure."""


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device() -> str:
    import torch

    if DEVICE == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            "set PROGALIGN_GPU_CHECK_DEVICE=cpu to check the script itself"
        )
    return "cuda"


def _tiny(out: Path, name: str = "tiny", hidden_size: int = 128, num_heads: int = 4) -> Path:
    from progalign.models.tiny import build_tiny_model

    folder = out / "work" / name
    if not (folder / "config.json").is_file():
        build_tiny_model(folder, seed=0, hidden_size=hidden_size, num_layers=4, num_heads=num_heads)
    return folder


def part_env(out: Path) -> dict[str, Any]:
    """Versions, devices and the driver."""
    import torch

    smi = shutil.which("nvidia-smi")
    query = [smi or "", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    return {
        "python": sys.version.split()[0],
        "libraries": {name: _version(name) for name in LIBRARIES},
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "nvidia_smi": subprocess.run(query, capture_output=True, text=True).stdout.strip()
        if smi
        else None,
        "device_checked": DEVICE,
    }


def _requests() -> list[Any]:
    from progalign.backends.base import LLRequest
    from progalign.models.tiny import builtin_sentences

    sentences = [s for s in builtin_sentences() if len(s.split()) >= 4][:40]
    rows = []
    for i in range(0, len(sentences) - 3, 2):
        question = f"Which of these would you rather read next?\n\n{sentences[i]}"
        options = (sentences[i + 1], sentences[i + 2], sentences[i + 3])
        rows.append((question, options))
    return [LLRequest(q, tuple(f" {o}" for o in opts)) for q, opts in rows] + [
        LLRequest(q, (" A", " B", " C")) for q, _ in rows
    ]


def _scores(model: Path, device: str, dtype: str, requests: list[Any]) -> tuple[list, float]:
    from progalign.backends.hf import HFBackend

    return _score(HFBackend(str(model), device=device, dtype=dtype, batch_size=8), requests)


def _score(backend: Any, requests: list[Any]) -> tuple[list, float]:
    contexts = [backend.format_prompt(r.context, "", "chat") for r in requests]
    formatted = [type(r)(c, r.continuations) for r, c in zip(requests, contexts, strict=True)]
    start = time.perf_counter()
    scores = backend.loglikelihood(formatted)
    return scores, time.perf_counter() - start


def _agreement(test: list, reference: list) -> dict[str, Any]:
    rows = zip(test, reference, strict=True)
    pairs = [(t, r) for tr, rr in rows for t, r in zip(tr, rr, strict=True)]
    sums = [abs(t.logprob - r.logprob) for t, r in pairs]
    means = [abs(t.mean_logprob - r.mean_logprob) for t, r in pairs]

    def argmax(row: list) -> int:
        return max(range(len(row)), key=lambda i: row[i].logprob)

    def probs(row: list) -> list[float]:
        top = max(s.logprob for s in row)
        weights = [math.exp(s.logprob - top) for s in row]
        return [w / sum(weights) for w in weights]

    same = sum(argmax(t) == argmax(r) for t, r in zip(test, reference, strict=True))
    prob_diff = max(
        abs(a - b)
        for t, r in zip(test, reference, strict=True)
        for a, b in zip(probs(t), probs(r), strict=True)
    )
    return {
        "requests": len(reference),
        "continuations": len(pairs),
        "max_abs_logprob_diff": max(sums),
        "mean_abs_logprob_diff": sum(sums) / len(sums),
        "max_abs_mean_logprob_diff": max(means),
        "max_abs_choice_probability_diff": prob_diff,
        "argmax_agreement": f"{same}/{len(reference)}",
    }


def part_backend(out: Path) -> dict[str, Any]:
    """The HF backend in bf16 (and fp32) on the device against fp32 on the CPU."""
    if missing := _missing(("torch", "transformers", "tokenizers", "tqdm")):
        raise Skip(f"missing {', '.join(missing)}")
    device, model, requests = _device(), _tiny(out), _requests()
    reference, cpu_s = _scores(model, "cpu", "float32", requests)
    bf16, bf16_s = _scores(model, device, "bfloat16", requests)
    fp32, fp32_s = _scores(model, device, "float32", requests)
    return {
        "model": "tiny random Llama (hidden 128, 4 layers, vocab 512, seed 0)",
        "reference": "float32 on cpu",
        f"bfloat16 on {device}": _agreement(bf16, reference),
        f"float32 on {device}": _agreement(fp32, reference),
        "seconds": {
            "reference": cpu_s,
            f"bfloat16 on {device}": bf16_s,
            f"float32 on {device}": fp32_s,
        },
    }


def part_vllm(out: Path) -> dict[str, Any]:
    """progalign's vLLM backend in bf16 against the HF backend in fp32 on the CPU."""
    if _missing(("vllm",)):
        raise Skip("vLLM is not installed (it is in the GPU image, containers/Dockerfile)")
    if DEVICE == "cpu":
        raise Skip("vLLM runs on CUDA only")
    _device()
    from progalign.backends.vllm import VLLMBackend

    # head dim 128 (hidden 256, 2 heads): a size every vLLM attention backend supports
    model, requests = _tiny(out, "tiny-vllm", hidden_size=256, num_heads=2), _requests()
    reference, cpu_s = _scores(model, "cpu", "float32", requests)
    start = time.perf_counter()
    backend = VLLMBackend(str(model), dtype="bfloat16", tensor_parallel_size=1,
                          gpu_memory_utilization=0.3)  # fmt: skip
    load_s = time.perf_counter() - start
    scores, vllm_s = _score(backend, requests)
    return {
        "model": "tiny random Llama (hidden 256, 2 heads, 4 layers, vocab 512, seed 0)",
        "versions": {name: _version(name) for name in ("vllm", "transformers", "torch")},
        "bfloat16 vllm vs float32 hf on cpu": _agreement(scores, reference),
        "seconds": {"reference": cpu_s, "vllm load": load_s, "vllm scoring": vllm_s},
    }


def _pairs() -> tuple[list[Any], list[tuple[str, str]]]:
    from progalign.training.stage import PreferencePair

    prompts = [f"Question {i}: is honesty a virtue?" for i in range(PAIRS)]
    pairs = [PreferencePair(p, "Yes, it is.", "No, never.") for p in prompts]
    return pairs, [(p, "Yes, it is.") for p in prompts]


def _weights_delta(before: Path, after: Path) -> float:
    from safetensors.torch import load_file

    a, b = load_file(str(before / "model.safetensors")), load_file(str(after / "model.safetensors"))
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _train(out: Path, name: str, run: Callable[[Path, Path], dict[str, Any]]) -> dict[str, Any]:
    model, dest = _tiny(out), out / "work" / name
    start = time.perf_counter()
    record = run(model, dest)
    loss = record.get("train_loss", record.get("metrics", {}).get("train_loss"))
    return {
        "seconds": time.perf_counter() - start,
        "train_loss": loss,
        "max_abs_weight_change": _weights_delta(model, dest),
        "optimiser_steps": record.get("steps"),
        "recorded_device": record.get("provenance", {}).get("device"),
    }


def part_train(out: Path) -> dict[str, Any]:
    """One DPO step and one SFT step through progalign's training stages."""
    if missing := _missing(TRAIN_NEEDS):
        raise Skip(f"missing {', '.join(missing)} (progalign's training stages need them)")
    device = _device()
    import torch

    from progalign.settings import TrainSettings
    from progalign.training.dpo import train_dpo
    from progalign.training.sft import train_sft_pairs

    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the trainers pick CUDA whenever they see it
    pairs, records = _pairs()
    settings = TrainSettings(learning_rate=1e-3, epochs=1, batch_size=PAIRS, sft_weight=0.04)
    return {
        "device": device,
        "bf16": device == "cuda" and torch.cuda.is_bf16_supported(),
        "dpo": _train(out, "dpo", lambda m, d: train_dpo(m, pairs, d, settings)),
        "sft": _train(out, "sft", lambda m, d: train_sft_pairs(m, records, d, settings)),
    }


def part_two_process(out: Path) -> dict[str, Any]:
    """The same DPO step as 2 processes of batch PAIRS/2 under accelerate (DDP)."""
    if missing := _missing(TRAIN_NEEDS):
        raise Skip(f"missing {', '.join(missing)}")
    import torch

    gpus = torch.cuda.device_count() if DEVICE != "cpu" else 0
    if gpus < 2 and not FORCE_TWO:
        raise Skip(f"{gpus} GPU(s) here; the 2-process run needs 2")
    if importlib.util.find_spec("progalign.training.launch") is None:
        raise Skip("this checkout has no progalign.training.launch")
    from progalign.settings import TrainSettings
    from progalign.training.dpo import train_dpo
    from progalign.training.launch import launching

    if DEVICE == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # DDP over gloo on the CPU
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    launch = (
        "accelerate launch --config_file configs/accelerate/ddp.yaml --num_machines 1"
        f" --num_processes 2 --main_process_port {port}"
    )
    pairs, _ = _pairs()
    settings = TrainSettings(learning_rate=1e-3, epochs=1, batch_size=PAIRS // 2, sft_weight=0.04)
    model, dest = _tiny(out), out / "work" / "dpo-2proc"
    start = time.perf_counter()
    with launching(launch):
        train_dpo(model, pairs, dest, settings)
    single = out / "work" / "dpo"
    record = json.loads((dest / "training.json").read_text(encoding="utf-8"))
    result: dict[str, Any] = {
        "launch": launch,
        "seconds": time.perf_counter() - start,
        "optimiser_steps": record.get("steps"),
        "train_loss": record.get("train_loss"),
    }
    if (single / "model.safetensors").is_file():
        result["max_abs_weight_diff_vs_1_process"] = _weights_delta(single, dest)
    return result


PARTS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "env": part_env,
    "backend": part_backend,
    "vllm": part_vllm,
    "train": part_train,
    "two-process": part_two_process,
}


def main(argv: list[str]) -> int:
    """Run one part; exit 0 unless it failed."""
    name, out = argv[0], Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = {"status": "ok", **PARTS[name](out)}
    except Skip as exc:
        result = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # a failed part is reported; the others still run
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        traceback.print_exc()
    text = json.dumps({"part": name, **result}, indent=2, default=str)
    (out / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if result["status"] == "failed" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
