"""The GPU image wired in: under --sdm apptainer the model rules that need CUDA or vLLM run in the
GPU image and every other rule in the CPU image; the lock file pins both, a missing or floating
GPU pin stops a GPU run before any job, and `progalign images lock` / `scripts/build-images.sh
--lock` is the one-command update. A recording `apptainer` shim (tests/test_containers.py)
stands in for the binary."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from progalign.errors import InputError, SettingError
from progalign.images.lock import check_ref, pin_image, pinned, read_lock
from system_workflow import ROOT, copy_checkout, require_binaries, snakemake
from test_containers import _shim_path

CPU_REF = "docker://localhost/progalign@sha256:" + "ab" * 32
GPU_REF = "docker://ghcr.io/example/progalign@sha256:" + "cd" * 32
#: Model rules that evaluate through the backend: the GPU image under the vLLM backend.
EVALUATING = {
    "values_base",
    "values_judge",
    "preferences",
    "answers",
    "history_step",
    "humans_step",
    "humans_step_feedback",
}
NV = "--apptainer-args=--nv"  # `--apptainer-args "--nv"` is read by argparse as an option
PARTS = ("env", "backend", "vllm", "train", "two-process")  # measurements/gpu_check.sh

# Prints "rule has_shell image" for every rule of the given config files, as Snakemake parsed
# them (the container directive is per rule).
RULE_IMAGES = """
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings, DeploymentMethod, DeploymentSettings, ResourceSettings,
)

with SnakemakeApi() as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[1:]]),
        deployment_settings=DeploymentSettings(
            deployment_method={DeploymentMethod.APPTAINER}, apptainer_args="--nv"
        ),
        snakefile=Path("Snakefile"),
    )
    for rule in workflow._workflow.rules:
        print(rule.name, rule.shellcmd is not None, rule.container_img)
"""


def _repo(tmp_path: Path, lock: dict[str, dict[str, str]]) -> Path:
    repo = copy_checkout(tmp_path / "repo")
    (repo / "containers/images.lock.yaml").write_text(yaml.safe_dump(lock))
    return repo


def _overlay(repo: Path, name: str, settings: dict) -> str:
    path = repo / f"configs/{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path.relative_to(repo))


def _rule_images(repo: Path, *configs: str, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", RULE_IMAGES, *configs],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" ", 2) for line in done.stdout.splitlines() if line.count(" ") >= 2]
    return {name: image for name, has_shell, image in rows if has_shell == "True"}


# --- the lock file and its one-command update ----------------------------------------------


def test_only_digest_references_and_sif_files_with_a_sha256_are_pinned() -> None:
    assert check_ref(GPU_REF, None, "here").ref == GPU_REF
    for floating in ("docker://ghcr.io/example/progalign:0.1.0-gpu", "progalign-gpu", "x.sif"):
        with pytest.raises(SettingError, match=r"here: .*(is not pinned|no recorded sha256)"):
            check_ref(floating, None, "here")
    with pytest.raises(SettingError, match=r"did you mean docker://ghcr\.io/x@sha256"):
        check_ref("ghcr.io/x@sha256:" + "0" * 64, None, "here")
    with pytest.raises(SettingError, match="64 lowercase hex"):
        check_ref("x.sif", "ABC", "here")


def test_pin_image_replaces_one_target_and_keeps_the_other(tmp_path: Path) -> None:
    lock = tmp_path / "images.lock.yaml"
    lock.write_text(yaml.safe_dump({"cpu": {"ref": CPU_REF, "image_id": "sha256:1"}}))
    pin_image(lock, "gpu", GPU_REF, provenance={"built_with": "podman"})
    data = read_lock(lock)
    assert data["cpu"] == {"ref": CPU_REF, "image_id": "sha256:1"}
    assert data["gpu"]["ref"] == GPU_REF and data["gpu"]["built_with"] == "podman"
    assert lock.read_text().startswith("# Written by scripts/build-images.sh")
    pin_image(lock, "gpu", GPU_REF.replace("cd", "ef"))  # the old build details go
    assert set(read_lock(lock)["gpu"]) == {"ref", "recorded_at"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.lock.yaml"]  # no temp left
    pin = pinned("gpu", lock)
    assert pin is not None and pin.ref.endswith("ef" * 32) and pin.source == str(lock)


def test_a_sif_is_pinned_with_the_sha256_of_its_file(tmp_path: Path) -> None:
    lock, sif = tmp_path / "lock.yaml", tmp_path / "gpu.sif"
    sif.write_bytes(b"an image")
    entry = pin_image(lock, "gpu", str(sif))
    assert entry["sif_sha256"] == hashlib.sha256(b"an image").hexdigest()
    with pytest.raises(SettingError, match=r"sha256 is .*, not the given"):
        pin_image(lock, "gpu", str(sif), sha256="0" * 64)
    with pytest.raises(SettingError, match="no recorded sha256"):
        pin_image(lock, "gpu", str(tmp_path / "elsewhere.sif"))
    assert pin_image(lock, "gpu", "/cluster/gpu.sif", sha256="1" * 64)["sif_sha256"] == "1" * 64


def test_a_malformed_lock_file_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "lock.yaml"
    lock.write_text("cpu: [unclosed\n")
    with pytest.raises(InputError, match=str(lock)):
        pinned("cpu", lock)
    lock.write_text("- a list\n")
    with pytest.raises(InputError, match="mapping of image target"):
        read_lock(lock)
    with pytest.raises(SettingError, match="unknown image target 'tpu'"):
        pinned("tpu", tmp_path / "none.yaml")


def test_build_images_lock_is_one_validated_command(tmp_path: Path) -> None:
    lock = tmp_path / "images.lock.yaml"
    lock.write_text(yaml.safe_dump({"cpu": {"ref": CPU_REF}}))
    env = {**os.environ, "PROGALIGN_IMAGES_LOCK": str(lock)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "scripts/build-images.sh", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    done = run("--lock", "gpu", GPU_REF)
    assert done.returncode == 0, done.stderr
    assert f"gpu pinned to {GPU_REF}" in done.stderr
    assert read_lock(lock)["gpu"]["ref"] == GPU_REF and read_lock(lock)["cpu"]["ref"] == CPU_REF
    before = lock.read_bytes()
    bad = run("--lock", "gpu", "docker://ghcr.io/example/progalign:latest")
    assert bad.returncode == 2 and "is not pinned" in bad.stderr
    assert lock.read_bytes() == before
    assert run("--lock", "gpu", GPU_REF, "cpu").returncode == 2
    shown = subprocess.run(
        [sys.executable, "-m", "progalign.cli", "images", "show"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert yaml.safe_load(shown.stdout) == {"cpu": CPU_REF, "gpu": GPU_REF}


def test_gpu_image_runs_progalign_with_the_cpu_images_transformers() -> None:
    """vLLM caps transformers below what progalign needs: the GPU image installs the CPU lock's
    transformers over it, without dependencies, in both recipes."""

    def pins(path: str) -> dict[str, str]:
        rows = (ROOT / path).read_text().splitlines()
        return dict(r.split("==", 1) for r in rows if "==" in r and not r.startswith("#"))

    overrides = pins("envs/gpu-overrides.txt")
    assert overrides == {"transformers": pins("envs/cpu.txt")["transformers"]}
    assert pins("envs/gpu.txt")["transformers"] != overrides["transformers"]  # vLLM's pick
    dockerfile = (ROOT / "containers/Dockerfile").read_text().split("AS gpu\n", 1)[1]
    definition = (ROOT / "containers/gpu.def").read_text()
    for recipe in (dockerfile, definition):
        lock, override = recipe.index("envs/gpu.txt\n"), recipe.index("--no-deps")
        assert lock < override and "envs/gpu-overrides.txt" in recipe[override:]


# --- which image each rule runs in --------------------------------------------------------


def test_vllm_backend_puts_exactly_the_evaluating_rules_in_the_gpu_image(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"cpu": {"ref": CPU_REF}, "gpu": {"ref": GPU_REF}})
    vllm = _overlay(repo, "vllm", {"evaluation": {"backend": "vllm"}})
    images = _rule_images(repo, "configs/ci.yaml", vllm, env=_shim_path(tmp_path))
    gpu = {name for name, image in images.items() if image == GPU_REF}
    assert gpu == EVALUATING & images.keys() and "values_judge" in gpu
    cpu = {name for name, image in images.items() if image == CPU_REF}
    assert cpu == images.keys() - gpu
    assert {"questionnaire", "tiny_model", "examinee_step", "score"} <= cpu


def test_paper_preset_runs_model_rules_in_the_gpu_image(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"cpu": {"ref": CPU_REF}, "gpu": {"ref": GPU_REF}})
    env = _shim_path(tmp_path)
    # Parsing the rules is not a dry run: the Hub pin check wants pins or allow_unpinned.
    unpinned = _overlay(repo, "unpinned", {"models": {"hub": {"allow_unpinned": True}}})
    images = _rule_images(repo, "configs/paper-8b.yaml", unpinned, env=env)
    gpu = {name for name, image in images.items() if image == GPU_REF}
    assert EVALUATING | {"examinee_step"} <= gpu  # the plan gives every model rule GPUs
    assert {"hub_model", "questionnaire", "score", "tables"} <= images.keys() - gpu
    assert all(image == CPU_REF for name, image in images.items() if name not in gpu)
    done = snakemake(
        repo, "-n", "-p", "--sdm", "apptainer", NV, "--cores", "2", "--configfile",
        "configs/paper-8b.yaml", env=env, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert f"Singularity image {GPU_REF} will be pulled." in out
    assert f"Singularity image {CPU_REF} will be pulled." in out
    assert "progalign values" in out  # -p: the commands are printed


# --- a GPU run needs a pinned GPU image; a CPU run does not -------------------------------


@pytest.mark.parametrize(
    ("gpu_entry", "message"),
    [
        (None, "pins none"),
        ({"ref": "docker://ghcr.io/example/progalign:0.1.0-gpu"}, "is not pinned"),
    ],
)
def test_a_gpu_run_without_a_pinned_gpu_image_stops_before_any_job(
    tmp_path: Path, gpu_entry: dict[str, str] | None, message: str
) -> None:
    lock = {"cpu": {"ref": CPU_REF}} | ({"gpu": gpu_entry} if gpu_entry else {})
    repo = _repo(tmp_path, lock)
    vllm = _overlay(repo, "vllm", {"evaluation": {"backend": "vllm"}})
    env = _shim_path(tmp_path)
    done = snakemake(
        repo, "--sdm", "apptainer", NV, "--cores", "2", "--configfile", "configs/ci.yaml", vllm,
        env=env, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert message in out and "containers/images.lock.yaml" in out, out[-3000:]
    assert "scripts/build-images.sh gpu" in out and "progalign images lock gpu" in out
    log = Path(env["APPTAINER_SHIM_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    assert not [c for c in calls if c.startswith(("pull", "exec"))]  # nothing pulled or run
    assert not (repo / "resources").exists() and not (repo / "results").exists()


def test_a_cpu_run_ignores_a_missing_or_floating_gpu_pin(tmp_path: Path) -> None:
    floating = {"ref": "docker://ghcr.io/example/progalign:latest"}
    repo = _repo(tmp_path, {"cpu": {"ref": CPU_REF}, "gpu": floating})
    env = _shim_path(tmp_path)
    args = ("--sdm", "apptainer", "--cores", "2", "--configfile", "configs/ci.yaml")
    done = snakemake(repo, "-n", *args, env=env, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert f"Singularity image {CPU_REF} will be pulled." in out and "ghcr.io" not in out
    (repo / "containers/images.lock.yaml").write_text(yaml.safe_dump({"cpu": {"ref": CPU_REF}}))
    assert snakemake(repo, "-n", *args, env=env, timeout=600).returncode == 0


@pytest.mark.slow
def test_jobs_run_through_apptainer_exec_in_their_rules_image(tmp_path: Path) -> None:
    """A real run with one planned GPU per model job: the judges are exec'd in the GPU image,
    the questionnaire and the tiny models in the CPU image (the shim runs them on the host)."""
    repo = _repo(tmp_path, {"cpu": {"ref": CPU_REF}, "gpu": {"ref": GPU_REF}})
    gpu = _overlay(repo, "gpu", {"resources": {"gpus_per_node": 1}})
    env = _shim_path(tmp_path)
    done = snakemake(
        repo, "--sdm", "apptainer", NV, "--cores", "2", "--resources", "gpu=1",
        "--configfile", "configs/ci.yaml", gpu, "--until", "values_judge",
        env=env, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    calls = Path(env["APPTAINER_SHIM_LOG"]).read_text().splitlines()
    pulled = {c.split()[-1]: c.split()[2] for c in calls if c.startswith("pull --name ")}
    assert set(pulled) == {CPU_REF, GPU_REF}, calls
    images = {ref: Path(path).name for ref, path in pulled.items()}
    execs = [c for c in calls if c.startswith("exec ")]
    judges = [c for c in execs if "progalign values " in c]
    others = [c for c in execs if "progalign values " not in c]
    assert len(judges) == 3 and all(images[GPU_REF] in c and "--nv" in c for c in judges)
    assert others and all(images[CPU_REF] in c for c in others), others
    assert any("questionnaire fetch" in c for c in others)
    assert len(list((repo / "results/values/tiny").glob("*.json"))) == 3


# --- measurements/gpu_check.sh, on its CPU path -------------------------------------------


@pytest.mark.slow
def test_gpu_check_script_runs_on_the_cpu_path(tmp_path: Path) -> None:
    """The GPU check runs from a copy of the repository; on the CPU (the device switch of the
    script) every part but vLLM's succeeds, with numbers that follow from what each part does."""
    repo = copy_checkout(tmp_path / "repo")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PROGALIGN_GPU_CHECK_DEVICE": "cpu",
        "PROGALIGN_GPU_CHECK_TWO_PROCESS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "measurements/gpu_check.sh", str(out)],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "gpu_check: done" in (out / "gpu_check.log").read_text()
    parts = {p: yaml.safe_load((out / f"{p}.json").read_text()) for p in PARTS}
    expected = dict.fromkeys(PARTS, "ok") | {"vllm": "skipped"}  # vLLM: CUDA only
    assert {p: r["status"] for p, r in parts.items()} == expected
    backend = parts["backend"]
    same, bf16 = backend["float32 on cpu"], backend["bfloat16 on cpu"]
    assert same["max_abs_logprob_diff"] == 0.0 and same["argmax_agreement"] == "38/38"
    assert 0 < bf16["max_abs_logprob_diff"] < 0.5  # bf16 keeps ~3 significant digits
    for stage in ("dpo", "sft"):
        trained = parts["train"][stage]
        assert trained["optimiser_steps"] == 1  # 4 samples, batch size 4
        # AdamW's first step moves each weight by lr * g / (|g| + eps): at most lr = 1e-3.
        assert 0 < trained["max_abs_weight_change"] <= 1e-3 + 1e-6
    two = parts["two-process"]
    assert two["optimiser_steps"] == 1 and two["max_abs_weight_diff_vs_1_process"] < 1e-4
    assert two["train_loss"] == pytest.approx(parts["train"]["dpo"]["train_loss"], abs=1e-4)


def test_gpu_check_skips_training_without_trl(tmp_path: Path) -> None:
    """A machine without TRL: the training part says so and is skipped, not failed."""
    script = (
        "import runpy, sys; sys.modules['trl'] = None; "
        f"sys.argv = ['gpu_check.py', 'train', {str(tmp_path)!r}]; "
        "runpy.run_path('measurements/gpu_check.py', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = yaml.safe_load((tmp_path / "train.json").read_text())
    assert result["status"] == "skipped" and "missing trl" in result["reason"]


# --- the publish path, against a real registry on loopback ---------------------------------


@pytest.mark.slow
@pytest.mark.system
@pytest.mark.network
def test_push_records_the_digest_the_registry_serves(tmp_path: Path) -> None:
    """`build-images.sh --push` against a Docker registry (distribution) on loopback: the lock's
    ref is REGISTRY/progalign@<digest>, and that digest is the one the registry returns for the
    pushed tag (not the local one)."""
    require_binaries("podman", "runc", "debootstrap", "docker-registry", why="registry push")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    registry = f"127.0.0.1:{port}"
    lock = tmp_path / "images.lock.yaml"
    with subprocess.Popen(
        ["docker-registry", "serve", str(config)], stderr=subprocess.DEVNULL
    ) as server:
        try:
            _wait_for(f"http://{registry}/v2/")
            done = subprocess.run(
                ["bash", "scripts/build-images.sh", "--push", registry, "cpu"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=3000,
                env={
                    **os.environ,
                    "PROGALIGN_IMAGES_LOCK": str(lock),
                    "PROGALIGN_PUSH_TLS_VERIFY": "false",
                },
            )
            assert done.returncode == 0, done.stderr[-4000:]
            version = _project_version()
            request = urllib.request.Request(
                f"http://{registry}/v2/progalign/manifests/{version}-cpu",
                method="HEAD",
                headers={"Accept": ", ".join(MANIFEST_TYPES)},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                served = answer.headers["Docker-Content-Digest"]
        finally:
            server.terminate()
    entry = read_lock(lock)["cpu"]
    assert entry["ref"] == f"docker://{registry}/progalign@{served}"
    assert entry["local"].split("@")[1] != served  # compressed on the way: another manifest
    assert int(entry["size_bytes"]) > 10**9 and int(entry["build_seconds"]) >= 0


MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
