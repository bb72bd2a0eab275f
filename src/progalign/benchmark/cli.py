"""Benchmark commands: ``list``, ``run``, ``preferences``, ``answers``, ``step``, ``score`` and
``tables``. ``run`` does a whole benchmark in one process; the others are the workflow's unit
jobs (one Snakemake job each)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError
from progalign.training.launch import add_launch_argument, launching
from progalign.training.memory import MemorySaving

log = logging.getLogger(__name__)


def _spec_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("benchmark set-up")
    g.add_argument(
        "--config",
        type=Path,
        action="append",
        metavar="YAML",
        help="experiment config; repeat to merge presets over it as Snakemake merges "
        "--configfile over config.yaml (default: config.yaml)",
    )
    g.add_argument("--config-json", help="the config as a JSON string (instead of --config)")
    g.add_argument(
        "--questionnaire",
        type=Path,
        required=True,
        help="questionnaire folder (from 'progalign questionnaire fetch')",
    )
    g.add_argument(
        "--models", type=Path, help="family folder with one model sub-folder per century (C0cc)"
    )
    g.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="C0cc=PATH",
        help="a century's model (repeatable; instead of --models)",
    )
    g.add_argument("--threads", type=int, help="torch threads")
    g.add_argument(
        "--tensor-parallel",
        type=int,
        help="vLLM tensor parallel size of the evaluation backend (the workflow passes the "
        "resource plan's)",
    )


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from progalign.settings import load

    if args.config_json:
        if args.config:
            raise ProgalignError("give --config or --config-json, not both")
        loaded: dict[str, Any] = json.loads(args.config_json)
        return loaded
    return load(args.config or [Path("config.yaml")])


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise ProgalignError(f"{what}: expected KEY=PATH, got {value!r}")
        out[key] = path
    return out


def _spec(args: argparse.Namespace, require_models: bool = True) -> Any:
    from progalign.benchmark.spec import spec_from_config

    if args.models and args.model:
        raise ProgalignError("give --models or --model, not both")
    models: Any = args.models or {c: Path(p) for c, p in _pairs(args.model, "--model").items()}
    if not models:
        raise ProgalignError("no historical models: give --models DIR or --model C0cc=PATH")
    return spec_from_config(
        _config(args),
        models,
        args.questionnaire,
        args.threads,
        require_models=require_models,
        tensor_parallel=args.tensor_parallel,
    )


def register(sub: Any) -> None:
    """Add the benchmark sub-commands."""
    p = sub.add_parser("list", help="list algorithms and challenges (built-ins and plug-ins)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run one algorithm on one challenge in this process")
    p.add_argument("--algorithm", required=True, help="name, entry point or module:Class")
    p.add_argument("--challenge", required=True, help="follow, predict, coevolve or a plug-in")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/interactive"),
        help="results root (resumes what is already there)",
    )
    p.add_argument(
        "--show-settings",
        action="store_true",
        help="print the resolved settings (JSON, as `snakemake results/settings.json` "
        "writes them) and exit",
    )
    _spec_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("preferences", help="elicit a model's preferences over the pool")
    p.add_argument("--human", type=Path, required=True, help="the human-proxy model folder")
    p.add_argument("--out", type=Path, required=True, help="preferences JSONL")
    _spec_args(p)
    p.set_defaults(func=cmd_preferences)

    p = sub.add_parser("answers", help="a model's answers on the pool (Coevolve SFT data)")
    p.add_argument("--human", type=Path, required=True, help="the model folder")
    p.add_argument(
        "--preferences",
        type=Path,
        required=True,
        help="its preferences JSONL (read, or written if absent)",
    )
    p.add_argument("--out", type=Path, required=True, help="answers JSONL")
    _spec_args(p)
    p.set_defaults(func=cmd_answers)

    p = sub.add_parser("step", help="one benchmark step (workflow unit job)")
    steps = p.add_subparsers(dest="step_kind", required=True, metavar="KIND")
    e = steps.add_parser("examinee", help="one examinee update")
    e.add_argument("--algorithm", required=True)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--step", type=int, required=True)
    e.add_argument("--previous", type=Path, help="previous step folder (omit at step 1)")
    e.add_argument("--feedback", type=Path, required=True, help="preferences JSONL")
    e.add_argument("--out", type=Path, required=True, help="step folder to write")
    e.add_argument(
        "--values", type=Path, help="also evaluate the updated model into this value-vector JSON"
    )
    add_launch_argument(e)
    _spec_args(e)
    e.set_defaults(func=cmd_step_examinee)
    h = steps.add_parser(
        "humans", help="a simulated-feedback challenge (PG-Coevolve): update its simulated humans"
    )
    h.add_argument(
        "--challenge",
        default="coevolve",
        help="the challenge whose simulated humans these are (default coevolve)",
    )
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--step", type=int, required=True)
    h.add_argument("--human", type=Path, required=True, help="H_{t-1} model folder")
    h.add_argument("--history-answers", type=Path, required=True, help="M_t's answers JSONL")
    h.add_argument("--examinee", type=Path, required=True, help="the examinee's model folder")
    h.add_argument("--out", type=Path, required=True, help="folder for H_t")
    h.add_argument("--values", type=Path, help="also evaluate H_t into this value-vector JSON")
    h.add_argument(
        "--elicit",
        type=Path,
        help="also elicit H_t's preferences (the next step's feedback) into this JSONL",
    )
    add_launch_argument(h)
    _spec_args(h)
    h.set_defaults(func=cmd_step_humans)

    p = sub.add_parser("score", help="score one (challenge, algorithm, seed) from value files")
    p.add_argument("--challenge", required=True)
    p.add_argument("--algorithm", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--actual", action="append", default=[], metavar="C0cc=JSON", required=True)
    p.add_argument("--examinee", action="append", default=[], metavar="STEP=JSON")
    p.add_argument(
        "--simulated",
        action="append",
        default=[],
        metavar="JSON",
        help="values of H_1, H_2, ... in order (Coevolve)",
    )
    p.add_argument(
        "--steps",
        nargs="*",
        type=Path,
        default=[],
        help="step folders (their step.json durations are recorded)",
    )
    p.add_argument("--out", type=Path, required=True)
    _spec_args(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "compare",
        help="paired difference of two models' value vectors",
        description="Per dimension, B - A with a paired 95%% bootstrap interval "
        "over the questionnaire items both were evaluated on "
        "(docs/statistics.md).",
    )
    p.add_argument("a", type=Path, help="value JSON of model A (progalign values)")
    p.add_argument("b", type=Path, help="value JSON of model B")
    p.add_argument(
        "--questionnaire",
        type=Path,
        required=True,
        help="the questionnaire folder both were evaluated on",
    )
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("tables", help="tidy CSV tables from values and score JSONs")
    p.add_argument("--family", required=True)
    p.add_argument("--values", type=Path, nargs="+", required=True, help="C0cc.json files")
    p.add_argument("--scores", type=Path, nargs="*", default=[], help="score JSON files")
    p.add_argument("--out", type=Path, required=True, help="tables folder")
    p.add_argument("--config-json", help="the run's config, recorded in provenance.json")
    p.add_argument(
        "--questionnaire",
        type=Path,
        help="the questionnaire folder: also write the per-item tables (items, "
        "item_probabilities) every vector and score can be recomputed from",
    )
    p.set_defaults(func=cmd_tables)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registered algorithms and challenges."""
    from progalign.benchmark.registry import available

    for kind, table in available().items():
        print(f"{kind}:")
        for name, path in table.items():
            print(f"  {name:<20} {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one benchmark in-process."""
    from progalign.benchmark.runner import run_benchmark, summary_line

    if args.show_settings:
        from progalign.settings import resolve

        print(json.dumps(resolve(_config(args)).to_config(), indent=2, sort_keys=True))
        return 0
    _threads(args.threads)
    result = run_benchmark(_spec(args), args.algorithm, args.challenge, args.seed, args.out)
    print(summary_line(result))
    return 0


def cmd_preferences(args: argparse.Namespace) -> int:
    """Elicit preferences of one model."""
    from progalign.benchmark.steps import preferences

    _threads(args.threads)
    preferences(_spec(args, require_models=False), args.human, args.out)
    return 0


def cmd_answers(args: argparse.Namespace) -> int:
    """A model's answers on the pool."""
    from progalign.benchmark.steps import answers

    _threads(args.threads)
    answers(_spec(args, require_models=False), args.human, args.preferences, args.out)
    return 0


def cmd_step_examinee(args: argparse.Namespace) -> int:
    """One examinee update."""
    from progalign.benchmark.registry import get_algorithm
    from progalign.benchmark.steps import examinee_step, values

    _threads(args.threads)
    spec = _spec(args, require_models=False)
    examinee = get_algorithm(args.algorithm)(**spec.params)
    # The training only (under the job's launch and memory savings); evaluation stays here.
    with launching(args.launch, MemorySaving.from_args(args)):
        out = examinee_step(
            spec, examinee, args.seed, args.step, args.previous, args.feedback, args.out
        )
    if args.values is not None:  # in this process: the model is evaluated while it exists
        values(spec, out / "model", args.values, calibrate=False)
    return 0


def cmd_step_humans(args: argparse.Namespace) -> int:
    """One update of PG-Coevolve's simulated humans."""
    from progalign.benchmark.registry import get_challenge
    from progalign.benchmark.steps import humans_step, preferences, values

    _threads(args.threads)
    spec = _spec(args, require_models=False)
    judge = get_challenge(args.challenge)(**spec.challenge_params.get(args.challenge, {}))
    # The training only (under the job's launch and memory savings); evaluation stays here.
    with launching(args.launch, MemorySaving.from_args(args)):
        out = humans_step(
            spec,
            judge,
            args.seed,
            args.step,
            args.human,
            args.history_answers,
            args.examinee,
            args.out,
        )
    if args.values is not None:
        values(spec, out / "model", args.values, calibrate=False)
    if args.elicit is not None:
        preferences(spec, out / "model", args.elicit)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a finished trajectory."""
    from progalign.benchmark.registry import get_algorithm, get_challenge
    from progalign.benchmark.scoring import score_run
    from progalign.io import read_json, write_json

    spec = _spec(args, require_models=False)
    judge = get_challenge(args.challenge)(**spec.challenge_params.get(args.challenge, {}))
    examinee = get_algorithm(args.algorithm)(**spec.params)
    actual = {c: Path(p) for c, p in _pairs(args.actual, "--actual").items()}
    steps = {int(t): Path(p) for t, p in _pairs(args.examinee, "--examinee").items()}
    durations: dict[str, float] = {}
    for folder in args.steps:
        info = folder / ("humans.json" if (folder / "humans.json").exists() else "step.json")
        if info.exists():
            key = "humans_update" if info.name == "humans.json" else "examinee_update"
            durations[key] = round(durations.get(key, 0.0) + read_json(info)["duration_s"], 3)
    result = score_run(
        spec,
        judge,
        examinee.describe(),
        args.seed,
        actual,
        steps,
        [Path(p) for p in args.simulated],
        durations,
    )
    write_json(args.out, result)
    log.info("%s: score %.4f", args.out, result["score"])
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the paired per-dimension difference of two value results."""
    from progalign.benchmark.bootstrap import item_data, paired_difference
    from progalign.evaluation.vector import DIMENSIONS
    from progalign.io import read_json
    from progalign.questionnaire.store import load_questionnaire

    q = load_questionnaire(args.questionnaire)
    results = [read_json(path) for path in (args.a, args.b)]
    for path, result in zip((args.a, args.b), results, strict=True):
        if result.get("questionnaire", {}).get("items_sha256") not in (None, q.items_sha256):
            raise ProgalignError(
                f"{path}: evaluated on another questionnaire than {args.questionnaire}"
            )
    aggregation = results[0].get("settings", {}).get("aggregation", "progressgym-2024")
    diff = paired_difference(
        q.items,
        item_data(q.items, results[0]),
        item_data(q.items, results[1]),
        aggregation,
        args.bootstrap,
        args.seed,
    )
    print("| dimension | B - A | 95% paired interval | separable |\n|---|---:|---:|:---:|")
    for i, name in enumerate(DIMENSIONS):
        mark = "yes" if diff.separable[i] else ""
        print(
            f"| {name} | {diff.difference[i]:+.5f} | [{diff.low[i]:+.5f}, {diff.high[i]:+.5f}]"
            f" | {mark} |"
        )
    print(
        f"\n{int(diff.separable.sum())} of {len(DIMENSIONS)} dimensions separable "
        f"({args.bootstrap} paired resamples of {len(q.items)} items)"
    )
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    """Write the tidy tables."""
    from progalign.benchmark.tables import (
        calibration_table,
        run_tables,
        values_table,
        write_tables,
    )
    from progalign.io import sha256_file, write_json
    from progalign.provenance import provenance

    tables = {
        "values": values_table(args.family, args.values),
        "calibration": calibration_table(args.family, args.values),
        **run_tables(args.scores),
    }
    if args.questionnaire is not None:
        from progalign.benchmark.item_tables import (
            items_table,
            probabilities_table,
            value_differences_table,
        )
        from progalign.questionnaire.store import load_questionnaire

        questionnaire = load_questionnaire(args.questionnaire)
        judges = {p.stem: p for p in args.values}
        tables["items"] = items_table(questionnaire.items)
        tables["item_probabilities"] = probabilities_table(judges, args.scores)
        tables["value_differences"] = value_differences_table(
            args.family, questionnaire.items, judges
        )
    written = write_tables(tables, args.out)
    write_json(
        args.out / "provenance.json",
        provenance(
            command="tables",
            family=args.family,
            config=json.loads(args.config_json) if args.config_json else None,
            inputs={str(p): sha256_file(p) for p in [*args.values, *args.scores]},
            tables={p.name: sha256_file(p) for p in written},
        ),
    )
    for path in written:
        print(path)
    return 0


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)
