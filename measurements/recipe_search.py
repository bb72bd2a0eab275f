"""Search a CPU recipe under which the embedded century models differ (docs/statistics.md).

For one recipe (layers trained, tokens per century, epochs, learning rate) this trains the
embedded family's models for the given centuries with ``progalign train-hislm``, evaluates each on
the full paper-era questionnaire with ``progalign values`` (default small-model scoring), and
compares the first and the last century by a paired bootstrap over items: the number of the 19
dimensions whose 95% interval of the difference excludes 0. With every corpus century it also
computes the held-out perplexity matrix and counts the centuries whose own model is the most
at home on their text (the "diagonal"). Every measured row is appended to ``<work>/curve.csv``.

Usage (one recipe; the corpus is built once under ``<work>/corpus``)::

    python measurements/recipe_search.py --work /tmp/recipes --name k4-32k \\
        --top-k-layers 4 --max-tokens 32768 --epochs 2 --learning-rate 5e-4 [--all-centuries]

Training CPU time is the children's user + system time of the ``train-hislm`` processes;
"family" times scale the measured centuries to all seven.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ALL = ["C014", "C016", "C017", "C018", "C019", "C020", "C021"]
LAYERS = 30  # SmolLM2-135M decoder layers


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], log: Path) -> float:
    """Run a progalign command, its output in ``log``; return its CPU seconds."""
    before = _cpu()
    with log.open("w") as handle:
        subprocess.run(argv, check=True, stdout=handle, stderr=subprocess.STDOUT)
    return _cpu() - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--top-k-layers", type=int, required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--epochs", type=float, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--all-centuries", action="store_true")
    parser.add_argument("--control", action="store_true",
                        help="also train the last century with another seed and count the "
                        "dimensions separating the two seeds (training noise, not history)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    exe = str(Path(sys.executable).parent / "progalign")
    repo = Path(__file__).resolve().parents[1]
    work = args.work
    corpus = work / "corpus"
    if not (corpus / "C021.jsonl").is_file():
        work.mkdir(parents=True, exist_ok=True)
        _run([exe, "corpus", "build-embedded", "--out", str(corpus)], work / "corpus.log")
    out = work / args.name
    out.mkdir(parents=True, exist_ok=True)
    centuries = ALL if args.all_centuries else [ALL[0], ALL[-1]]
    lower = LAYERS - args.top_k_layers
    train_cpu: dict[str, float] = {}
    started = time.time()
    for century in centuries:
        model = out / "models" / century
        if not model.is_dir():
            train_cpu[century] = _run(
                [exe, "train-hislm", "--base", "embedded",
                 "--corpus", str(corpus / f"{century}.jsonl"),
                 "--config", str(repo / "configs/hislm/embedded.yaml"),
                 "--top-k-layers", str(args.top_k_layers), "--max-tokens", str(args.max_tokens),
                 "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
                 "--out", str(model)], out / f"train-{century}.log")
        values = out / "values" / f"{century}.json"
        if not values.is_file():
            values.parent.mkdir(exist_ok=True)
            _run([exe, "values", "--model", str(model), "--lower-cache-layers", str(lower),
                  "--bootstrap", "0", "--threads", str(args.threads), "--out", str(values)],
                 out / f"values-{century}.log")
    if args.control:
        control = out / "models" / f"{ALL[-1]}-seed1"
        if not control.is_dir():
            _run([exe, "train-hislm", "--base", "embedded",
                  "--corpus", str(corpus / f"{ALL[-1]}.jsonl"),
                  "--config", str(repo / "configs/hislm/embedded.yaml"),
                  "--top-k-layers", str(args.top_k_layers), "--max-tokens", str(args.max_tokens),
                  "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
                  "--seed", "1", "--out", str(control)], out / "train-control.log")
        values = out / "values" / f"{ALL[-1]}-seed1.json"
        if not values.is_file():
            _run([exe, "values", "--model", str(control), "--lower-cache-layers", str(lower),
                  "--bootstrap", "0", "--threads", str(args.threads), "--no-calibration",
                  "--out", str(values)], out / "values-control.log")
    train_wall = time.time() - started

    from progalign.benchmark.bootstrap import item_data, paired_difference
    from progalign.download import cache_dir
    from progalign.questionnaire.store import load_questionnaire

    q = load_questionnaire(cache_dir() / "questionnaire" / "paper-2024")
    results = {c: json.loads((out / "values" / f"{c}.json").read_text()) for c in centuries}
    seed_noise, seed_size = None, None
    if args.control:
        other = json.loads((out / "values" / f"{ALL[-1]}-seed1.json").read_text())
        noise = paired_difference(q.items, item_data(q.items, results[ALL[-1]]),
                                  item_data(q.items, other))
        seed_noise = int(noise.separable.sum())
        seed_size = float(abs(noise.difference).mean())
    first, last = item_data(q.items, results[ALL[0]]), item_data(q.items, results[ALL[-1]])
    diff = paired_difference(q.items, first, last, samples=1000, seed=0)
    significant = int(diff.separable.sum())
    adjacent = {}
    if args.all_centuries:
        for a, b in itertools.pairwise(ALL):
            d = paired_difference(q.items, item_data(q.items, results[a]),
                                  item_data(q.items, results[b]), samples=1000, seed=0)
            adjacent[f"{a}-{b}"] = int(d.separable.sum())
    diagonal = None
    if args.all_centuries:
        ppl = out / "perplexity.csv"
        if not ppl.is_file():
            models = [a for c in ALL for a in ("--model", f"{c}={out}/models/{c}")]
            _run([exe, "perplexity", *models, "--corpus", str(corpus / "heldout"),
                  "--out", str(ppl)], out / "perplexity.log")
        with ppl.open() as handle:
            rows = list(csv.DictReader(handle))
        diagonal = _diagonal(rows)
    measured = [c for c in centuries if c in train_cpu]
    per_century = sum(train_cpu.values()) / len(measured) if measured else float("nan")
    row = {
        "recipe": args.name, "top_k_layers": args.top_k_layers, "max_tokens": args.max_tokens,
        "epochs": args.epochs, "learning_rate": args.learning_rate,
        "train_cpu_s_per_century": round(per_century, 1),
        "family_train_cpu_s": round(per_century * len(ALL), 1),
        "significant_dims_C014_C021": significant,
        "significant_dims_C021_seed0_seed1": "" if seed_noise is None else seed_noise,
        "mean_abs_diff_C014_C021": round(float(abs(diff.difference).mean()), 7),
        "mean_abs_diff_C021_seeds": "" if seed_size is None else round(seed_size, 7),
        "calibration_C014": results[ALL[0]].get("calibration", {}).get("share_moral"),
        "calibration_C021": results[ALL[-1]].get("calibration", {}).get("share_moral"),
        "adjacent_significant": json.dumps(adjacent) if adjacent else "",
        "perplexity_diagonal": "" if diagonal is None else diagonal,
        "wall_s": round(train_wall, 1),
    }
    curve = work / "curve.csv"
    rows = list(csv.DictReader(curve.open())) if curve.is_file() else []
    fields = list(dict.fromkeys([*(rows[0] if rows else {}), *row]))
    with curve.open("w", newline="") as handle:  # rewritten whole: columns may have grown
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows([*rows, row])
    (out / "paired.json").write_text(json.dumps(
        {"difference": diff.difference.tolist(), "low": diff.low.tolist(),
         "high": diff.high.tolist(), "adjacent": adjacent}, indent=1))
    print(json.dumps(row))
    return 0


def _diagonal(rows: list[dict[str, str]]) -> int:
    """Centuries whose held-out text is best predicted (lowest perplexity) by their own model."""
    table = {r["model"]: {k: float(v) for k, v in r.items() if k != "model"} for r in rows}
    held = 0
    for century in ALL:
        column = {m: row[century] for m, row in table.items() if century in row}
        held += min(column, key=lambda m: column[m]) == century
    return held


if __name__ == "__main__":
    raise SystemExit(main())
