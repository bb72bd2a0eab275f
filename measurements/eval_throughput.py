"""Value-evaluation throughput: progalign's batched scorer vs a naive one-prompt-at-a-time loop.

Run by hand (not in CI); record results in measurements/RESULTS.md. All variants score the same
requests in one process, so the ratios are meaningful on a noisy machine.

    .venv/bin/python measurements/eval_throughput.py --model embedded --items 24 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from progalign.backends.base import LLRequest
from progalign.backends.hf import HFBackend
from progalign.evaluation.prompts import build_prompts, candidates
from progalign.evaluation.templates import load_templates
from progalign.questionnaire.fetch import build_questionnaire, load_questionnaire


def _requests(backend: HFBackend, n_items: int, protocol: str, scoring: str) -> list[LLRequest]:
    from progalign.download import cache_dir

    qdir = cache_dir() / "questionnaire" / protocol
    if not (qdir / "items.jsonl").exists():
        build_questionnaire(protocol, qdir)
    q = load_questionnaire(qdir)
    templates = load_templates(q.templates_dir)
    by_group: dict[str, int] = {}
    items = []
    for item in q.items:  # the first n_items of each group
        by_group[item.group] = by_group.get(item.group, 0) + 1
        if by_group[item.group] <= n_items:
            items.append(item)
    prompts = build_prompts(items, templates, "cyclic")
    return [
        LLRequest(
            backend.format_prompt(p.instruction, p.input, "chat"),
            candidates(p, templates.questions[p.qtype], scoring),  # type: ignore[arg-type]
        )
        for p in prompts
    ]


def _time(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--items", type=int, default=24, help="items per group")
    parser.add_argument("--naive-prompts", type=int, default=60, help="naive loop sample size")
    parser.add_argument("--protocol", default="paper-2024")
    parser.add_argument("--scoring", default="texts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    model = args.model
    if model == "embedded":
        from progalign.models.embedded import ensure_embedded_model

        model = str(ensure_embedded_model())
    backend = HFBackend(model, device="cpu", dtype="float32", batch_size=args.batch_size,
                        threads=args.threads)
    requests = _requests(backend, args.items, args.protocol, args.scoring)
    n_tokens = sum(len(backend.encode(r.context)) for r in requests)
    shared, t_shared = _time(backend.loglikelihood, requests)
    backend.share_prefix = False
    unshared, t_unshared = _time(backend.loglikelihood, requests)
    sample = requests[: args.naive_prompts]
    naive, t_naive = _time(backend.loglikelihood_naive, sample)
    diff = max(
        abs(a.logprob - b.logprob)
        for ra, rb in zip(shared[: len(sample)], naive, strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    diff_unshared = max(
        abs(a.logprob - b.logprob)
        for ra, rb in zip(shared, unshared, strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    rate_naive = len(sample) / t_naive
    report = {
        "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}",
        "model": model,
        "prompts": len(requests),
        "mean_context_tokens": round(n_tokens / len(requests), 1),
        "prompts_per_s": {
            "progalign (shared prefix + shared context)": round(len(requests) / t_shared, 2),
            "progalign without prefix sharing": round(len(requests) / t_unshared, 2),
            "naive one forward per (prompt, option)": round(rate_naive, 2),
        },
        "speedup_vs_naive": round(len(requests) / t_shared / rate_naive, 2),
        "speedup_from_prefix_sharing": round(t_unshared / t_shared, 2),
        "max_abs_logprob_diff_vs_naive": diff,
        "max_abs_logprob_diff_shared_vs_unshared": diff_unshared,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
