"""Shared fixtures: the real questionnaire data (when present) and tiny random models."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

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
