"""``progalign values``: evaluate one model into a 19-d value vector (JSON)."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any, get_args

from progalign.errors import ProgalignError
from progalign.settings import EvaluationSettings

log = logging.getLogger(__name__)
_D = EvaluationSettings()  # the defaults, shared with the experiment config


def _choices(name: str) -> list[str]:
    return list(get_args(EvaluationSettings.model_fields[name].annotation))


def register(sub: Any) -> None:
    """Add the ``values`` sub-command."""
    p = sub.add_parser("values", help="evaluate a model on the moral questionnaire")
    p.add_argument(
        "--model",
        required=True,
        help="model folder, Hugging Face repo id, 'embedded' (SmolLM2-135M-Instruct) "
        "or 'tiny' (random test model)",
    )
    p.add_argument("--out", required=True, type=Path, help="result JSON file")
    q = p.add_argument_group("questionnaire")
    q.add_argument(
        "--questionnaire",
        type=Path,
        help="folder from 'progalign questionnaire fetch' (default: fetch --protocol)",
    )
    q.add_argument("--protocol", default="paper-2024", choices=["paper-2024", "head-2025"])
    q.add_argument("--moralchoice", type=Path, help="CSV in the upstream MoralChoice schema")
    q.add_argument("--foundation", type=Path, help="CSV in the upstream Moral Foundations schema")
    q.add_argument("--views", type=Path, help="CSV in the upstream worldview schema")
    q.add_argument("--limit", type=int, help="at most N items per group (first N)")
    q.add_argument("--per-dimension", type=int, help="stratified subsample: N items per stratum")
    e = p.add_argument_group("evaluation")
    e.add_argument("--mode", default=_D.mode, choices=_choices("mode"))
    e.add_argument(
        "--scoring",
        default=_D.scoring,
        choices=_choices("scoring"),
        help="auto: for models under 1B parameters 'plain' (option texts after the "
        "scenario and a plain cue; 'texts' if --question-types is given), else "
        "'letters' (see docs/evaluation.md)",
    )
    e.add_argument(
        "--permutations",
        default=_D.permutations,
        choices=_choices("permutations"),
        help=f"option orders (default {_D.permutations}): cyclic rotations, all (HEAD), identity",
    )
    e.add_argument(
        "--question-types",
        type=_type_list,
        metavar="T1,T2",
        help="ask only these question types (comma-separated; default: all of ab, "
        "compare, repeat for two options and 4c_fav, repeat2_fav for four)",
    )
    e.add_argument(
        "--format",
        dest="prompt_format",
        default=_D.prompt_format,
        choices=_choices("prompt_format"),
    )
    e.add_argument("--aggregation", default=_D.aggregation, choices=_choices("aggregation"))
    e.add_argument("--bootstrap", type=int, default=_D.bootstrap)
    e.add_argument("--seed", type=int, default=_D.seed)
    e.add_argument("--max-new-tokens", type=int, default=48)
    e.add_argument("--temperature", type=float, default=0.0)
    e.add_argument(
        "--no-calibration",
        dest="calibration",
        action="store_false",
        help="do not score the shipped MoralChoice calibration items (by default "
        "every option-text evaluation reports its calibration share)",
    )
    e.add_argument(
        "--embedding-matcher",
        action="store_true",
        help="generate mode: match unmatched answers by MiniLM embeddings",
    )
    b = p.add_argument_group("backend")
    b.add_argument("--backend", default=_D.backend, choices=_choices("backend"))
    b.add_argument("--device", default="auto")
    b.add_argument("--dtype", default="auto")
    b.add_argument("--batch-size", type=int, default=_D.batch_size)
    b.add_argument("--threads", type=int)
    b.add_argument(
        "--tensor-parallel",
        type=int,
        help="vLLM tensor parallel size (default: the largest power of two of the visible GPUs)",
    )
    cache = b.add_mutually_exclusive_group()
    cache.add_argument(
        "--top-k-layers",
        type=int,
        metavar="K",
        help="the model differs from its family only in its top K decoder layers "
        "(training.top_k_layers): reuse cached activations of the others "
        "(docs/performance.md)",
    )
    cache.add_argument(
        "--lower-cache-layers",
        type=int,
        metavar="N",
        help="reuse cached activations of the bottom N decoder layers",
    )
    p.set_defaults(func=run)


def _type_list(text: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    if not types:
        raise argparse.ArgumentTypeError("name at least one question type")
    return types


def _questionnaire_dir(args: argparse.Namespace, scratch: Path) -> Path:
    from progalign.download import cache_dir
    from progalign.questionnaire.fetch import build_questionnaire

    overrides = {
        g: path
        for g in ("moralchoice", "foundation", "views")
        if (path := getattr(args, g)) is not None
    }
    if args.questionnaire and overrides:
        raise ProgalignError("give either --questionnaire or CSV files, not both")
    if args.questionnaire:
        if args.per_dimension:
            raise ProgalignError("--per-dimension applies when fetching; use --limit here")
        return Path(args.questionnaire)
    if overrides or args.per_dimension:
        out = scratch / "questionnaire"
        build_questionnaire(
            args.protocol,
            out,
            per_dimension=args.per_dimension,
            seed=args.seed,
            csv_overrides=overrides or None,
            groups=tuple(overrides) if overrides else None,
        )
        return out
    out = cache_dir() / "questionnaire" / args.protocol
    if not (out / "items.jsonl").exists():
        build_questionnaire(args.protocol, out)
    return out


def _first_per_group(items: list[Any], limit: int) -> list[Any]:
    seen: dict[str, int] = {}
    kept = []
    for item in items:
        seen[item.group] = seen.get(item.group, 0) + 1
        if seen[item.group] <= limit:
            kept.append(item)
    return kept


def run(args: argparse.Namespace) -> int:
    """Run ``progalign values``."""
    from progalign.evaluation.api import ValueOptions, evaluate_model
    from progalign.io import write_json
    from progalign.models.resolve import resolve_model
    from progalign.questionnaire.fetch import load_questionnaire

    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory(prefix="progalign-q-") as scratch:
        qdir = _questionnaire_dir(args, Path(scratch))
        questionnaire = load_questionnaire(qdir)
        items = questionnaire.items
        if args.limit:
            items = _first_per_group(items, args.limit)
        options = ValueOptions(
            backend=args.backend,
            mode=args.mode,
            scoring=args.scoring,
            permutations=args.permutations,
            prompt_format=args.prompt_format,
            aggregation=args.aggregation,
            bootstrap=args.bootstrap,
            seed=args.seed,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            device=args.device,
            dtype=args.dtype,
            threads=args.threads,
            tensor_parallel=args.tensor_parallel,
            lower_cache_layers=args.lower_cache_layers,
            top_k_layers=args.top_k_layers,
            question_types=args.question_types,
            calibration=args.calibration,
        )
        embedder = None
        if args.embedding_matcher:
            from progalign.evaluation.embedder import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        result = evaluate_model(
            model,
            questionnaire,
            options,
            items=items,
            embedder=embedder,
            command="values",
            arguments={k: str(v) for k, v in vars(args).items() if k != "func"},
        )
    result["questionnaire"]["limit_per_group"] = args.limit
    write_json(args.out, result)
    vec = ", ".join(f"{x:.3f}" for x in result["vector"])
    log.info(
        "wrote %s (%d prompts, %.1f prompts/s): [%s]",
        args.out,
        result["counts"]["prompts"],
        result["timings"]["prompts_per_s"],
        vec,
    )
    calibration = result.get("calibration", {})
    if "share_moral" in calibration:
        log.info(
            "calibration: P(moral action) > 0.5 on %.1f%% of %d %s items",
            100 * calibration["share_moral"],
            calibration["answered"],
            calibration["set"],
        )
    return 0
