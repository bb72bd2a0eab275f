"""Training stages under ``accelerate launch`` (progalign.training.launch, docs/distributed.md).

The launched tests run real ``accelerate launch`` subprocesses: 2 CPU processes with gloo,
tiny random models, a few optimiser steps, under plain data parallel
(``configs/accelerate/ddp.yaml``) and under DeepSpeed ZeRO-3 (``zero3.yaml``: parameters,
gradients and optimiser states sharded, DeepSpeed's CPU accelerator; FSDP does not run on CPU
with accelerate 1.15). Each stage trained by 2 processes with per-device batch 1 must give the
weights of 1 process with batch 2 (the same global batch, the same data order) within
:data:`REL_L2` and :data:`MAX_ABS`, and save a plain model folder.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from progalign.errors import ProgalignError, SettingError
from progalign.training import launch, slurm_task
from progalign.training.preference import (
    PreferencePair,
    TrainSettings,
    train_dpo,
    train_reward_model,
    train_rloo,
    train_sft_pairs,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "accelerate"

LR = 1e-3
#: Tolerances of 2 processes × batch 1 against 1 process × batch 2 (same global batch, same
#: data order). The two runs add the same float32 numbers in another order (gloo's all-reduce
#: of per-rank gradients against one batched backward pass; padding to other lengths), so the
#: gradients agree to ~1e-6 relative (grad norms measured: 0.3961542 vs 0.3961539). Adam's
#: first steps are about lr × sign(g) per element, so an element whose gradient is at rounding
#: level may step differently: single elements can differ by a fraction of lr (measured worst
#: 0.08 lr, reward model), while the update as a whole agrees to ~1e-4 relative (measured:
#: DPO 4e-6, reward 3e-4 of the update's L2 norm). Hence:
REL_L2 = 1e-3  # ||w2 - w1|| <= REL_L2 × ||w1 - w0||
MAX_ABS = 0.25 * LR  # max |w2 - w1| over all elements


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_text(processes: int = 2, config: str = "ddp.yaml") -> str:
    """The accelerate prefix of these tests (a free rendezvous port per launch)."""
    return (
        f"accelerate launch --config_file {CONFIGS / config} --num_machines 1 "
        f"--num_processes {processes} --main_process_port {free_port()}"
    )


@pytest.fixture()
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU for the ranks (gloo on CPU), and the venv's accelerate on PATH."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(launch.LAUNCH_ENV, raising=False)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def weights(folder: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return dict(load_file(folder / "model.safetensors"))


def assert_same(one: Path, two: Path, start: Path) -> tuple[float, float]:
    """Weights of ``two`` equal those of ``one`` within :data:`REL_L2` and :data:`MAX_ABS`.

    Returns:
        The difference's and the update's L2 norms over all weights (for the report).
    """
    a, b, s = weights(one), weights(two), weights(start)
    assert a.keys() == b.keys()
    diff = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a) ** 0.5  # type: ignore[operator]
    moved = sum(float(((a[k] - s[k]) ** 2).sum()) for k in a if k in s) ** 0.5  # type: ignore[operator]
    largest = max(float((a[k] - b[k]).abs().max()) for k in a)  # type: ignore[operator]
    assert moved > 0.1, f"training hardly moved the weights ({moved})"
    assert diff <= REL_L2 * moved, (diff, moved)
    assert largest <= MAX_ABS, largest
    return diff, moved


def distributed_entry(folder: Path, name: str = "training.json") -> dict[str, object]:
    entry: dict[str, object] = json.loads((folder / name).read_text())["provenance"]["distributed"]
    return entry


PAIRS = [PreferencePair(f"Question {i}: is the law just?", "yes", "no") for i in range(4)]


# ------------------------------------------------------------------ no launch, bad launches


def test_no_launch_trains_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(launch.LAUNCH_ENV, raising=False)
    assert launch.current_launch() is None and launch.processes() == 1
    assert launch.delegate("dpo", tmp_path / "out", "training.json", {}) is None
    with launch.launching(""), launch.launching(None):
        assert launch.current_launch() is None
    monkeypatch.setenv(launch.RANK_ENV, str(tmp_path / "request.json"))  # inside a rank
    with launch.launching(launch_text()):
        assert launch.current_launch() is None


def test_launch_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(launch.LAUNCH_ENV, "accelerate launch --num_processes 4")
    assert launch.processes() == 4
    with launch.launching("accelerate launch --num_processes=3 --num_machines 1"):
        assert launch.current_launch() == "accelerate launch --num_processes=3 --num_machines 1"
        assert launch.processes() == 3
    assert launch.current_launch() == "accelerate launch --num_processes 4"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("torchrun --nproc_per_node 2", "expected an accelerate command prefix"),
        ("accelerate launch -m x", "leave out -m"),
        ("accelerate launch --config_file 'unclosed", "cannot parse"),
        ("accelerate launch --num_machines zero", "not a positive integer"),
    ],
)
def test_bad_launch_text_is_a_clear_error(text: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(SettingError, match=problem), launch.launching(text):
        launch.command(text, tmp_path / "request.json")


def test_missing_accelerate_config_is_named(tmp_path: Path) -> None:
    words = shlex.split(f"accelerate launch --config_file {tmp_path / 'none.yaml'}")
    with pytest.raises(SettingError, match=r"none\.yaml not found"):
        launch.launch_description(words)


def test_step_and_train_commands_accept_launch() -> None:
    for args in (["train-hislm"], ["step", "examinee"], ["step", "humans"]):
        out = subprocess.run(
            [sys.executable, "-m", "progalign.cli", *args, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "--launch TEXT" in out, args


# ------------------------------------------------------------------ multi-node (SLURM)


def test_several_machines_outside_slurm_fail_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = "accelerate launch --num_machines 2 --num_processes 2"
    with pytest.raises(SettingError, match="needs a SLURM allocation of 2 nodes"):
        launch.command(text, tmp_path / "request.json", env={})
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(SettingError, match="no SLURM_JOB_ID"), launch.launching(text):
        train_dpo(model, PAIRS, tmp_path / "out", TrainSettings(learning_rate=LR, epochs=1))
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no scratch left


def test_srun_command_inside_an_allocation(tmp_path: Path) -> None:
    text = "accelerate launch --config_file c.yaml --num_machines 2 --num_processes 4"
    env = {"SLURM_JOB_ID": "4242", "SLURM_CPUS_PER_TASK": "6"}
    argv = launch.command(text, tmp_path / "r.json", env=env)
    assert argv[:7] == [
        "srun",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",
        "--cpus-per-task=6",
        sys.executable,
    ]
    assert argv[7:] == ["-m", launch.SLURM_TASK_MODULE, "--launch", text, str(tmp_path / "r.json")]


def fake_scontrol(folder: Path, hosts: list[str]) -> str:
    """A ``scontrol`` on PATH that expands any node list to ``hosts``."""
    folder.mkdir(exist_ok=True)
    script = folder / "scontrol"
    lines = "\\n".join(hosts)
    script.write_text(f'#!/bin/sh\n[ "$1 $2" = "show hostnames" ] && printf "{lines}\\n"\n')
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_slurm_task_reads_machine_rank_address_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", fake_scontrol(tmp_path / "bin", ["gpu07", "gpu08"]))
    env = {"SLURM_JOB_ID": "987654", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NODEID": "1"}
    assert slurm_task.machine_arguments(env) == [
        "--machine_rank",
        "1",
        "--main_process_ip",
        "gpu07",
        "--main_process_port",
        str(15000 + 987654 % 15000),  # 27654
    ]
    # SLURM_PROCID when SLURM_NODEID is absent; a plain one-host list needs no scontrol
    env = {"SLURM_JOB_ID": "30000_7", "SLURM_JOB_NODELIST": "vm", "SLURM_PROCID": "0"}
    assert slurm_task.machine_arguments(env)[1::2] == ["0", "vm", "15000"]
    with pytest.raises(SettingError, match="not inside a SLURM job step"):
        slurm_task.machine_arguments({"SLURM_JOB_ID": "1"})
    with pytest.raises(SettingError, match="not a job number"):
        slurm_task.main_port("abc")


def test_slurm_task_entry_prints_the_node_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": fake_scontrol(tmp_path / "bin", ["node1", "node2"]),
        "SLURM_JOB_ID": "15001",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_NODEID": "1",
        "SLURMD_NODENAME": "node2",
    }
    text = "accelerate launch --config_file c.yaml --num_machines 2 --num_processes 2"
    done = subprocess.run(
        [sys.executable, "-m", "progalign.training.slurm_task", "--print", "--launch", text, "r"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (
        "slurm_task: machine_rank=1 node=node2 main_process_ip=node1 main_process_port=15001"
        in done.stderr
    )
    assert shlex.split(done.stdout)[-9:] == [
        "--machine_rank",
        "1",
        "--main_process_ip",
        "node1",
        "--main_process_port",
        "15001",
        "-m",
        "progalign.training.rank",
        "r",
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "progalign.training.slurm_task", "--launch", text, "r"],
        env={k: v for k, v in env.items() if k != "SLURM_NODEID" and k != "SLURM_PROCID"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not inside a SLURM job step" in bad.stderr


# ------------------------------------------------------------------ 2 processes = 1 process


def settings(batch_size: int, **extra: object) -> TrainSettings:
    return TrainSettings(learning_rate=LR, epochs=1, batch_size=batch_size, seed=0, **extra)


#: The engine each accelerate config of these tests gives (the record's ``engine``).
ENGINES = {"ddp.yaml": "ddp", "zero2.yaml": "deepspeed-zero2", "zero3.yaml": "deepspeed-zero3"}


def skip_without_engine(config: str) -> None:
    """Skip the test where the engine of ``config`` is not installed."""
    if config.startswith("zero"):
        pytest.importorskip("deepspeed")


def assert_shared_as_configured(entry: dict[str, object], config: str) -> None:
    """Under ZeRO-3 each of the 2 ranks held half the parameters (a little more: padding);
    otherwise every rank held them whole."""
    share = entry["parameter_share"]
    if config == "zero3.yaml":
        assert 0.5 <= share <= 0.52, share  # type: ignore[operator]
    else:
        assert share is None, share


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ddp.yaml", "zero3.yaml"])
@pytest.mark.parametrize("stage", ["dpo", "reward", "sft"])
def test_two_processes_match_one(
    stage: str, config: str, tiny_model: Path, tmp_path: Path, cpu_only: None, ci_report: object
) -> None:
    """DDP and the sharded ZeRO-3 (DPO's frozen reference prepared by TRL for DeepSpeed)."""
    skip_without_engine(config)

    def train(out: Path, batch_size: int) -> dict[str, object]:
        if stage == "dpo":
            return train_dpo(tiny_model, PAIRS, out, settings(batch_size, sft_weight=0.5))
        if stage == "reward":
            return train_reward_model(tiny_model, PAIRS, out, settings(batch_size))
        records = [(f"Say {w}.", f"I say {w} {w}.") for w in ("yes", "no", "maybe", "never")]
        return train_sft_pairs(tiny_model, records, out, settings(batch_size))

    one = train(tmp_path / "one", 2)
    with launch.launching(launch_text(2, config)):
        two = train(tmp_path / "two", 1)
    assert two["steps"] == one["steps"] == 2
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
    diff, moved = assert_same(tmp_path / "one", tmp_path / "two", tiny_model)
    entry = distributed_entry(tmp_path / "two")
    ci_report(  # type: ignore[operator]
        f"{stage} {config}: 2 processes vs 1: |dw| {diff:.2e} of update {moved:.2e}, "
        f"parameter share per rank {entry['parameter_share']}"
    )
    assert entry["world_size"] == 2 and entry["num_machines"] == 1
    assert entry["engine"] == ENGINES[config] and entry["backend"] == "gloo"
    assert entry["accelerate_config"] == str(CONFIGS / config)
    assert_shared_as_configured(entry, config)  # ZeRO-3 really shards
    assert len(str(entry["accelerate_config_sha256"])) == 64
    assert (
        "distributed"
        not in json.loads((tmp_path / "one" / "training.json").read_text())["provenance"]
    )
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )  # a plain model folder, no trainer files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no scratch, no log


def write_corpus(path: Path, n: int = 12) -> Path:
    words = ("the", "king", "and", "the", "people", "of", "the", "land", "spoke", "of", "law")
    rows = [
        {
            "content": " ".join(words[(i * 3 + j) % len(words)] for j in range(40)),
            "creation_year": 1650,
            "source_dataset": "test",
            "license": "public-domain",
            "source": "test",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ddp.yaml", "zero3.yaml"])
def test_hislm_cli_two_processes_match_one(
    config: str, tiny_model: Path, tmp_path: Path, cpu_only: None, ci_report: object
) -> None:
    """``progalign train-hislm --launch``; top-k layers, so the in-process run uses the
    lower-layer memo and the distributed one switches it off (recorded)."""
    skip_without_engine(config)
    corpus = write_corpus(tmp_path / "C017.jsonl")
    hislm_config = tmp_path / "hislm.yaml"
    hislm_config.write_text(
        "hislm: {epochs: 1, learning_rate: 0.001, lr_scheduler: constant, warmup_ratio: 0,"
        " max_seq_len: 16, val_fraction: 0, max_tokens: 128, top_k_layers: 2}\n"
    )

    def cli(out: Path, batch: int, *extra: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "progalign.cli",
                "train-hislm",
                *("--base", str(tiny_model), "--corpus", str(corpus), "--out", str(out)),
                *("--config", str(hislm_config), "--batch-size", str(batch), *extra),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    cli(tmp_path / "one", 2)
    cli(tmp_path / "two", 1, "--launch", launch_text(2, config))
    diff, moved = assert_same(tmp_path / "one", tmp_path / "two", tiny_model)
    ci_report(f"hislm {config}: 2 processes vs 1: |dw| {diff:.2e} of update {moved:.2e}")  # type: ignore[operator]
    one = json.loads((tmp_path / "one" / "progalign_model.json").read_text())
    two = json.loads((tmp_path / "two" / "progalign_model.json").read_text())
    assert one["corpus"]["train_blocks"] == two["corpus"]["train_blocks"] == 8
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
    assert one["lower_layers"] is not None and two["lower_layers"] is None
    assert two["provenance"]["distributed"]["lower_layer_memo"] == "off (distributed run)"
    assert two["provenance"]["distributed"]["engine"] == ENGINES[config]
    assert_shared_as_configured(two["provenance"]["distributed"], config)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ddp.yaml", "zero2.yaml", "zero3.yaml"])
def test_rloo_two_processes(config: str, tiny_model: Path, tmp_path: Path, cpu_only: None) -> None:
    """RLOO samples its completions, and each rank samples its own share from its own
    generator, so 2 processes cannot reproduce 1 process's samples or weights. Checked: the
    launched run trains (reference and reward model prepared by TRL on both ranks; ZeRO-2 as
    upstream ran PPO, ZeRO-3 as the RLHF step runs by default), logs rewards for every step,
    and writes a plain model folder with its distributed record."""
    from transformers import AutoModelForCausalLM

    skip_without_engine(config)
    train_reward_model(tiny_model, PAIRS, tmp_path / "rm", settings(2))
    rloo = settings(1, num_generations=2, max_new_tokens=4, beta=0.1)
    prompts = ["Is the law just?", "Is the king good?"]
    with pytest.raises(ProgalignError, match=r"1 × 1 × 1 = 1 completions"):
        train_rloo(tiny_model, tmp_path / "rm", prompts, tmp_path / "bad", rloo)
    with launch.launching(launch_text(2, config)):
        record = train_rloo(tiny_model, tmp_path / "rm", prompts, tmp_path / "two", rloo)
    assert record["steps"] == 2
    assert all("reward" in row for row in record["history"][:2])  # type: ignore[index]
    entry = distributed_entry(tmp_path / "two")
    assert entry["world_size"] == 2 and entry["engine"] == ENGINES[config]
    assert_shared_as_configured(entry, config)
    AutoModelForCausalLM.from_pretrained(tmp_path / "two")
    start, trained = weights(tiny_model), weights(tmp_path / "two")
    # ZeRO-2 saves the module's state dict, where the tiny model's tied output layer is a
    # second name of the embedding: written twice, equal (the weights load tied either way).
    extra = trained.keys() - start.keys()
    assert extra <= {"lm_head.weight"} and start.keys() <= trained.keys()
    if extra:
        assert bool((trained["lm_head.weight"] == trained["model.embed_tokens.weight"]).all())  # type: ignore[attr-defined]
    moved = max(float((trained[k] - a).abs().max()) for k, a in start.items())  # type: ignore[operator]
    assert moved > 1e-4


# ------------------------------------------------------------------ a rank dies


@pytest.mark.slow
def test_killed_rank_fails_the_stage_and_leaves_nothing_finished(
    tiny_model: Path, tmp_path: Path, cpu_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 1 SIGKILLs itself after its first optimiser step (a ``sitecustomize`` put on the
    ranks' PYTHONPATH): the launch fails, the error names the stage and the log, and the
    output folder does not exist (nor anything the ranks were building)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, signal\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import transformers\n"
        "    step = transformers.Trainer.training_step\n"
        "    def killing_step(self, *args, **kwargs):\n"
        "        loss = step(self, *args, **kwargs)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return loss\n"
        "    transformers.Trainer.training_step = killing_step\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    models = tmp_path / "models"
    models.mkdir()
    out = models / "dpo"
    with pytest.raises(ProgalignError) as failure, launch.launching(launch_text(2)):
        train_dpo(tiny_model, PAIRS, out, settings(1))
    message = str(failure.value)
    log = models / ".dpo.launch.log"
    assert "training stage dpo" in message and str(log) in message and "exit status" in message
    assert "SIGKILL" in log.read_text()  # torchrun's report of rank 1
    assert not out.exists()
    assert [p.name for p in models.iterdir()] == [log.name]


# ------------------------------------------------------------------ sharded (GPUs only)


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.parametrize("config", ["fsdp.yaml", "zero3.yaml"])
def test_sharded_run_saves_a_plain_model_folder(
    config: str, tiny_model: Path, tmp_path: Path
) -> None:
    """FSDP / ZeRO-3 on 2 GPUs gather one full state dict on save, in bf16. ZeRO-3 also runs
    on CPU (:func:`test_two_processes_match_one`); accelerate 1.15 enables FSDP for GPU-like
    devices only, so FSDP is checked only where 2 CUDA devices exist."""
    import torch
    from transformers import AutoModelForCausalLM

    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA GPUs")
    if config.startswith("zero"):
        pytest.importorskip("deepspeed")
    train_dpo(tiny_model, PAIRS, tmp_path / "one", settings(2))
    with launch.launching(launch_text(2, config)):
        train_dpo(tiny_model, PAIRS, tmp_path / "two", settings(1))
    AutoModelForCausalLM.from_pretrained(tmp_path / "two")
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)  # type: ignore[attr-defined]
    assert diff <= 1e-2  # bf16 autocast on GPUs: ~3 significant digits
    assert distributed_entry(tmp_path / "two")["engine"] in ("fsdp", "deepspeed-zero3")
