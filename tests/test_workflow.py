"""The Snakemake workflow on configs/ci.yaml, end to end, in a scratch copy of the repository;
dry runs of the paper presets; cached mode; config validation."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("values", "scores", "steps", "examinee_values")
FIGURES = ("values_heatmap", "group_trajectories", "similarity_curves", "score_intervals")


def _snakemake(workdir: Path, *args: str, timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml", "configs", "workflow", "containers", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy(src, dest / name)
    return dest


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    return _copy_workflow(tmp_path)


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """configs/ci.yaml run once for the module: (workdir, wall seconds)."""
    workdir = _copy_workflow(tmp_path_factory.mktemp("ci-run"))
    started = time.perf_counter()
    done = _snakemake(workdir, "--configfile", "configs/ci.yaml")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.network
def test_every_vector_and_score_follows_from_the_per_item_tables(
    ci_run: tuple[Path, float],
) -> None:
    from recompute import check_recomputes

    workdir, _ = ci_run
    # 3 judges x 19 + 3 examinee vectors x 19 + 3 runs x (score, shift)
    assert check_recomputes(workdir / "results/tables") == 3 * 19 + 3 * 19 + 3 * 2


@pytest.mark.slow
@pytest.mark.network
def test_ci_config_produces_tables_figures_and_leaderboard(ci_run: tuple[Path, float]) -> None:
    workdir, _ = ci_run
    for name in (*TABLES, "items", "item_probabilities"):
        with open(workdir / f"results/tables/{name}.csv", encoding="utf-8") as handle:
            assert len(list(csv.DictReader(handle))) > 0, name
    with open(workdir / "results/tables/value_differences.csv", encoding="utf-8") as handle:
        pairs = {(r["century_a"], r["century_b"]) for r in csv.DictReader(handle)}
    assert pairs == {("C014", "C016"), ("C016", "C017"), ("C014", "C017")}  # + first-last
    board = (workdir / "results/report/leaderboard.md").read_text(encoding="utf-8")
    assert "Historical models: dimensions (of 19)" in board and "C014→C017" in board
    with open(workdir / "results/tables/scores.csv", encoding="utf-8") as handle:
        scores = list(csv.DictReader(handle))
    assert {(r["challenge"], r["algorithm"]) for r in scores} == {
        (c, "ExtrapolativeRLHF") for c in ("follow", "predict", "coevolve")
    }
    for row in scores:
        assert float(row["ci_low"]) <= float(row["score"]) + 1e-9
        assert float(row["score"]) <= float(row["ci_high"]) + 1e-9
    steps = {(r["challenge"], r["algorithm"]): int(r["steps"]) for r in scores}
    assert steps[("follow", "ExtrapolativeRLHF")] == 2
    assert steps[("predict", "ExtrapolativeRLHF")] == 1
    for figure in FIGURES:
        assert (workdir / f"results/report/figures/{figure}.png").stat().st_size > 1000
    html = (workdir / "results/report/leaderboard.html").read_text(encoding="utf-8")
    assert "ExtrapolativeRLHF" in html and "data:image/png;base64" in html
    # the trained checkpoints were temporary; their states and values stay
    assert not list((workdir / "results/runs").rglob("step*/model"))
    assert list((workdir / "results/runs").rglob("step*/state.json"))
    score = json.loads(
        (workdir / "results/scores/coevolve/ExtrapolativeRLHF/seed0.json").read_text()
    )
    assert "RLOO" in score["algorithm"]["deviation"]
    assert len(score["vectors"]["simulated"]) == 2


@pytest.mark.slow
@pytest.mark.network
def test_rerun_has_nothing_to_do_and_report_builds(ci_run: tuple[Path, float]) -> None:
    workdir, _ = ci_run
    started = time.perf_counter()
    again = _snakemake(workdir, "--configfile", "configs/ci.yaml")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert time.perf_counter() - started < 120
    report = _snakemake(workdir, "--configfile", "configs/ci.yaml", "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (workdir / "report.html").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.network
def test_cached_mode_rebuilds_figures_without_model_jobs(
    ci_run: tuple[Path, float], tmp_path: Path
) -> None:
    source, _ = ci_run
    workdir = _copy_workflow(tmp_path)
    cached = workdir / "results/cached/ci-ref"
    (cached / "tables").mkdir(parents=True)
    for name in TABLES:
        shutil.copy(source / f"results/tables/{name}.csv", cached / "tables")
    shutil.copy(source / "results/tables/provenance.json", cached / "provenance.json")
    made = subprocess.run(
        [sys.executable, "-m", "progalign.cli", "report", "manifest", str(cached)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    args = ("figures", "--config", "mode=cached", "cached=ci-ref")
    plan = _snakemake(workdir, "-n", *args)
    assert plan.returncode == 0, plan.stderr[-2000:]
    planned = plan.stdout + plan.stderr
    assert "rule figures" in planned
    for model_rule in (
        "values_base",
        "values_judge",
        "examinee_step",
        "hislm",
        "tiny_model",
        "preferences",
    ):
        assert f"rule {model_rule}" not in planned
    started = time.perf_counter()
    done = _snakemake(workdir, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.perf_counter() - started < 120
    assert (workdir / "results/report-cached/leaderboard.md").exists()
    # a table that does not match its checksum stops the build, naming the file
    shutil.rmtree(workdir / "results/report-cached")
    with open(cached / "tables/scores.csv", "a", encoding="utf-8") as handle:
        handle.write("follow,Tampered,0,0.5,0.4,0.6,v,1,1\n")
    bad = _snakemake(workdir, *args)
    assert bad.returncode != 0
    log = (workdir / "logs/figures-cached.log").read_text(encoding="utf-8")
    assert "scores.csv" in log


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["paper-8b", "paper-70b"])
def test_paper_preset_dry_run_builds_the_whole_dag(workdir: Path, preset: str) -> None:
    done = _snakemake(workdir, "-n", "--configfile", f"configs/{preset}.yaml", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    # 9 centuries = 8 steps; 4 algorithms x 3 seeds per trajectory; Coevolve's last
    # simulated-human step elicits no feedback
    for rule, count in (
        ("hub_model", 9),
        ("values_judge", 9),
        ("score", 36),
        ("history_step", 96),
        ("examinee_step", 96),
        ("humans_step_feedback", 84),
        ("humans_step", 12),
    ):
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), rule


@pytest.mark.slow
def test_signal_preset_dry_run_trains_the_family_and_asks_every_item(workdir: Path) -> None:
    done = _snakemake(workdir, "-n", "--configfile", "configs/signal.yaml", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    # 7 centuries = 6 steps; the whole questionnaire (no subsample in the folder's name)
    for rule, count in (
        ("hislm", 6),
        ("hislm_first", 1),
        ("values_judge", 7),
        ("score", 12),
        ("history_step", 24),
        ("examinee_step", 24),
    ):
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), rule
    assert "resources/questionnaire/paper-2024/items.jsonl" in out


def test_the_default_profile_loads_by_itself_so_cached_figures_need_no_cores(workdir: Path) -> None:
    """The README's `snakemake figures --config mode=cached`, without --cores: the default
    workflow profile (profiles/default beside the Snakefile) supplies them."""
    shutil.copytree(ROOT / "results/cached/ci-tiny", workdir / "results/cached/ci-tiny")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "figures", "--config", "mode=cached", "cached=ci-tiny"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (workdir / "results/report-cached/leaderboard.md").is_file()


AGGREGATES = {"tables", "figures", "all"}  # rules that read every run: rerun on any new one


def _planned_jobs(text: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's output."""
    jobs: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            jobs.append((line.split()[1].rstrip(":"), ""))
        elif line.strip().startswith("wildcards:") and jobs:
            jobs[-1] = (jobs[-1][0], line.strip())
    return jobs


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize(
    ("grow", "marker"),
    [
        ("benchmark: {algorithms: [ExtrapolativeRLHF, LifelongDPO]}\n", "algorithm=LifelongDPO"),
        ("benchmark: {seeds: [0, 1]}\n", "seed=1"),
    ],
    ids=["algorithm", "seed"],
)
def test_growing_the_grid_plans_only_the_new_jobs(
    ci_run: tuple[Path, float], grow: str, marker: str
) -> None:
    """After a finished run, adding an algorithm (or a seed) in a second config file merged over
    the first plans that algorithm's (seed's) jobs and the aggregates, nothing already done."""
    workdir, _ = ci_run
    (workdir / "grow.yaml").write_text(grow, encoding="utf-8")
    done = _snakemake(workdir, "-n", "--configfile", "configs/ci.yaml", "grow.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = _planned_jobs(done.stdout + done.stderr)
    new = [rule for rule, wildcards in jobs if marker in wildcards]
    assert {"history_step", "score"} <= set(new), jobs
    stale = [(r, w) for r, w in jobs if r not in AGGREGATES and marker not in w]
    assert not stale, f"jobs of the finished grid planned again: {stale}"
    # (the aggregates' params name the grid, so "params have changed" is theirs alone)


def test_a_plugin_challenge_with_simulated_humans_gets_its_own_trajectory(workdir: Path) -> None:
    """The DAG asks the challenge (its trajectory, its update_humans hook), not the name
    Coevolve: a plug-in with simulated feedback gets its own runs/<label>/ humans jobs."""
    (workdir / "driftplugin.py").write_text(
        "from progalign.benchmark.challenges import Coevolve\n\n\n"
        "class Drift(Coevolve):\n    name = 'drift'\n",
        encoding="utf-8",
    )
    (workdir / "drift.yaml").write_text(
        'benchmark: {challenges: [follow, "driftplugin:Drift"]}\n', encoding="utf-8"
    )
    done = _snakemake(workdir, "-n", "-p", "--configfile", "configs/ci.yaml", "drift.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    run = "results/runs/drift/ExtrapolativeRLHF/seed0"
    assert f"{run}/humans1/humans.json" in out and f"{run}/humans1.feedback.jsonl" in out
    assert "progalign step humans --challenge driftplugin:Drift" in out
    assert "results/scores/Drift/ExtrapolativeRLHF/seed0.json" in out
    assert "runs/coevolve" not in out


def test_misspelt_config_key_is_rejected_before_any_job(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("evaluation:\n  permutatons: all\n")
    done = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert done.returncode != 0
    assert "permutatons" in done.stdout + done.stderr
    assert not (workdir / "results").exists()


def test_wrong_type_is_rejected_naming_the_key(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("evaluation:\n  bootstrap: many\n")
    done = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert done.returncode != 0 and "bootstrap" in done.stdout + done.stderr


def test_unknown_algorithm_is_rejected_naming_it(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text(
        (ROOT / "configs/ci.yaml")
        .read_text(encoding="utf-8")
        .replace("challenges: [follow, predict, coevolve]", "challenges: [follow, forecast]")
    )
    done = _snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert done.returncode != 0 and "forecast" in done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.network
def test_same_seed_same_tables_with_or_without_the_worker_another_seed_changes_them(
    ci_run: tuple[Path, float], tmp_path: Path
) -> None:
    first, _ = ci_run
    # the first run's jobs ran in the warm worker; this one runs them as plain processes
    served = (first / ".snakemake/log/progalign-worker.log").read_text(encoding="utf-8")
    assert served.count("running progalign") >= 10 and "refused" not in served
    second = _copy_workflow(tmp_path / "same")
    plain = (
        (second / "configs/ci.yaml")
        .read_text(encoding="utf-8")
        .replace("  runtime: 30\n", "  runtime: 30\n  worker: false\n")
    )
    assert "worker: false" in plain
    (second / "plain.yaml").write_text(plain, encoding="utf-8")
    done = _snakemake(second, "--configfile", "plain.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (second / ".snakemake/log/progalign-worker.log").exists()
    # benchmark: files only where they measure the job itself, not a client waiting on the worker
    assert not list(first.glob("measurements/out/**/*.tsv"))
    assert len(list(second.glob("measurements/out/**/*.tsv"))) >= 10
    for name in TABLES:
        assert (second / f"results/tables/{name}.csv").read_bytes() == (
            first / f"results/tables/{name}.csv"
        ).read_bytes(), name
    other = _copy_workflow(tmp_path / "other")
    seed1 = (
        (other / "configs/ci.yaml").read_text(encoding="utf-8").replace("seeds: [0]", "seeds: [1]")
    )
    assert "seeds: [1]" in seed1
    (other / "seed1.yaml").write_text(seed1, encoding="utf-8")
    done = _snakemake(other, "--configfile", "seed1.yaml")
    assert done.returncode == 0, done.stderr[-3000:]

    def scores(root: Path) -> list[str]:
        with open(root / "results/tables/scores.csv", encoding="utf-8") as handle:
            return [row["score"] for row in csv.DictReader(handle)]

    assert scores(other) != scores(first)
    # the judges do not depend on the examinee's seed
    assert (other / "results/tables/values.csv").read_bytes() == (
        first / "results/tables/values.csv"
    ).read_bytes()
