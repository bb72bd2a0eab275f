"""``progalign questionnaire fetch|show`` through the real CLI entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from progalign.cli import main
from shared_data import DATA, mirror_tree, needs_data, serve

pytestmark = needs_data


@pytest.fixture()
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    mirror_tree(tmp_path / "mirror")
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", "http://127.0.0.1:9/simple")
    with serve(tmp_path / "mirror") as url:
        monkeypatch.setenv("PROGALIGN_GITHUB_RAW", url)
        yield url


def csv_args() -> list[str]:
    assert DATA is not None
    raw = DATA / "raw_dataset"
    return [
        "--moralchoice",
        str(raw / "moralchoice/final.csv"),
        "--views",
        str(raw / "views/final.csv"),
    ]


def test_fetch_then_show(mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q"
    assert (
        main(
            [
                "questionnaire",
                "fetch",
                "--protocol",
                "head-2025",
                "--out",
                str(out),
                "--no-progress",
                *csv_args(),
            ]
        )
        == 0
    )
    assert "1815 items (moralchoice 679, foundation 599, views 537)" in capsys.readouterr().out
    assert main(["questionnaire", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "moralchoice   679 items (of 679 loaded)" in shown
    assert "views         537 items" in shown and "Societal vision" in shown
    assert "decisions   341: cleaned 235, dropped 4, normalised 1, renamed 97, repaired 4" in shown
    assert "views/final.csv:107 V_106: dropped: repeated header row" in shown
    assert "H_001#2" not in shown
    assert main(["questionnaire", "show", "--all-decisions", str(out)]) == 0
    assert "-> H_001#2" in capsys.readouterr().out


def test_fetch_subsample_and_groups(
    mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "q"
    assert (
        main(
            [
                "questionnaire",
                "fetch",
                "--protocol",
                "head-2025",
                "--out",
                str(out),
                "--groups",
                "foundation,moralchoice",
                "--per-dimension",
                "2",
                "--seed",
                "5",
                "--no-progress",
                csv_args()[0],
                csv_args()[1],
            ]
        )
        == 0
    )
    assert "30 items (moralchoice 20, foundation 10)" in capsys.readouterr().out


def test_errors_are_one_line(
    mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("scenario_id,context,action1,action2,action3,action4\nV_1,,a,b,c,d\n")
    code = main(
        [
            "questionnaire",
            "fetch",
            "--protocol",
            "head-2025",
            "--out",
            str(tmp_path / "q"),
            "--groups",
            "views",
            "--views",
            str(bad),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}, row 2, column 'context': empty context" in err and "Traceback" not in err
    assert not (tmp_path / "q").exists()
    with pytest.raises(SystemExit):
        main(
            [
                "questionnaire",
                "fetch",
                "--protocol",
                "head-2025",
                "--out",
                "x",
                "--per-dimension",
                "0",
            ]
        )
    assert "must be at least 1" in capsys.readouterr().err
    assert main(["questionnaire", "show", str(tmp_path / "nothing")]) == 2
    assert "missing; is this a questionnaire directory?" in capsys.readouterr().err
