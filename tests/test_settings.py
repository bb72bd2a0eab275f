"""One typed settings model: the schema is generated from it, every preset merges over the
embedded default without inheriting from it, the CLI's defaults are its defaults, and Snakemake
and ``progalign run`` resolve one config file to the same settings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from progalign.errors import SettingError
from progalign.evaluation.api import ValueOptions
from progalign.settings import STAGES, EvaluationSettings, load, merge, resolve
from progalign.settings_cli import schema_text
from progalign.training.preference import UPSTREAM_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "config.yaml"
PRESETS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.endswith(".lock.yaml"))
PAPER = [p for p in PRESETS if p.stem.startswith("paper")]


def test_the_committed_schema_is_the_one_generated_from_the_model() -> None:
    committed = (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "run: progalign config schema --out workflow/schemas/config.schema.yaml"
    )


def test_merge_is_snakemakes_nested_merge() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge(base, {"a": {"c": [3]}, "e": None}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # not modified


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_a_preset_takes_nothing_from_the_embedded_default(preset: Path) -> None:
    """Merged over config.yaml (as Snakemake merges --configfile) a preset resolves exactly as
    on its own over the model's defaults: every key the default sets, the preset restates."""
    merged = resolve(load([DEFAULT, preset])).to_config()
    alone = resolve(load([preset])).to_config()
    assert merged == alone


@pytest.mark.parametrize("preset", PAPER, ids=lambda p: p.stem)
def test_a_paper_preset_is_not_cpu_sized(preset: Path) -> None:
    settings = resolve(load([DEFAULT, preset]))
    assert settings.training.top_k_layers is None  # every parameter trains
    assert settings.questionnaire.per_dimension is None  # every item
    assert settings.benchmark.pool.max_items == 2500 and settings.evaluation.scoring == "letters"
    for stage in STAGES:
        mine = settings.training.stage(stage)
        assert mine.learning_rate == UPSTREAM_SETTINGS[stage].learning_rate, stage
        assert mine.epochs == UPSTREAM_SETTINGS[stage].epochs, stage


def test_the_embedded_default_trains_the_top_layer_once_for_every_model() -> None:
    config = resolve(load([DEFAULT])).to_config()
    assert config["training"]["top_k_layers"] == 1
    assert {config["training"][s]["top_k_layers"] for s in STAGES} == {1}
    assert "lower_cache_layers" not in config["evaluation"]  # derived: 30 layers - 1
    text = DEFAULT.read_text(encoding="utf-8")
    assert text.count("top_k_layers") == 1 and "lower_cache_layers" not in text
    recipe = yaml.safe_load((ROOT / config["models"]["hislm_recipe"]).read_text("utf-8"))
    assert "top_k_layers" not in recipe["hislm"]


def test_an_empty_config_resolves_to_upstream_training() -> None:
    config = resolve({"training": {}}).to_config()
    for stage in STAGES:
        expected = dataclasses.asdict(UPSTREAM_SETTINGS[stage])
        del expected["seed"]
        assert config["training"][stage] == expected


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"evaluation": {"permutation": "all"}}, "evaluation.permutation"),
        ({"evaluation": {"permutations": "some"}}, "evaluation.permutations"),
        ({"training": {"dpo": {"epochs": 1}}}, "training.dpo"),  # no learning rate
        ({"training": {"dpo": {"learning_rate": -1, "epochs": 1}}}, "training.dpo"),
        (
            {
                "training": {
                    "top_k_layers": 1,
                    "dpo": {"learning_rate": 1e-3, "epochs": 1, "top_k_layers": 2},
                }
            },
            "training",
        ),
        ({"models": {"centuries": ["C012", "C014"]}}, "models.centuries"),
        ({"models": {"hub": {"revisions": {"C014": "main"}}}}, "models.hub.revisions"),
        ({"benchmark": {"pool": {"question_types": ["yes_no"]}}}, "benchmark.pool.question_types"),
    ],
)
def test_a_bad_config_is_rejected_naming_the_key(config: dict, key: str) -> None:
    with pytest.raises(SettingError, match=rf"config: {key}\b"):
        resolve(config)


def test_the_evaluation_defaults_are_the_models() -> None:
    from progalign.cli import build_parser

    defaults = EvaluationSettings()
    options = ValueOptions()
    args = build_parser().parse_args(["values", "--model", "m", "--out", "o.json"])
    for name, value in defaults.model_dump().items():
        assert getattr(options, name) == value, name
        cli_name = {"prompt_format": "prompt_format"}.get(name, name)
        if hasattr(args, cli_name) and name != "calibration":
            assert getattr(args, cli_name) == value, name


def _snakemake_settings(workdir: Path, *configfiles: str) -> dict:
    extra = ["--configfile", *configfiles] if configfiles else []
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "results/settings.json", *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    settings = json.loads((workdir / "results" / "settings.json").read_text(encoding="utf-8"))
    (workdir / "results" / "settings.json").unlink()
    return settings


def _run_settings(workdir: Path, *configfiles: str) -> dict:
    configs = [arg for f in ("config.yaml", *configfiles) for arg in ("--config", f)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "progalign.cli",
            "run",
            "--algorithm",
            "LifelongDPO",
            "--challenge",
            "follow",
            "--questionnaire",
            "q",
            *configs,
            "--show-settings",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict = json.loads(done.stdout)
    return loaded


@pytest.mark.slow
def test_snakemake_and_progalign_run_resolve_one_config_alike(tmp_path: Path) -> None:
    from test_workflow import _copy_workflow

    workdir = _copy_workflow(tmp_path)
    # a small override file: merged over config.yaml, not replacing it
    (workdir / "small.yaml").write_text(
        "benchmark: {seeds: [0, 1]}\nevaluation: {bootstrap: 10}\n", encoding="utf-8"
    )
    # the paper preset's models are mostly unpinned: a real run (this one) would stop at load
    (workdir / "unpinned.yaml").write_text("models: {hub: {allow_unpinned: true}}\n", "utf-8")
    paper = ("configs/paper-8b.yaml", "unpinned.yaml")
    for files in [(), ("configs/ci.yaml",), paper, ("small.yaml",)]:
        via_snakemake = _snakemake_settings(workdir, *files)
        via_run = _run_settings(workdir, *files)
        assert via_snakemake == via_run, files
    small = via_run
    assert small["benchmark"]["seeds"] == [0, 1] and small["evaluation"]["bootstrap"] == 10
    assert small["training"]["top_k_layers"] == 1  # the rest of config.yaml stays
    assert small["questionnaire"]["per_dimension"] == 1
