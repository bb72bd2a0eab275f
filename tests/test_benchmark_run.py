"""Real benchmark runs on tiny random models: the whole grid, resume after SIGKILL, the example
plug-in through the CLI, and determinism.

Set-up: the CI config (``configs/ci.yaml`` as the lead wrote it for the benchmark) with three
centuries (C014, C016, C017, one tiny random model each), the paper-2024 questionnaire at one
item per stratum (20 items, identity option order) and tiny training settings. The only change
is a smaller comparison pool (``max_items: 8`` instead of 2500, i.e. about 8 of the 20 prompts)
to keep the module within a few minutes on a 2-core CPU. Nothing here reaches the network:
the questionnaire wheel is copied from a local cache (the module is skipped without one and
without PyPI).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import DEAD_INDEX, copy_questionnaire_wheel
from progalign.benchmark.algorithms import RLHF_DEVIATION
from progalign.benchmark.formulas import (
    COEVOLVE_VERSION,
    FOLLOW_VERSION,
    PREDICT_VERSION,
    coevolve_score,
    cosine,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "progalign-example-plugin"
CENTURIES = ["C014", "C016", "C017"]
ALGORITHMS = ["LifelongDPO", "LifelongRLHF", "ExtrapolativeDPO", "ExtrapolativeRLHF"]
CHALLENGES = ["follow", "predict", "coevolve"]
SEED = 0
VERSIONS = {"follow": FOLLOW_VERSION, "predict": PREDICT_VERSION, "coevolve": COEVOLVE_VERSION}

CONFIG: dict[str, Any] = {  # /tmp/bench/ci.yaml, pool.max_items 2500 -> 8
    "questionnaire": {"protocol": "paper-2024", "per_dimension": 1, "seed": 0},
    "evaluation": {
        "backend": "hf",
        "mode": "logprob",
        "scoring": "texts",
        "permutations": "identity",
        "prompt_format": "chat",
        "aggregation": "progressgym-2024",
        "bootstrap": 100,
        "seed": 0,
        "batch_size": 8,
        "calibration": False,
    },
    "models": {"base": "tiny", "family": "tiny", "source": "tiny", "centuries": CENTURIES},
    "benchmark": {
        "algorithms": ALGORITHMS,
        "challenges": CHALLENGES,
        "seeds": [SEED],
        "params": {"independent": False, "timesteps_ahead": 1, "extrapolation_order": 1},
        "challenge_params": {"predict": {"timesteps_ahead": 1}},
        "bootstrap": 100,
        "pool": {"question_types": ["repeat", "repeat2_fav"], "max_items": 8, "seed": 42},
        "elicitation": {"mode": "texts", "prompt_format": "chat"},
        "coevolve": {"answers": "choice"},
    },
    "training": {
        "dpo": {
            "learning_rate": 1.0e-3,
            "epochs": 1,
            "batch_size": 4,
            "beta": 0.1,
            "sft_weight": 0.04,
            "max_length": 1024,
        },
        "reward": {"learning_rate": 1.0e-3, "epochs": 1, "batch_size": 4, "max_length": 1024},
        "rloo": {
            "learning_rate": 1.0e-4,
            "epochs": 1,
            "batch_size": 4,
            "max_new_tokens": 8,
            "num_generations": 2,
            "max_length": 1024,
        },
        "sft_history": {"learning_rate": 1.0e-3, "epochs": 1, "batch_size": 4, "max_length": 1024},
        "sft_influence": {
            "learning_rate": 1.0e-3,
            "epochs": 2,
            "batch_size": 4,
            "max_length": 1024,
        },
    },
}


@dataclasses.dataclass(frozen=True)
class Bench:
    """The shared inputs: questionnaire, models, config file and the child environment."""

    questionnaire: Path
    models: Path
    config: Path
    env: dict[str, str]

    def cli(self, *args: str) -> list[str]:
        """A ``progalign`` command line (same interpreter, one torch thread)."""
        return [
            sys.executable,
            "-m",
            "progalign.cli",
            *args,
            "--config",
            str(self.config),
            "--questionnaire",
            str(self.questionnaire),
            "--models",
            str(self.models),
            "--threads",
            "1",
        ]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    from progalign.models.tiny import build_tiny_model
    from progalign.questionnaire.fetch import build_questionnaire

    base = tmp_path_factory.mktemp("bench")
    cache = base / "cache"
    copy_questionnaire_wheel(cache)
    env = {
        "PROGALIGN_CACHE": str(cache),
        "PROGALIGN_PYPI_INDEX": DEAD_INDEX,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        q = build_questionnaire("paper-2024", base / "q", per_dimension=1, seed=0, progress=False)
    for century in CENTURIES:
        build_tiny_model(base / "models" / century, seed=int(century[1:]))
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    return Bench(q, base / "models", config, {**os.environ, **env})


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """In-process runs use one torch thread, as the CLI runs (``--threads 1``) do."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _spec(bench: Bench) -> Any:
    from progalign.benchmark.spec import spec_from_config

    return spec_from_config(copy.deepcopy(CONFIG), bench.models, bench.questionnaire, threads=1)


@dataclasses.dataclass(frozen=True)
class Grid:
    """Every (algorithm, challenge) run into one results root."""

    root: Path
    results: dict[tuple[str, str], dict[str, Any]]
    seconds: dict[tuple[str, str], float]


@pytest.fixture(scope="module")
def grid(bench: Bench, one_thread: None, tmp_path_factory: pytest.TempPathFactory) -> Grid:
    from progalign.benchmark.runner import run_benchmark

    root = tmp_path_factory.mktemp("grid")
    spec = _spec(bench)
    results, seconds = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in bench.env.items():
            mp.setenv(key, value)
        for algorithm in ALGORITHMS:
            for challenge in CHALLENGES:
                started = time.perf_counter()
                results[algorithm, challenge] = run_benchmark(
                    spec, algorithm, challenge, SEED, root
                )
                seconds[algorithm, challenge] = time.perf_counter() - started
    return Grid(root, results, seconds)


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """What two equal runs must share exactly: everything but timings and provenance."""
    return {k: v for k, v in result.items() if k not in ("durations_s", "provenance")}


def _seed_shared(grid: Grid, root: Path) -> None:
    """Copy the judge artefacts (historical values and preferences) into a new root."""
    for name in ("values", "preferences"):
        shutil.copytree(grid.root / name, root / name)


# ------------------------------------------------------------------ the grid
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("challenge", CHALLENGES)
def test_grid_result(grid: Grid, bench: Bench, algorithm: str, challenge: str) -> None:
    from progalign.questionnaire.store import load_questionnaire

    r = grid.results[algorithm, challenge]
    saved = json.loads((grid.root / "scores" / challenge / algorithm / "seed0.json").read_text())
    assert saved == json.loads(json.dumps(r))
    assert r["schema"] == "progalign.score/2" and r["version"] == VERSIONS[challenge]
    assert r["challenge"]["name"] == challenge and r["algorithm"]["name"] == algorithm
    assert r["seed"] == SEED and r["complete"] is True
    assert -1.0 <= r["score"] <= 1.0
    # The percentile bootstrap does not guarantee low <= score <= high in general (a biased
    # statistic such as Coevolve's suffix max can sit outside); on these runs it does.
    ci = r["ci95"]
    assert ci["samples"] == 100 and ci["low"] <= r["score"] <= ci["high"]
    # the draws behind the interval, kept for paired comparisons, give the same interval
    draws = np.array(r["bootstrap"]["draws"], dtype=float)
    assert len(draws) == 100 and r["bootstrap"]["seed"] == SEED
    assert np.percentile(draws, [2.5, 97.5]) == pytest.approx([ci["low"], ci["high"]])
    shift = r["shift"]
    assert shift["version"].startswith(f"pg-{challenge}-shift/") and len(shift["draws"]) == 100
    assert -1.0 <= shift["score"] <= 1.0
    per_item = r["per_item"]
    assert len(per_item["item_ids"]) == len(load_questionnaire(bench.questionnaire).items)
    assert set(per_item["p"]) == {f"a{i}" for i in range(3)} | (
        {"s1", "s2"} if challenge == "coevolve" else {f"e{t}" for t in r["vectors"]["examinee"]}
    )

    rlhf = algorithm.endswith("RLHF")
    assert r["algorithm"]["optimiser"] == ("rlhf" if rlhf else "dpo")
    assert (
        (r["algorithm"].get("deviation") == RLHF_DEVIATION)
        if rlhf
        else ("deviation" not in r["algorithm"])
    )
    prov = r["provenance"]
    assert prov["command"] == "score" and prov["progalign_version"]
    assert prov["seeds"] == {"run": SEED, "bootstrap": SEED}
    assert prov["questionnaire_sha256"] == load_questionnaire(bench.questionnaire).sha256
    assert {"torch", "transformers", "trl"} <= set(prov["libraries"])
    assert r["spec"]["centuries"] == CENTURIES and r["spec"]["pool"]["max_items"] == 8

    actual = {c: np.array(v) for c, v in r["vectors"]["actual"].items()}
    assert list(actual) == CENTURIES and all(v.shape == (19,) for v in actual.values())
    examinee = {int(t): np.array(v) for t, v in r["vectors"]["examinee"].items()}
    steps = [(s["step"], s["century"], s["target_century"]) for s in r["steps"]]
    if challenge == "coevolve":  # H_1, H_2 after steps 1, 2; scored with s_0 = a_0
        assert steps == [(1, "C016", "C016"), (2, "C017", "C017")]
        assert examinee == {} and len(r["vectors"]["simulated"]) == 2
        sims = [actual["C014"], *(np.array(v) for v in r["vectors"]["simulated"])]
        assert r["score"] == pytest.approx(coevolve_score(sims, list(actual.values())), abs=1e-12)
        for s, sim in zip(r["steps"], sims[1:], strict=True):
            assert s["similarity"] == pytest.approx(cosine(sim, actual[s["century"]]), abs=1e-12)
        return
    if challenge == "follow":
        assert steps == [(1, "C016", "C016"), (2, "C017", "C017")]
    else:  # predict, k = 1: only step 1 has a century one ahead
        assert steps == [(1, "C016", "C017")]
    assert sorted(examinee) == [s["step"] for s in r["steps"]]
    for s in r["steps"]:  # the recorded similarities follow from the recorded vectors
        assert s["similarity"] == pytest.approx(
            cosine(examinee[s["step"]], actual[s["target_century"]]), abs=1e-12
        )
    assert r["score"] == pytest.approx(np.mean([s["similarity"] for s in r["steps"]]), abs=1e-12)


def test_grid_shares_artefacts(grid: Grid) -> None:
    """Judge artefacts exist once; Follow and Predict share one trajectory per algorithm."""
    root = grid.root
    assert sorted(p.name for p in (root / "values" / "tiny").iterdir()) == [
        f"{c}.json" for c in CENTURIES
    ]
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["coevolve", "history"]
    for algorithm in ALGORITHMS:
        history = root / "runs" / "history" / algorithm / "seed0"
        assert sorted(p.name for p in history.iterdir() if not p.name.startswith(".")) == [
            "step1",
            "step2",
            "values1.json",
            "values2.json",
        ]
        follow = grid.results[algorithm, "follow"]["vectors"]["examinee"]
        predict = grid.results[algorithm, "predict"]["vectors"]["examinee"]
        assert predict == {"1": follow["1"]}  # the same step-1 model, evaluated once
        # predict ran after follow and found everything done
        assert sum(grid.results[algorithm, "predict"]["durations_s"].values()) < 5.0
        step2 = json.loads((history / "step2" / "step.json").read_text())
        assert step2["step"] == 2 and step2["century"] == "C017" and step2["seed"] == SEED
        assert step2["examinee"]["name"] == algorithm and step2["feedback"]["items"] >= 1
        state = json.loads((history / "step2" / "state.json").read_text())
        assert [u["step"] for u in state["updates"]] == [1, 2]
        if algorithm.startswith("Extrapolative"):
            assert len(state["history"]) == 2  # every step's decisions, for extrapolation
            assert state["updates"][1]["effective_order"] == 1
        coevolve = root / "runs" / "coevolve" / algorithm / "seed0"
        for t in (1, 2):
            humans = json.loads((coevolve / f"humans{t}" / "humans.json").read_text())
            assert set(humans["training"]) == {"sft_history", "sft_influence"}
            assert humans["history_answers"] >= 1 and humans["examinee_answers"] >= 1
        assert (coevolve / "humans1.feedback.jsonl").is_file()  # step 2 learns from H_1


def test_tables_follow_the_report_contract(grid: Grid, bench: Bench, tmp_path: Path) -> None:
    from progalign.benchmark.item_tables import (
        items_table,
        probabilities_table,
        value_differences_table,
    )
    from progalign.benchmark.tables import (
        calibration_table,
        run_tables,
        values_table,
        write_tables,
    )
    from progalign.questionnaire.store import load_questionnaire
    from progalign.report.table_schema import TABLES, read_table

    scores = sorted((grid.root / "scores").glob("*/*/seed0.json"))
    assert len(scores) == 12
    judges = sorted((grid.root / "values" / "tiny").glob("*.json"))
    items = load_questionnaire(bench.questionnaire).items
    tables = {
        "values": values_table("tiny", judges),
        "calibration": calibration_table("tiny", judges),  # switched off: no rows
        "items": items_table(items),
        "item_probabilities": probabilities_table({p.stem: p for p in judges}, scores),
        "value_differences": value_differences_table(
            "tiny", items, {p.stem: p for p in judges}, samples=100
        ),
        **run_tables(scores),
    }
    written = write_tables(tables, tmp_path)
    # the tidy tables of the report contract, plus the wall times kept apart from them
    assert sorted(p.name for p in written) == sorted([*(f"{n}.csv" for n in TABLES), "timings.csv"])
    read = {name: read_table(name, tmp_path / f"{name}.csv") for name in TABLES}
    # 3 judges, per algorithm 2 examinee steps and 2 simulated humans: 19 models x 20 items
    assert read["item_probabilities"]["model"].nunique() == 3 + 4 * (2 + 2)
    assert len(read["item_probabilities"]) == 19 * len(items)
    assert list(read["scores"].columns)[: len(TABLES["scores"])] == list(TABLES["scores"])
    # every pair of the 4 algorithms per challenge, score and shift: 3 x 6 x 2 rows
    differences = read["differences"]
    assert len(differences) == 3 * 6 * 2
    for _, row in differences.iterrows():
        a = grid.results[row["algorithm_a"], row["challenge"]]
        b = grid.results[row["algorithm_b"], row["challenge"]]
        part = (lambda r: r) if row["statistic"] == "score" else (lambda r: r["shift"])
        assert row["difference"] == pytest.approx(part(a)["score"] - part(b)["score"], abs=1e-9)
        assert row["separable"] == int(row["ci_low"] > 0 or row["ci_high"] < 0)
    assert len(read["values"]) == 3 * 19 and set(read["values"]["century"]) == set(CENTURIES)
    assert len(read["scores"]) == 12
    by_run = read["scores"].set_index(["challenge", "algorithm"])
    for (algorithm, challenge), r in grid.results.items():
        row = by_run.loc[(challenge, algorithm)]
        assert row["score"] == pytest.approx(r["score"], abs=1e-9)
        assert row["steps"] == {"follow": 2, "predict": 1, "coevolve": 2}[challenge]
    assert len(read["steps"]) == 4 * (2 + 1 + 2)
    # examinee vectors of the history-fed runs: follow (2 steps) and predict (1 step)
    assert len(read["examinee_values"]) == 4 * 3 * 19


# ------------------------------------------------------------------ resume after SIGKILL
def test_resume_after_kill_during_step2_training(grid: Grid, bench: Bench, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _seed_shared(grid, root)  # the judge artefacts: this test is about the examinee
    run_dir = root / "runs" / "history" / "LifelongDPO" / "seed0"
    command = bench.cli(
        "run",
        "--algorithm",
        "LifelongDPO",
        "--challenge",
        "follow",
        "--seed",
        str(SEED),
        "--out",
        str(root),
    )
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=bench.env, cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + 600
            # the step's temp folder holds the trainer's own temp folder once training runs
            while not list(run_dir.glob(".step2.*.tmp/.model.*.tmp")):
                assert proc.poll() is None, (
                    "the run ended before step 2 trained: "
                    + (tmp_path / "killed.log").read_text()[-3000:]
                )
                assert time.monotonic() < deadline, "step 2 never started"
                time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "step2").exists() and not (run_dir / "step2" / "state.json").exists()
    assert list(run_dir.glob(".step2.*.tmp"))  # debris, never mistaken for a finished step
    assert not (root / "scores").exists()
    step1 = (run_dir / "step1" / "state.json").stat().st_mtime_ns

    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=bench.env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["algorithm"] == "LifelongDPO" and line["challenge"] == "follow"
    assert (run_dir / "step1" / "state.json").stat().st_mtime_ns == step1  # not redone
    assert (run_dir / "step2" / "state.json").is_file()
    resumed = json.loads((root / "scores" / "follow" / "LifelongDPO" / "seed0.json").read_text())
    reference = grid.results["LifelongDPO", "follow"]  # the uninterrupted run
    for key in ("score", "ci95", "steps", "vectors"):
        assert resumed[key] == reference[key], key
    assert line["score"] == round(reference["score"], 6)


# ------------------------------------------------------------------ the example plug-in
def test_example_plugin_installs_lists_and_runs(grid: Grid, bench: Bench, tmp_path: Path) -> None:
    source = tmp_path / "src-copy"  # build from a copy: no build debris in the checkout
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--quiet",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {**bench.env, "PYTHONPATH": str(site)}

    listed = subprocess.run(
        [sys.executable, "-m", "progalign.cli", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "progalign_example.chosen_sft:ChosenSFT" in listed.stdout
    assert "progalign_example.follow_last:FollowLast" in listed.stdout
    assert "LifelongDPO" in listed.stdout  # built-ins still there
    try:
        importlib.metadata.distribution("progalign-example-plugin")
    except importlib.metadata.PackageNotFoundError:  # not installed in this environment
        plain = subprocess.run(
            [sys.executable, "-m", "progalign.cli", "list"],
            capture_output=True,
            text=True,
            env=bench.env,
            timeout=300,
            check=False,
        )
        assert "ChosenSFT" not in plain.stdout  # found through the installed entry point only

    root = tmp_path / "root"
    _seed_shared(grid, root)
    scores = {}
    for challenge in ("follow", "follow-last"):
        run = subprocess.run(
            bench.cli(
                "run", "--algorithm", "ChosenSFT", "--challenge", challenge, "--out", str(root)
            ),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        scores[challenge] = json.loads(run.stdout.strip().splitlines()[-1])
        assert scores[challenge]["algorithm"] == "ChosenSFT"
        assert -1.0 <= scores[challenge]["score"] <= 1.0
    result = json.loads((root / "scores" / "follow" / "ChosenSFT" / "seed0.json").read_text())
    assert result["algorithm"]["stage"] == "sft_history" and len(result["steps"]) == 2
    # follow-last scored the shared trajectory: its score is follow's last step
    assert scores["follow-last"]["score"] == round(result["steps"][-1]["similarity"], 6)
    state = json.loads(
        (root / "runs" / "history" / "ChosenSFT" / "seed0" / "step2" / "state.json").read_text()
    )
    assert [(u["step"], u["trained"]) for u in state["updates"]] == [(1, True), (2, True)]
    assert all(u["records"] == u["decided"] >= 1 for u in state["updates"])
    training = json.loads(
        (
            root / "runs" / "history" / "ChosenSFT" / "seed0" / "step1" / "model" / "training.json"
        ).read_text()
    )
    assert training["stage"] == "sft" and training["n_records"] == state["updates"][0]["records"]


# ------------------------------------------------------------------ determinism
def test_same_seed_same_numbers_in_a_fresh_root(
    grid: Grid, bench: Bench, one_thread: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Coevolve from scratch (judge values, preferences, answers, DPO, the humans' SFT)."""
    from progalign.benchmark.runner import run_benchmark
    from progalign.benchmark.tables import run_tables, write_tables

    for key in ("PROGALIGN_CACHE", "PROGALIGN_PYPI_INDEX", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(key, bench.env[key])
    again = run_benchmark(_spec(bench), "LifelongDPO", "coevolve", SEED, tmp_path / "root")
    first = grid.results["LifelongDPO", "coevolve"]
    assert _numbers(again) == _numbers(first)
    for key in ("questionnaire_sha256", "seeds", "libraries", "progalign_version"):
        assert again["provenance"][key] == first["provenance"][key]
    for name in ("preferences", "answers"):  # the shared judge artefacts, byte for byte
        for path in sorted((grid.root / name / "tiny").iterdir()):
            assert (tmp_path / "root" / name / "tiny" / path.name).read_bytes() == (
                path.read_bytes()
            ), path
    for path in sorted((grid.root / "values" / "tiny").iterdir()):  # these carry timings
        fresh = json.loads((tmp_path / "root" / "values" / "tiny" / path.name).read_text())
        old = json.loads(path.read_text())
        assert {k: fresh[k] for k in ("vector", "ci95", "items")} == {
            k: old[k] for k in ("vector", "ci95", "items")
        }, path
    # the tidy tables of the two runs are byte-identical; wall times live in timings.csv
    out = {}
    for label, root in (("first", grid.root), ("again", tmp_path / "root")):
        tables = run_tables([root / "scores" / "coevolve" / "LifelongDPO" / "seed0.json"])
        assert tables["scores"]["duration_s"].isna().all()
        del tables["timings"]
        out[label] = [p.read_bytes() for p in write_tables(tables, tmp_path / label)]
    assert out["first"] == out["again"]
