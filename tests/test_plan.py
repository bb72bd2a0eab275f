"""The resource plan: figures for Llama-3-8B and 70B against arithmetic written out here,
the fail-early error, the ``progalign plan`` command, and the paper presets' dry runs."""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from progalign.errors import SettingError
from progalign.plan import make_plan
from progalign.plan.architecture import LLAMA3_8B, LLAMA3_70B, TINY, lookup
from progalign.settings import load, merge, resolve

ROOT = Path(__file__).resolve().parents[1]
GB = 1e9

# Llama-3 configs (config.json on the Hub): h, L, heads, kv heads, I, V; untied head.
# 8B: embedding 128256 * 4096; a block: q, o 4096^2 each, k, v 4096 * (8 * 128) each,
# MLP 3 * 4096 * 14336, two norms 2 * 4096.
P8_EMBED = 128256 * 4096  # 525 336 576
P8_LAYER = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096  # 218 112 000
P8 = 2 * P8_EMBED + 32 * P8_LAYER + 4096  # embedding + head + blocks + final norm
P70_EMBED = 128256 * 8192
P70_LAYER = 2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192  # 855 654 400
P70 = 2 * P70_EMBED + 80 * P70_LAYER + 8192


def _settings(preset: str, **resources: object):
    config = load([ROOT / "config.yaml", ROOT / preset])
    return resolve(merge(config, {"resources": resources}))


def _plan(preset: str, **resources: object):
    return make_plan(_settings(preset, **resources))


def test_parameter_counts_are_computed_from_the_config() -> None:
    assert P8 == 8_030_261_248 and P70 == 70_553_706_496  # the published 8.03B / 70.6B
    assert LLAMA3_8B.parameters == P8
    assert LLAMA3_70B.parameters == P70
    # the reward model: the LM head (V * h) replaced by a one-output score head (h)
    assert LLAMA3_8B.reward_parameters == P8 - P8_EMBED + 4096
    # KV cache per token, bf16: 2 (k, v) * 32 layers * 8 kv heads * 128 dims * 2 bytes
    assert LLAMA3_8B.kv_bytes_per_token(2) == 131_072


def test_tiny_table_entry_matches_a_built_tiny_model(tiny_model: Path) -> None:
    built = lookup(str(tiny_model))
    assert built is not None
    fields = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size")
    assert [getattr(built, f) for f in fields] == [getattr(TINY, f) for f in fields]
    assert (built.vocab_size, built.tied_embeddings) == (TINY.vocab_size, TINY.tied_embeddings)
    assert built.parameters == TINY.parameters


def test_8b_dpo_under_zero3_on_one_node_of_eight_80gb_gpus() -> None:
    job = _plan("configs/paper-8b.yaml").get("history_step", "dpo")
    n = 8
    tokens = 2 * 2 * 1024  # batch 2 pairs, chosen + rejected, max_length 1024
    expected = {
        "weights": 2 * P8 / n,  # bf16, sharded (ZeRO-3)
        "gradients": 2 * P8 / n,
        "master": 4 * P8 / n,  # fp32 master copy
        "adam": 8 * P8 / n,  # two fp32 moments
        "reference": 2 * P8 / n,  # frozen bf16 copy, sharded under ZeRO-3
        "gathered": 2 * P8_EMBED * 2,  # two modules in flight, the largest is the embedding
        "activations": tokens * 4096 * 32 * 34,  # Korthikanti: 34 s b h per layer
        "logits": tokens * 128256 * 8,  # fp32 logits and their gradient
    }
    assert job.terms_gb == pytest.approx({k: v / GB for k, v in expected.items()})
    assert job.total_gb == pytest.approx(42_625_737_728 / GB)
    assert sum(expected.values()) == 42_625_737_728
    assert (job.engine, job.nodes, job.processes, job.gpus) == ("zero3", 1, 8, 8)
    assert not job.activation_checkpointing  # 42.6 GB fit 0.9 * 80 = 72 GB without it
    assert job.launch == (
        "accelerate launch --config_file configs/accelerate/zero3.yaml "
        "--num_machines 1 --num_processes 8"
    )
    # host: 8 processes * 8 GB + one bf16 copy of the policy and of the reference
    assert job.mem_mb == math.ceil((8 * 8 + 2 * 2 * P8 / GB) * 1000) == 96_122
    assert job.threads == 8 * 8
    assert job.tensor_parallel == 1  # its evaluation: 8B fits one GPU
    assert job.resources() == {
        "mem_mb": 96_122,
        "runtime": 1440,
        "gpu": 8,
        "nodes": 1,
        "tasks": 1,
    }


def test_8b_evaluation_asks_for_one_gpu() -> None:
    job = _plan("configs/paper-8b.yaml").get("values_judge")
    kv = 64 * 1024 * (2 * 32 * 8 * 128 * 2)  # batch 64 x 1024 prompt tokens
    total = 2 * P8 + kv + 2e9  # bf16 weights + KV cache + 2 GB overhead
    assert total / GB == pytest.approx(26.650457088)
    assert total <= 0.85 * 80 * GB
    assert job.total_gb == pytest.approx(total / GB)
    assert (job.tensor_parallel, job.gpus, job.processes, job.launch) == (1, 1, 1, "")
    assert job.resources() == {"mem_mb": 24_061, "runtime": 1440, "gpu": 1}
    assert job.arguments() == " --tensor-parallel 1"


def test_70b_inference_uses_tensor_parallel_4_on_80gb_and_2_on_141gb() -> None:
    def need(tp: int) -> float:
        kv_heads = 8 // tp if tp <= 8 else 1
        kv = 64 * 1024 * (2 * 80 * kv_heads * 128 * 2)
        return (2 * P70 / tp + kv + 2e9) / GB

    assert need(2) > 0.85 * 80 >= need(4)  # 83.3 GB > 68 GB >= 42.6 GB
    assert need(1) > 0.85 * 141 >= need(2)
    job = _plan("configs/paper-70b.yaml").get("values_judge")
    assert (job.tensor_parallel, job.gpus) == (4, 4)
    assert job.total_gb == pytest.approx(need(4))
    h200 = _plan("configs/paper-70b.yaml", gpu_memory_gb=141).get("values_judge")
    assert (h200.tensor_parallel, h200.gpus) == (2, 2)


def test_70b_dpo_takes_three_nodes_with_activation_checkpointing() -> None:
    def need(n: int, checkpointing: bool) -> float:
        tokens = 2 * 2 * 1024
        per_layer = 2 if checkpointing else 34
        act = tokens * 8192 * (80 * per_layer + (34 if checkpointing else 0))
        return (18 * P70 / n + 2 * 2 * P70_EMBED + act + tokens * 128256 * 8) / GB

    usable = 0.9 * 80
    assert need(16, True) > usable >= need(24, True)  # 2 nodes too few, 3 enough
    assert need(32, False) > usable  # without checkpointing not even 4 nodes do
    job = _plan("configs/paper-70b.yaml").get("examinee_step", "dpo")
    assert (job.nodes, job.processes, job.activation_checkpointing) == (3, 24, True)
    assert job.total_gb == pytest.approx(need(24, True))
    assert "--num_machines 3 --num_processes 24" in job.launch
    assert job.resources()["nodes"] == job.resources()["tasks"] == 3
    assert job.resources()["gpu"] == 24
    assert "--activation-checkpointing" in job.arguments()


def test_cpu_default_keeps_the_configured_resources() -> None:
    plan = make_plan(resolve(load([ROOT / "config.yaml"])))
    for job in plan:
        assert job.stage == "cpu" and job.arguments() == "" and job.launch == ""
    assert plan.get("values_judge").resources() == {"mem_mb": 6000, "runtime": 120, "gpu": 0}
    assert plan.get("values_judge").threads == 1
    assert plan.get("perplexity").resources() == {}


def test_a_stage_that_cannot_fit_stops_with_need_and_availability() -> None:
    with pytest.raises(SettingError) as small:
        _plan("configs/paper-8b.yaml", gpu_memory_gb=24)
    # ZeRO-3 over 8 GPUs with checkpointing: 18 P / 8 + gathered + activations + logits
    need = (18 * P8 / 8 + 4 * P8_EMBED + 4096 * 4096 * (32 * 2 + 34) + 4096 * 128256 * 8) / GB
    assert f"{need:.1f}" == "26.0"
    message = str(small.value)
    assert "stage dpo" in message and "26.0 GB per GPU" in message and "24 GB" in message
    with pytest.raises(SettingError, match=r"stage dpo .* 80 GB .*max_nodes"):
        _plan("configs/paper-70b.yaml", max_nodes=1)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "progalign.cli", "plan", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_every_rule_with_its_reasoning_and_json() -> None:
    text = _cli("--configfile", "configs/paper-70b.yaml")
    assert text.returncode == 0, text.stderr
    assert "history_step [dpo]: stage dpo, meta-llama/Meta-Llama-3-70B (70.55B), engine zero3" in (
        text.stdout
    )
    assert "GPUs 8 x 3 node(s), processes 24" in text.stdout
    assert text.stdout.count("why: ") == len(re.findall(r"^\S", text.stdout, re.M))
    out = _cli(
        "--configfile",
        "configs/paper-8b.yaml",
        "--config",
        "resources={gpu_memory_gb: 141}",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    jobs = {(j["rule"], j["variant"]): j for j in json.loads(out.stdout)}
    assert jobs[("values_base", "")]["tensor_parallel"] == 1
    assert jobs[("history_step", "rlhf")]["resources"]["gpu"] == 8
    assert set(jobs[("history_step", "dpo")]["memory_gb"]) >= {"weights", "adam", "reference"}


def test_cli_fails_early_with_one_clear_line() -> None:
    bad = _cli("--configfile", "configs/paper-8b.yaml", "--config", "resources={gpu_memory_gb: 24}")
    assert bad.returncode == 2
    assert bad.stderr.startswith("progalign plan: error: resource plan: stage dpo")
    assert "Traceback" not in bad.stderr


def _dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    snakemake = Path(sys.executable).parent / "snakemake"
    return subprocess.run(
        [str(snakemake), "-n", "-p", "--cores", "128", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "launches", "tp", "training_gpus"),
    [
        ("configs/paper-8b.yaml", {(1, 8)}, 1, {8}),
        ("configs/paper-70b.yaml", {(3, 24), (4, 32)}, 4, {24, 32}),
    ],
)
def test_paper_dry_runs_use_the_plan(
    preset: str, launches: set[tuple[int, int]], tp: int, training_gpus: set[int]
) -> None:
    run = _dry_run("--configfile", preset)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    out = run.stdout
    found = {
        (int(m), int(p)) for m, p in re.findall(r"--num_machines (\d+) --num_processes (\d+)", out)
    }
    assert found == launches
    steps = re.findall(r"Shell command: progalign step \w+ .*", out)
    assert steps and all(
        "--launch 'accelerate launch --config_file configs/accelerate/zero3.yaml" in s
        for s in steps
    )
    values = re.findall(r"Shell command: progalign values .*", out)
    assert values and all(f"--tensor-parallel {tp} " in v for v in values)
    gpus = {int(g) for g in re.findall(r"gpu=(\d+), nodes=\d+, tasks=\d+", out)}
    assert gpus == training_gpus
    assert f"gpu={tp}, mem_mb=" in out  # evaluation jobs ask for their tensor parallel only
    # Every planned option is one the command knows: each progalign command of the dry run
    # (its redirections and $(dirname ...) dropped) parses with progalign's own parser.
    from progalign.cli import build_parser

    parser = build_parser()
    commands = re.findall(r"Shell command: (progalign .*)", out)
    assert any("--activation-checkpointing" in c for c in commands)  # 8B RLHF, all 70B training
    for text in commands:
        text = re.sub(r"\$\(dirname ([^)]*)\)", r"\1", text)
        words = shlex.split(text.split(" > ")[0].split(" 2> ")[0])
        parser.parse_args(words[1:])  # SystemExit (unknown option) fails the test
