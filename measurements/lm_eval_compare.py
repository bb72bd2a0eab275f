"""Value-evaluation throughput: progalign's HF backend vs EleutherAI lm-eval's ``HFLM``.

Run by hand in the bench environment (``bash measurements/setup-bench.sh`` creates
``.venv-bench``: the project's pins plus lm-eval), not in CI; record results in
measurements/RESULTS.md. Every scorer gets the SAME requests, built as ``progalign values`` builds
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

    .venv-bench/bin/python measurements/lm_eval_compare.py --items 8 --naive-prompts 24
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from collections.abc import Callable
from functools import partial
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


def timed_cpu(fn: Callable[[], Any]) -> tuple[tuple[Any, float], float]:
    """``(fn(), wall seconds)`` and the CPU seconds this process spent (all threads)."""
    cpu = time.process_time()
    out = timed(fn)
    return out, time.process_time() - cpu


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
    parser.add_argument("--chunk", type=int, default=32, help="prompts per interleaved round")
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

    # Interleaved: every chunk of prompts goes through each scorer in turn, so a change of load
    # on the shared machine hits all of them alike; wall and CPU (process) time are summed.
    spent = {k: [0.0, 0.0] for k in ("progalign", "lm_eval_instances", "lm_eval_tokens",
                                     "naive_sample")}
    scored: list[Any] = []
    lm_strings: list[Any] = []
    lm_tokens: list[Any] = []
    naive: list[Any] = []
    n_naive = 0
    per_chunk = max(1, args.naive_prompts * args.chunk // len(requests))
    for start in range(0, len(requests), args.chunk):
        chunk = requests[start : start + args.chunk]
        first = sum(len(r.continuations) for r in requests[:start])
        last = first + sum(len(r.continuations) for r in chunk)
        runs: list[tuple[str, Callable[[], Any], list[Any]]] = [
            ("progalign", partial(ours.loglikelihood, chunk), scored),
            ("lm_eval_instances",
             partial(theirs.loglikelihood, instances[first:last], disable_tqdm=True), lm_strings),
            ("lm_eval_tokens", partial(theirs._loglikelihood_tokens, token_requests[first:last],
                                       disable_tqdm=True), lm_tokens),
            ("naive_sample", partial(ours.loglikelihood_naive, chunk[:per_chunk]), naive),
        ]
        for name, run, sink in runs:
            (out, wall), cpu = timed_cpu(run)
            spent[name][0] += wall
            spent[name][1] += cpu
            sink.extend(out)
        n_naive += len(chunk[:per_chunk])
    t_ours, t_strings, t_tokens, t_naive = (spent[k][0] for k in spent)

    flat = [s.logprob for row in scored for s in row]
    diff_tokens = max(abs(a - b[0]) for a, b in zip(flat, lm_tokens, strict=True))
    shift = [b[0] - a for a, b in zip(flat, lm_strings, strict=True)]
    naive_flat = [s.logprob for row in naive for s in row]
    sampled = [s.logprob for start in range(0, len(requests), args.chunk)
               for row in scored[start : start + per_chunk] for s in row]
    diff_naive = max(abs(a - b) for a, b in zip(sampled, naive_flat, strict=True))
    n_ctx = sum(len(t.context) for t in tokenized)
    n_cont = sum(len(c) for t in tokenized for c in t.continuations)
    rate = {
        "progalign HFBackend.loglikelihood": len(requests) / t_ours,
        "lm-eval HFLM.loglikelihood (Instances)": len(requests) / t_strings,
        "lm-eval HFLM._loglikelihood_tokens (same tokens)": len(requests) / t_tokens,
        "naive one forward per (prompt, option)": n_naive / t_naive,
    }
    counts = (len(requests), len(requests), len(requests), n_naive)
    cpu_rate = {k: n / spent[name][1]
                for k, n, name in zip(rate, counts, spent, strict=True)}
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
        "naive_prompts": n_naive,
        "seconds_wall_cpu": {k: [round(w, 1), round(c, 1)] for k, (w, c) in spent.items()},
        "prompts_per_s": {k: round(v, 3) for k, v in rate.items()},
        "progalign_speedup": {k: round(base / v, 2) for k, v in rate.items()},
        "prompts_per_cpu_s": {k: round(v, 3) for k, v in cpu_rate.items()},
        "progalign_speedup_cpu": {
            k: round(cpu_rate["progalign HFBackend.loglikelihood"] / v, 2)
            for k, v in cpu_rate.items()},
        "max_abs_diff_vs_lm_eval_same_tokens": diff_tokens,
        "max_abs_diff_vs_naive": diff_naive,
        "lm_eval_instances_minus_progalign": {
            "note": "lm-eval scores the chat template's final newline as part of the answer",
            "min": min(shift), "max": max(shift), "mean": sum(shift) / len(shift)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
