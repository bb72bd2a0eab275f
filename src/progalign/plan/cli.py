"""``progalign plan``: the resource plan of every model rule, with the reasoning."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from progalign.errors import SettingError
from progalign.plan.build import Plan, make_plan
from progalign.plan.derive import RulePlan
from progalign.settings import load, merge, resolve


def register(sub: Any) -> None:
    """Add the ``plan`` sub-command."""
    p = sub.add_parser(
        "plan",
        help="memory per GPU and the GPUs, nodes, processes, threads, host memory and tensor "
        "parallel of every model rule (docs/resources.md)",
    )
    p.add_argument(
        "--configfile",
        type=Path,
        action="append",
        default=[],
        metavar="YAML",
        help="config files merged in order over config.yaml, as Snakemake's --configfile",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a top-level key with a YAML value merged last, as Snakemake's --config "
        "(e.g. 'resources={gpus_per_node: 8, gpu_memory_gb: 141}')",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)


def _overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingError(f"--config {item!r}: expected KEY=VALUE")
        try:
            out = merge(out, {key: yaml.safe_load(value)})
        except yaml.YAMLError as exc:
            raise SettingError(f"--config {item!r}: not YAML ({exc})") from None
    return out


def plan_from_args(configfiles: list[Path], config: list[str]) -> Plan:
    """Resolve config.yaml, the files and the overrides as Snakemake merges them; plan."""
    merged = merge(load([Path("config.yaml"), *configfiles]), _overrides(config))
    return make_plan(resolve(merged))


def describe(job: RulePlan) -> str:
    """Several lines about one job."""
    name = job.rule + (f" [{job.variant}]" if job.variant else "")
    if job.stage == "cpu":
        return (
            f"{name}: CPU, threads {job.threads}, resources {job.resources()}\n  why: {job.reason}"
        )
    terms = ", ".join(f"{k} {v:.1f}" for k, v in job.terms_gb.items())
    lines = [
        f"{name}: stage {job.stage}, {job.model}, engine {job.engine}",
        f"  GB per GPU: {terms} = {job.total_gb:.1f}",
        f"  GPUs {job.gpus_per_node} x {job.nodes} node(s), processes {job.processes}, "
        f"threads {job.threads}, mem_mb {job.mem_mb}, runtime {job.runtime}, tensor parallel "
        f"{job.tensor_parallel if job.tensor_parallel is not None else '-'}",
    ]
    if job.launch:
        lines.append(f"  launch: {job.launch}")
    lines.append(f"  why: {job.reason}")
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan (or raise the SettingError of a stage that does not fit)."""
    plan = plan_from_args(args.configfile, args.config)
    if args.json:
        print(json.dumps([job.to_json() for job in plan], indent=2))
    else:
        print("\n".join(describe(job) for job in plan))
    return 0
