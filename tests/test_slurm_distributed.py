"""Multi-node training on SLURM: the profile's resource -> sbatch mapping, and one training
rule with 2 nodes x 1 task each on a real two-node loopback cluster (scripts/slurm-cluster.sh
with PROGALIGN_SLURM_NODES=2, one stand-in GPU per node), run through
`snakemake --executor slurm --profile workflow/profiles/slurm`: its ranks start through `srun` +
accelerate (machine ranks 0 and 1 on the two nodes, one process group) and its weights equal
those of the same command run locally with 2 processes on one machine (no srun); a rank killed
mid-training fails the SLURM job within seconds and leaves no model. docs/slurm.md."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from system_workflow import ROOT, require_binaries, skip_or_fail

PROFILE = ROOT / "workflow/profiles/slurm"
DDP = ROOT / "configs/accelerate/ddp.yaml"
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
# Local and SLURM runs are both 2 processes with the same per-process batches and seed, so they
# do the same arithmetic; gloo's all-reduce over 2 ranks sums in the same order either way.
# The bound leaves room for a reduction order that differs between the two rendezvous.
WEIGHT_TOLERANCE = 1e-6
WORDS = [
    "the",
    "king",
    "and",
    "the",
    "people",
    "of",
    "the",
    "land",
    "spoke",
    "of",
    "law",
    "and",
    "mercy",
    "and",
    "bread",
]


# ----------------------------------------------------- the profile's mapping (no SLURM needed)
class _Resources(dict[str, Any]):
    """A job's resources as the plugin reads them: ``.get`` and attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _profile_defaults(threads: int) -> dict[str, Any]:
    """The profile's default resources as Snakemake evaluates them for a job (bar -p/-A)."""
    defaults = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]
    resources: dict[str, Any] = {}
    for key, value in defaults.items():
        if key.startswith("slurm_"):
            continue
        if value == "threads":  # the profile's one expression
            resources[key] = threads
        else:
            resources[key] = ast.literal_eval(value) if isinstance(value, str) else value
    return resources


def _sbatch(threads: int, **rule: Any) -> list[str]:
    """The sbatch options the SLURM executor plugin builds for a rule under the profile."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    resources = _Resources({**_profile_defaults(threads), **rule})
    job = SimpleNamespace(resources=resources, threads=threads)
    params = {
        "run_uuid": "u",
        "slurm_logfile": "log",
        "comment_str": "c",
        "account": "",
        "partition": "",
        "workdir": "",
    }
    call = get_submit_command(job, params) + set_gres_string(job)
    return shlex.split(call)[call.split().index("--comment") + 1 :][1:]


def test_profile_runs_every_job_in_the_batch_shell() -> None:
    # The jobstep executor wraps a job in `srun -n1 --nodes=1` unless the key `mpi` exists;
    # the profile sets it (empty: the plugin's MPI checks stay off).
    assert _profile_defaults(1)["mpi"] == ""
    assert _profile_defaults(1)["tasks_per_gpu"] == 0


def test_profile_maps_a_planned_multi_node_training_rule() -> None:
    # What the resource plan gives a 70B DPO step: 3 nodes of 8 GPUs, 64 threads and
    # 346215 MB per node. No --ntasks: SLURM's default for --nodes=3 is one task per node.
    options = _sbatch(64, nodes=3, tasks=3, gpu=24, mem_mb=346215, runtime=4320)
    assert options == [
        "-t",
        "4320",
        "--mem",
        "346215",
        "--nodes=3",
        "--cpus-per-task=64",
        "--gpus=24",
    ]


def test_profile_maps_gpus_per_node_and_explicit_tasks() -> None:
    options = _sbatch(16, nodes=2, tasks=2, mpi="srun", gres="gpu:8", mem_mb=400000)
    assert options == [
        "-t",
        "60",
        "--mem",
        "400000",
        "--nodes=2",
        "--ntasks=2",
        "--cpus-per-task=16",
        "--gres=gpu:8",
    ]  # per node: 16 CPUs, 400 GB, 8 GPUs; no --ntasks-per-gpu (profile: tasks_per_gpu 0)


def test_profile_maps_a_cpu_multi_node_rule_and_a_one_node_gpu_rule() -> None:
    assert _sbatch(2, nodes=2, tasks=2) == [
        "-t",
        "60",
        "--mem",
        "4000",
        "--nodes=2",
        "--ntasks=2",
        "--cpus-per-task=2",
    ]
    options = _sbatch(8, gpu=4, mem_mb=64000, runtime=120)
    assert options == ["-t", "120", "--mem", "64000", "--cpus-per-task=8", "--gpus=4"]


def test_without_the_profile_default_gpu_tasks_would_multiply() -> None:
    # Why the profile sets tasks_per_gpu: 0: the plugin would take --ntasks-per-gpu from tasks.
    options = _sbatch(8, gpu=8, tasks=2, tasks_per_gpu=None)
    assert "--ntasks-per-gpu=2" in options


# ------------------------------------------------------------ the two-node loopback cluster
def _free_ports(n: int) -> int:
    """The first of ``n`` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(50):
        socks = [socket.socket() for _ in range(n)]
        try:
            socks[0].bind(("127.0.0.1", 0))
            first = socks[0].getsockname()[1]
            for i, s in enumerate(socks[1:], 1):
                s.bind(("127.0.0.1", first + i))
            if first + n < 65000:
                return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on 127.0.0.1")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private two-node cluster with one stand-in GPU per node, stopped afterwards."""
    require_binaries("munged", "slurmctld", "slurmd", "sbatch", "srun", why="SLURM cluster")
    if os.geteuid() != 0:
        skip_or_fail("the loopback SLURM cluster runs its daemons as root")
    state = tmp_path_factory.mktemp("slurm2")
    env = {
        "PROGALIGN_SLURM_STATE": str(state),
        "PROGALIGN_SLURM_PORT": str(_free_ports(3)),
        "PROGALIGN_SLURM_NODES": "2",
        "PROGALIGN_SLURM_GPUS": "1",
    }
    script = str(ROOT / "scripts/slurm-cluster.sh")
    full = {**os.environ, **env}
    started = subprocess.run(
        ["bash", script, "start"], env=full, capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        skip_or_fail(f"the two-node cluster did not start: {started.stdout}{started.stderr}")
    try:
        yield {
            **env,
            "SLURM_CONF": str(state / "slurm.conf"),
            "PROGALIGN_SLURM_PARTITION": "debug",
            "PROGALIGN_SLURM_ACCOUNT": "",
        }
    finally:
        stopped = subprocess.run(
            ["bash", script, "stop"], env=full, capture_output=True, text=True, timeout=120
        )
        assert stopped.returncode == 0, stopped.stderr


def _corpus(path: Path, n: int = 24) -> Path:
    rows = [
        {
            "content": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60)),
            "creation_year": 1650,
            "source_dataset": "test",
            "license": "public domain",
            "source": "test",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _launch(machines: int) -> str:
    # No --cpu: under it accelerate starts each process alone (no process group). DDP on a
    # machine without GPUs (CUDA_VISIBLE_DEVICES empty) runs gloo, as in tests/test_distributed.py.
    return f"accelerate launch --config_file {DDP} --num_machines {machines} --num_processes 2"


def _train_argv(base: Path, corpus: Path, out: str, epochs: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "progalign.cli",
        "train-hislm",
        "--base",
        str(base),
        "--corpus",
        str(corpus),
        "--out",
        out,
        "--epochs",
        str(epochs),
        "--max-seq-len",
        "32",
        "--batch-size",
        "2",
    ]


# A two-node rule's resources in the two forms docs/slurm.md gives: as the resource plan
# writes them (GPUs as the job's total; the profile's `mpi` default keeps the command out of
# the jobstep's one-node srun), and with GPUs per node, explicit tasks and mpi.
RULE_RESOURCES = {
    "planned": "nodes=2, tasks=2, gpu=2, mem_mb=2000, runtime=20",
    "per-node": 'nodes=2, tasks=2, mpi="srun", gres="gpu:1", mem_mb=2000, runtime=20',
}


def _snakefile(base: Path, corpus: Path, resources: str, epochs: int = 1) -> str:
    """One training rule asking for 2 nodes x 1 task x 1 GPU (docs/slurm.md)."""
    argv = _train_argv(base, corpus, "{output}", epochs)
    command = shlex.join(argv).replace("'{output}'", "{output}")
    return f"""
rule train:
    output:
        directory("slurm-model"),
    log:
        "train.log",
    threads: 1
    resources:
        {resources},
    params:
        launch={_launch(2)!r},
    shell:
        "{command} --launch {{params.launch:q}} > {{log}} 2>&1"
"""


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PROGALIGN_LAUNCH"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return {**env, **extra}


SNAKEMAKE_SLURM = (
    sys.executable,
    "-m",
    "snakemake",
    "--executor",
    "slurm",
    "--profile",
    str(PROFILE),
    "--jobs",
    "1",
    "--latency-wait",
    "5",
    "--retries",
    "0",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
)


def _scontrol(job_id: str, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        ["scontrol", "show", "job", "-d", "-o", job_id],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(f.split("=", 1) for f in done.stdout.split() if "=" in f)


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def local_reference(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The corpus, and the model trained from it locally by 2 processes on one machine."""
    work = tmp_path_factory.mktemp("local")
    corpus = _corpus(work / "C017.jsonl")
    start = time.monotonic()
    local = subprocess.run(
        [*_train_argv(tiny_model, corpus, str(work / "local-model")), "--launch", _launch(1)],
        cwd=work,
        capture_output=True,
        text=True,
        env=_env({}),
        timeout=900,
    )
    assert local.returncode == 0, local.stderr[-4000:]
    return {"corpus": corpus, "model": work / "local-model", "seconds": time.monotonic() - start}


@pytest.mark.slow
@pytest.mark.system
@pytest.mark.parametrize("form", sorted(RULE_RESOURCES))
def test_a_two_node_training_rule_runs_through_srun_and_matches_the_local_run(
    form: str,
    cluster: dict[str, str],
    tiny_model: Path,
    local_reference: dict[str, Any],
    tmp_path: Path,
    ci_report: Callable[[str], None],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    corpus = local_reference["corpus"]
    (work / "Snakefile").write_text(_snakefile(tiny_model, corpus, RULE_RESOURCES[form]))

    env = _env(cluster)
    start = time.monotonic()
    run = subprocess.run(
        SNAKEMAKE_SLURM,
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    slurm_s = time.monotonic() - start
    log = (work / "train.log").read_text() if (work / "train.log").exists() else ""
    assert run.returncode == 0, run.stderr[-4000:] + "\n--- train.log\n" + log[-4000:]

    # One SLURM job, two nodes, one task each, one GPU per node, completed.
    jobs = SUBMITTED.findall(run.stderr + run.stdout)
    assert len(jobs) == 1, run.stderr[-2000:]
    job = _scontrol(jobs[0][1], env)
    assert job["JobState"] == "COMPLETED"
    assert (job["NumNodes"], job["NumTasks"], job["CPUs/Task"]) == ("2", "2", "1")
    nodes = subprocess.run(
        ["scontrol", "show", "hostnames", job["NodeList"]],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert len(set(nodes)) == 2
    if form == "planned":
        assert job["TresPerJob"] == "gres:gpu:2"  # 1 + 1: each node has one
    else:
        assert job["TresPerNode"] == "gres:gpu:1"

    # The ranks started through srun, one accelerate launcher per node: machine ranks 0 and 1,
    # each on its own node, with the first node as main address.
    ranks = dict(re.findall(r"slurm_task: machine_rank=(\d+) node=(\S+)", log))
    assert ranks == {"0": nodes[0], "1": nodes[1]}, log[-3000:]
    assert f"main_process_ip={nodes[0]} " in log

    # One process group over both nodes, not two ranks training apart: 85 blocks of 32 tokens,
    # 2 per rank and step, 2 ranks -> ceil(85 / 4) = 22 steps (a rank alone would take 43).
    for folder, machines in ((work / "slurm-model", 2), (local_reference["model"], 1)):
        record = json.loads((folder / "progalign_model.json").read_text())
        distributed = record["provenance"]["distributed"]
        assert distributed["world_size"] == 2 and distributed["num_machines"] == machines
        assert (distributed["engine"], distributed["backend"]) == ("ddp", "gloo")
        assert record["corpus"]["train_blocks"] == 85
        assert record["history"][-1]["step"] == 22

    difference = _max_difference(work / "slurm-model", local_reference["model"])
    ci_report(
        f"{form} resources, 2 nodes x 1 rank through srun: {slurm_s:.0f} s (local 2 processes "
        f"{local_reference['seconds']:.0f} s); nodes {','.join(nodes)}; "
        f"max |w_slurm - w_local| = {difference:.3g}"
    )
    assert difference <= WEIGHT_TOLERANCE
    assert torch.isfinite(torch.tensor(difference))


def _processes() -> dict[int, tuple[int, list[bytes], str]]:
    """Every process: pid -> (parent pid, command line, working directory)."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (proc / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            table[int(proc.name)] = (
                parent,
                (proc / "cmdline").read_bytes().split(b"\0"),
                os.readlink(proc / "cwd"),
            )
    return table


def _rank_pids(work: Path, machine_rank: str) -> list[int]:
    """The training ranks (``-m progalign.training.rank``, working in ``work``) that the
    accelerate launcher of machine ``machine_rank`` started."""
    table = _processes()

    def launched_by_machine(pid: int) -> bool:
        while pid in table and pid > 1:
            parent, cmdline, _ = table[pid]
            if b"--machine_rank" in cmdline:
                return cmdline[cmdline.index(b"--machine_rank") + 1] == machine_rank.encode()
            pid = parent
        return False

    return [
        pid
        for pid, (_, cmdline, cwd) in table.items()
        if b"progalign.training.rank" in cmdline
        and b"accelerate" not in b" ".join(cmdline)
        and cwd == str(work)
        and launched_by_machine(pid)
    ]


@pytest.mark.slow
@pytest.mark.system
def test_a_killed_rank_fails_the_slurm_job_at_once_and_leaves_no_model(
    cluster: dict[str, str],
    tiny_model: Path,
    tmp_path: Path,
    ci_report: Callable[[str], None],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    corpus = _corpus(work / "C017.jsonl", n=200)
    (work / "Snakefile").write_text(
        _snakefile(tiny_model, corpus, RULE_RESOURCES["planned"], epochs=3)
    )
    env = _env(cluster)
    with (work / "snakemake.log").open("wb") as out:
        proc = subprocess.Popen(
            SNAKEMAKE_SLURM, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 600
        victims: list[int] = []
        while not victims and proc.poll() is None and time.monotonic() < deadline:
            log = (work / "train.log").read_text() if (work / "train.log").exists() else ""
            if "'loss'" in log:  # both ranks are in the training loop
                victims = _rank_pids(work, "1")
            time.sleep(0.5)
        assert victims, "rank 1 never seen training:\n" + (work / "snakemake.log").read_text()
        job_id = SUBMITTED.findall((work / "snakemake.log").read_text())[0][1]
        os.kill(victims[0], signal.SIGKILL)
        killed_at = time.monotonic()
        while _scontrol(job_id, env)["JobState"] in ("RUNNING", "COMPLETING"):
            assert time.monotonic() - killed_at < 300, "the job outlived its killed rank"
            time.sleep(0.5)
        ended_s = time.monotonic() - killed_at  # srun --kill-on-bad-exit at work
        rc = proc.wait(timeout=600)
        noticed_s = time.monotonic() - killed_at  # plus Snakemake's squeue polls
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (work / "snakemake.log").read_text()
    log = (work / "train.log").read_text()
    assert rc != 0, text[-3000:]
    assert _scontrol(job_id, env)["JobState"] == "FAILED"
    assert "training stage hislm" in log and "failed with exit status" in log, log[-3000:]
    assert not (work / "slurm-model").exists()
    leftovers = [p.name for p in work.glob(".slurm-model*") if p.name != ".slurm-model.launch.log"]
    assert not leftovers  # only the ranks' log, which the error names, stays
    assert not _rank_pids(work, "0"), "rank 0 outlived the killed rank"
    ci_report(
        f"rank 1 (pid {victims[0]}) killed: SLURM job {job_id} FAILED {ended_s:.1f} s later, "
        f"Snakemake saw it after {noticed_s:.0f} s"
    )
    assert ended_s < 60  # not the collective's 30-minute timeout
