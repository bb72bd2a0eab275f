"""Value-evaluation throughput: progalign's HF backend vs EleutherAI lm-eval's ``HFLM``.

Run by hand in the bench environment (``bash benchmarks/setup-bench.sh`` creates
``.venv-bench``: the project's pins plus lm-eval), not in CI; record results in
benchmarks/RESULTS.md. Every scorer gets the SAME requests, built as ``progalign values`` builds
them (questionnaire items -> ``build_prompts`` -> ``candidates``, chat template, option-text
scoring), on the same model and thread count, in one process, so the ratios are meaningful on a
noisy machine:

- progalign ``HFBackend.loglikelihood`` (shared prefix + shared context, batched);
- lm-eval ``HFLM.loglikelihood`` on one ``Instance`` per (context, continuation) pair, the way
  an lm-eval task asks; lm-eval moves the context's trailing whitespace (the chat template's
  final newline) into the continuation, so it scores one token more per pair;
- lm-eval ``HFLM._loglikelihood_tokens`` on progalign's own token split (identical tokens):
  the like-for-like agreement check, and lm-eval's scorer without its string handling;
- progalign ``loglikelihood_naive``: one full forward per (prompt, option), on a sample.

    .venv-bench/bin/python benchmarks/lm_eval_compare.py --items 8 --naive-prompts 24
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

from progalign.backends.base import LLRequest
from progalign.backends.hf import HFBackend
from progalign.evaluation.prompts import build_prompts, candidates
from progalign.evaluation.templates import load_templates
from progalign.models.resolve import resolve_model
from progalign.questionnaire.fetch import build_questionnaire, load_questionnaire


def build_requests(backend: HFBackend, n_items: int, protocol: str) -> list[LLRequest]:
    """The first ``n_items`` items of each group, cyclic orders, option-text continuations."""
    from progalign.download import cache_dir

    qdir = cache_dir() / "questionnaire" / protocol
    if not (qdir / "items.jsonl").exists():
        build_questionnaire(protocol, qdir)
    questionnaire = load_questionnaire(qdir)
    templates = load_templates(questionnaire.templates_dir)
    seen: dict[str, int] = {}
    items = []
    for item in questionnaire.items:
        seen[item.group] = seen.get(item.group, 0) + 1
        if seen[item.group] <= n_items:
            items.append(item)
    return [
        LLRequest(backend.format_prompt(p.instruction, p.input, "chat"),
                  candidates(p, templates.questions[p.qtype], "texts"))
        for p in build_prompts(items, templates, "cyclic")
    ]


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Return ``fn(*args, **kwargs)`` and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def lm_eval_model(model: str, batch_size: int) -> Any:
    """lm-eval's HF model class on CPU in float32 (as progalign's backend runs here)."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model, backend="causal", device="cpu", dtype="float32",
                batch_size=batch_size)


def main() -> None:
    """Run the comparison and print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--items", type=int, default=8, help="items per group")
    parser.add_argument("--naive-prompts", type=int, default=24, help="naive loop sample size")
    parser.add_argument("--protocol", default="paper-2024")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import lm_eval
    from lm_eval.api.instance import Instance

    torch.set_num_threads(args.threads)
    model = resolve_model(args.model)
    ours = HFBackend(model, device="cpu", dtype="float32", batch_size=args.batch_size,
                     threads=args.threads)
    theirs = lm_eval_model(model, args.batch_size)
    torch.set_num_threads(args.threads)  # whatever the libraries did on load
    requests = build_requests(ours, args.items, args.protocol)
    pairs = [(r.context, c) for r in requests for c in r.continuations]
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    tokenized = [ours.tokenize_request(r) for r in requests]
    token_requests = [((r.context, c), t.context, cont)
                      for r, t in zip(requests, tokenized, strict=True)
                      for c, cont in zip(r.continuations, t.continuations, strict=True)]

    # warm-up (first-call allocations, lazy imports) on a few requests, untimed
    ours.loglikelihood(requests[:4])
    theirs.loglikelihood(instances[:8], disable_tqdm=True)

    scored, t_ours = timed(ours.loglikelihood, requests)
    lm_strings, t_strings = timed(theirs.loglikelihood, instances, disable_tqdm=True)
    lm_tokens, t_tokens = timed(theirs._loglikelihood_tokens, token_requests, disable_tqdm=True)
    sample = requests[: args.naive_prompts]
    naive, t_naive = timed(ours.loglikelihood_naive, sample)

    flat = [s.logprob for row in scored for s in row]
    diff_tokens = max(abs(a - b[0]) for a, b in zip(flat, lm_tokens, strict=True))
    shift = [b[0] - a for a, b in zip(flat, lm_strings, strict=True)]
    naive_flat = [s.logprob for row in naive for s in row]
    diff_naive = max(abs(a - b) for a, b in zip(flat, naive_flat, strict=False))
    n_ctx = sum(len(t.context) for t in tokenized)
    n_cont = sum(len(c) for t in tokenized for c in t.continuations)
    rate = {
        "progalign HFBackend.loglikelihood": len(requests) / t_ours,
        "lm-eval HFLM.loglikelihood (Instances)": len(requests) / t_strings,
        "lm-eval HFLM._loglikelihood_tokens (same tokens)": len(requests) / t_tokens,
        "naive one forward per (prompt, option)": len(sample) / t_naive,
    }
    base = rate["progalign HFBackend.loglikelihood"]
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                   f"torch threads, torch {torch.__version__}",
        "lm_eval": lm_eval.__version__,
        "model": model,
        "prompts": len(requests),
        "pairs": len(pairs),
        "mean_context_tokens": round(n_ctx / len(requests), 1),
        "mean_continuation_tokens": round(n_cont / len(pairs), 1),
        "batch_size": args.batch_size,
        "seconds": {"progalign": round(t_ours, 2), "lm_eval_instances": round(t_strings, 2),
                    "lm_eval_tokens": round(t_tokens, 2), "naive_sample": round(t_naive, 2)},
        "prompts_per_s": {k: round(v, 3) for k, v in rate.items()},
        "progalign_speedup": {k: round(base / v, 2) for k, v in rate.items()},
        "max_abs_diff_vs_lm_eval_same_tokens": diff_tokens,
        "max_abs_diff_vs_naive": diff_naive,
        "lm_eval_instances_minus_progalign": {
            "note": "lm-eval scores the chat template's final newline as part of the answer",
            "min": min(shift), "max": max(shift), "mean": sum(shift) / len(shift)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
