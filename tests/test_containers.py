"""Container images: the Apptainer definitions parse, every rule gets the pinned image under
--sdm apptainer (a recording `apptainer` shim stands in for the binary), and the real CPU image,
built and run with podman, gives the same results as the host (slow, system)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from spython.main.parse.parsers import SingularityParser

from system_workflow import (
    ROOT,
    SYSTEM_CONFIG,
    copy_checkout,
    local_reference,
    require_binaries,
    snakemake,
)

DIGEST_REF = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]+@sha256:[0-9a-f]{64}$")
LOCK_REF = "docker://localhost/progalign@sha256:" + "ab" * 32

# Stands in for apptainer: logs every call; `exec` runs the command on the host.
SHIM = """#!/usr/bin/env bash
echo "$*" >> "$APPTAINER_SHIM_LOG"
case "$1" in
  --version|version) echo "apptainer version 1.4.5" ;;
  pull) touch "$3" ;;
  exec)  # exec [--option [value]]... IMAGE COMMAND...
    shift
    while [ $# -gt 0 ]; do
      case "$1" in --home|--bind|--pwd|--env|-B) shift 2 ;; --*) shift ;; *) break ;; esac
    done
    shift
    exec "$@" ;;
  *) echo "shim: unexpected $*" >&2; exit 2 ;;
esac
"""


@pytest.mark.parametrize(("name", "lock"), [("cpu", "envs/cpu.txt"), ("gpu", "envs/gpu.txt")])
def test_apptainer_definitions_parse_and_install_the_lock_files(name: str, lock: str) -> None:
    recipe = SingularityParser(str(ROOT / f"containers/{name}.def")).recipe["spython-base"]
    assert DIGEST_REF.match(f"docker://{recipe.fromHeader}"), recipe.fromHeader
    copied = {line.split()[0] for line in recipe.files}
    assert {lock, "src", "pyproject.toml"} <= copied
    assert all((ROOT / path).exists() for path in copied)
    install = "\n".join(recipe.install)
    assert f"-r /opt/progalign/{lock}" in install and "--no-deps" in install
    assert any("/opt/venv/bin" in line for line in recipe.environ)
    # The Dockerfile target of the same name installs the same lock file.
    dockerfile = (ROOT / "containers/Dockerfile").read_text()
    stage = dockerfile.split(f"AS {name}\n", 1)[1].split("\nFROM ", 1)[0]
    assert f"-r {lock}" in stage


def test_gpu_lock_pins_vllm_and_cuda_torch_apart_from_the_cpu_lock() -> None:
    def pins(path: str) -> dict[str, str]:
        lines = (ROOT / path).read_text().splitlines()
        return dict(
            line.split("==", 1) for line in lines if "==" in line and not line.startswith("#")
        )

    gpu, cpu = pins("envs/gpu.txt"), pins("envs/cpu.txt")
    assert gpu["vllm"].startswith(("0.31.", "0.32.", "0.33.")) and "vllm" not in cpu
    assert gpu["torch"] != cpu["torch"] == "2.13.0"


def _shim_path(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "apptainer"
    shim.write_text(SHIM)
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "APPTAINER_SHIM_LOG": str(tmp_path / "apptainer.log"),
    }


@pytest.fixture()
def pinned_repo(tmp_path: Path) -> Path:
    """A scratch checkout whose images.lock.yaml pins the CPU image to LOCK_REF."""
    repo = copy_checkout(tmp_path / "repo")
    (repo / "containers/images.lock.yaml").write_text(yaml.safe_dump({"cpu": {"ref": LOCK_REF}}))
    return repo


# Prints "rule has_shell image" for every rule, as Snakemake parsed them.
RULE_IMAGES = """
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings

with SnakemakeApi() as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[Path("configs/ci.yaml")]),
        snakefile=Path("Snakefile"),
    )
    for rule in workflow._workflow.rules:
        print(rule.name, rule.shellcmd is not None, rule.container_img)
"""


def test_sdm_apptainer_dry_run_pulls_the_pinned_image(pinned_repo: Path, tmp_path: Path) -> None:
    done = snakemake(
        pinned_repo,
        "-n",
        "--sdm",
        "apptainer",
        "--cores",
        "2",
        "--configfile",
        "configs/ci.yaml",
        env=_shim_path(tmp_path),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Singularity image {LOCK_REF} will be pulled." in done.stdout + done.stderr


def test_every_shell_rule_declares_the_pinned_cpu_image(pinned_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RULE_IMAGES],
        cwd=pinned_repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rules = [line.split(" ", 2) for line in done.stdout.splitlines() if line.count(" ") >= 2]
    shell_rules = {name: image for name, has_shell, image in rules if has_shell == "True"}
    assert len(shell_rules) >= 3, done.stdout
    bare = sorted(name for name, image in shell_rules.items() if image != LOCK_REF)
    assert not bare, f"rules without `container: CPU_IMAGE`: {bare}"


def test_a_floating_tag_is_rejected_naming_the_lock_file(pinned_repo: Path) -> None:
    (pinned_repo / "containers/images.lock.yaml").write_text(
        yaml.safe_dump({"cpu": {"ref": "docker://docker.io/library/debian:bookworm"}})
    )
    done = snakemake(pinned_repo, "-n", "--configfile", "configs/ci.yaml", timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "is not pinned" in out and "images.lock.yaml" in out


def test_a_sif_image_is_used_only_with_its_recorded_sha256(
    pinned_repo: Path, tmp_path: Path
) -> None:
    sif = pinned_repo / "progalign-cpu.sif"
    sif.write_bytes(b"not really a SIF, but bytes with a sha256")
    lock = pinned_repo / "containers/images.lock.yaml"
    env = _shim_path(tmp_path)
    args = ("-n", "--sdm", "apptainer", "--cores", "2", "--configfile", "configs/ci.yaml")
    lock.write_text(yaml.safe_dump({"cpu": {"ref": sif.name, "sif_sha256": "0" * 64}}))
    wrong = snakemake(pinned_repo, *args, env=env, timeout=600)
    assert wrong.returncode != 0
    assert "sha256 of progalign-cpu.sif differs" in wrong.stdout + wrong.stderr
    digest = hashlib.sha256(sif.read_bytes()).hexdigest()
    lock.write_text(yaml.safe_dump({"cpu": {"ref": sif.name, "sif_sha256": digest}}))
    right = snakemake(pinned_repo, *args, env=env, timeout=600)
    assert right.returncode == 0, right.stderr[-3000:]


@pytest.mark.slow
def test_jobs_are_executed_through_apptainer_exec_with_the_image(
    pinned_repo: Path, tmp_path: Path
) -> None:
    env = _shim_path(tmp_path)
    done = snakemake(
        pinned_repo,
        "--sdm",
        "apptainer",
        "--cores",
        "2",
        "--configfile",
        "configs/ci.yaml",
        "--until",
        "questionnaire",
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    calls = Path(env["APPTAINER_SHIM_LOG"]).read_text().splitlines()
    assert any(c.startswith("pull ") and c.endswith(LOCK_REF) for c in calls)
    pulled = pinned_repo / ".snakemake/singularity"
    image = next(pulled.glob("*.simg"))
    execs = [c for c in calls if c.startswith("exec ")]
    assert execs and all(str(image) in c or image.name in c for c in execs), execs
    assert list((pinned_repo / "resources/questionnaire").glob("*/items.jsonl"))


@pytest.mark.slow
@pytest.mark.system
@pytest.mark.network
def test_cpu_image_built_with_podman_gives_the_host_results(
    tmp_path_factory: pytest.TempPathFactory,
    ci_report: Callable[[str], None],
) -> None:
    require_binaries("podman", "runc", "debootstrap", why="podman CPU image")
    reference, local_s = local_reference(tmp_path_factory.getbasetemp())
    # The reference copy's own script: image, container run and reference share one snapshot.
    done = subprocess.run(
        ["bash", str(reference / "scripts/ci-container.sh"), str(reference / SYSTEM_CONFIG)],
        capture_output=True,
        text=True,
        timeout=3000,
        env={
            **os.environ,
            "PROGALIGN_CI_REFERENCE": str(reference),
            "PROGALIGN_VENV": str(ROOT / ".venv"),
        },
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert re.search(r"compare_results: \d+ result files equal", out), out[-2000:]
    timings = re.search(r"ci-container timings: build (\d+) s, containerised run (\d+) s", out)
    assert timings, out[-2000:]
    ci_report(f"podman: build {timings[1]} s, container run {timings[2]} s, local {local_s:.0f} s")
