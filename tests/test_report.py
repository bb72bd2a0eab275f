"""Report stage: tables contract, figures, leaderboard, HTML, cached-results manifest, CLI."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from progalign.cli import main
from progalign.errors import InputError
from progalign.evaluation.vector import DIMENSIONS
from progalign.report.build import FIGURES, build_report
from progalign.report.leaderboard import aggregate_scores, leaderboard, to_markdown
from progalign.report.manifest import verify_manifest, write_manifest
from progalign.report.table_schema import read_table

ROOT = Path(__file__).resolve().parents[1]
CENTURIES = ("C014", "C016", "C017")
NAN = float("nan")
# (challenge, algorithm, seed, score, ci_low, ci_high): dyadic numbers, so means are exact.
SCORES = [
    ("follow", "A", 0, 0.875, 0.8125, 0.9375),
    ("follow", "A", 1, 0.625, 0.5625, 0.6875),
    ("predict-k1", "A", 0, 0.5, 0.375, 0.625),
    ("follow", "B", 0, 0.5, 0.25, 0.75),
    ("predict-k1", "B", 0, 0.75, 0.5, 1.0),
    ("coevolve", "B", 0, 0.625, NAN, NAN),
    ("follow", "C", 0, 0.25, 0.25, 0.25),
    ("predict-k1", "C", 0, 0.25, 0.25, 0.25),
    ("coevolve", "C", 0, 0.25, 0.25, 0.25),
]


def _values() -> pd.DataFrame:
    rows = []
    for c, century in enumerate(CENTURIES):
        for d, dim in enumerate(DIMENSIONS):
            value = 0.01 * d + 0.1 * c
            rows.append(
                {
                    "family": "embedded",
                    "century": century,
                    "dim_index": d,
                    "dimension": dim,
                    "group": dim.split(".")[0],
                    "value": value,
                    "ci_low": value - 0.02,
                    "ci_high": value + 0.02,
                }
            )
    return pd.DataFrame(rows)


def _scores() -> pd.DataFrame:
    cols = ["challenge", "algorithm", "seed", "score", "ci_low", "ci_high"]
    frame = pd.DataFrame(SCORES, columns=cols)
    return frame.assign(version="v1", steps=2, duration_s=1.5)


def _steps() -> pd.DataFrame:
    rows = []
    for challenge in ("follow", "predict-k1"):
        for algorithm, seeds in (("A", (0, 1)), ("B", (0,))):
            for seed in seeds:
                for step in (1, 2):
                    target = (
                        CENTURIES[step + 1]
                        if challenge == "predict-k1" and step < 2
                        else CENTURIES[step]
                    )
                    rows.append(
                        {
                            "challenge": challenge,
                            "algorithm": algorithm,
                            "seed": seed,
                            "step": step,
                            "century": CENTURIES[step],
                            "target_century": target,
                            "similarity": 0.9 + 0.01 * step + 0.005 * seed,
                        }
                    )
    return pd.DataFrame(rows)


def _write_tables(directory: Path, names: tuple[str, ...] = ("values", "scores", "steps")) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    makers = {"values": _values, "scores": _scores, "steps": _steps}
    for name in names:
        makers[name]().to_csv(directory / f"{name}.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Tables and one full report built from them (shared: rendering is the slow part)."""
    root = tmp_path_factory.mktemp("report")
    tables = _write_tables(root / "tables")
    (root / "provenance.json").write_text('{"git_commit": "abc123", "seeds": [0, 1]}')
    build_report(tables, root / "out", provenance=root / "provenance.json")
    return tables, root / "out"


def test_read_table_types(tmp_path: Path) -> None:
    tables = _write_tables(tmp_path, ("scores",))
    frame = read_table("scores.csv", tables / "scores.csv")
    assert frame["seed"].dtype == "int64" and frame["score"].dtype == "float64"
    assert frame["ci_low"].isna().sum() == 1  # an empty CI is allowed


def test_missing_column_names_it(tmp_path: Path) -> None:
    _steps().drop(columns="similarity").to_csv(tmp_path / "steps.csv", index=False)
    with pytest.raises(InputError, match="similarity") as info:
        read_table("steps", tmp_path / "steps.csv")
    assert info.value.column == "similarity"


def test_bad_cell_names_row_and_column(tmp_path: Path) -> None:
    frame = _scores().astype({"seed": str})
    frame.loc[3, "seed"] = "x"
    frame.to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(InputError, match=r"row 5, column 'seed'"):
        read_table("scores", tmp_path / "scores.csv")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"values\.csv: values table not found"):
        read_table("values", tmp_path / "values.csv")


def test_leaderboard_by_hand() -> None:
    agg = aggregate_scores(_scores())
    a_follow = agg[(agg["algorithm"] == "A") & (agg["challenge"] == "follow")].iloc[0]
    assert (a_follow["score"], a_follow["ci_low"], a_follow["ci_high"]) == (0.75, 0.6875, 0.8125)
    assert a_follow["n_seeds"] == 2 and a_follow["seed_sd"] == pytest.approx(np.sqrt(0.03125))
    board = leaderboard(_scores())
    assert board["algorithm"].tolist() == ["A", "B", "C"]
    # no paired draws here: separable = non-overlapping intervals. A's and B's intervals lie
    # above C's on predict-k1 (A's also on follow) and nobody's above A's or B's: 1, 1, 3
    assert board["rank"].tolist() == [1, 1, 3]
    assert board.attrs["ranked_by"] == "intervals"
    assert board["follow.rank"].tolist() == [1, 1, 2]
    assert board["predict-k1.rank"].tolist() == [1, 1, 3]
    assert board["mean_score"].tolist() == [0.625, 0.625, 0.25]
    assert board["n_challenges"].tolist() == [2, 3, 3]
    lines = to_markdown(board).splitlines()
    assert lines[2] == "| rank | algorithm | follow | predict-k1 | coevolve | mean |"
    assert lines[4] == (
        "| 1 | A | (1) 0.750 [0.688, 0.812] | (1) 0.500 [0.375, 0.625] | — | 0.625 (2/3) |"
    )
    assert lines[5] == (
        "| 1 | B | (1) 0.500 [0.250, 0.750] | (1) 0.750 [0.500, 1.000] | (1) 0.625 | 0.625 |"
    )
    assert lines[6].startswith("| 3 | C | (2) 0.250 [0.250, 0.250] |")


def test_figures_written_and_readable(built: tuple[Path, Path]) -> None:
    import matplotlib.image

    _, out = built
    for spec in FIGURES:
        png, svg = out / "figures" / f"{spec.name}.png", out / "figures" / f"{spec.name}.svg"
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
        assert svg.read_text().lstrip().startswith("<?xml")
    svg_text = (out / "figures" / "values_heatmap.svg").read_text()
    assert "<dc:date>" not in svg_text  # no timestamp: reruns are byte-identical


def test_outputs_and_html(built: tuple[Path, Path]) -> None:
    _, out = built
    names = {p.name for p in out.iterdir()}
    assert {"leaderboard.csv", "leaderboard.md", "leaderboard.html"} <= names
    csv = pd.read_csv(out / "leaderboard.csv")
    assert csv["algorithm"].tolist() == ["A", "B", "C"]
    html = (out / "leaderboard.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, re.I)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "abc123" in html and "0.750 [0.688, 0.812]" in html
    assert "sha256" in html  # table checksums in the provenance footer


def test_rerun_is_byte_identical(built: tuple[Path, Path], tmp_path: Path) -> None:
    tables, out = built
    build_report(tables, tmp_path / "again", provenance=tables.parent / "provenance.json")
    first = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    second = sorted(
        p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file()
    )
    assert first == second and len(first) == 2 * len(FIGURES) + 4  # + leaderboards, trends
    for rel in first:
        assert (out / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel


def _cached(tmp_path: Path) -> Path:
    cached = tmp_path / "cached" / "ref"
    _write_tables(cached / "tables", ("scores", "steps"))
    (cached / "provenance.json").write_text("{}\n")
    write_manifest(cached)
    return cached


def test_manifest_roundtrip_and_tampering(tmp_path: Path) -> None:
    cached = _cached(tmp_path)
    lines = (cached / "MANIFEST.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "tables/scores.csv",
        "tables/steps.csv",
        "provenance.json",
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in lines)
    assert len(verify_manifest(cached)) == 3
    data = bytearray((cached / "tables" / "steps.csv").read_bytes())
    data[-3] ^= 1
    (cached / "tables" / "steps.csv").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"steps\.csv: sha256 .* does not match"):
        verify_manifest(cached)


def test_manifest_missing_and_unlisted(tmp_path: Path) -> None:
    cached = _cached(tmp_path)
    shutil.copy(cached / "tables" / "steps.csv", cached / "tables" / "values.csv")
    with pytest.raises(InputError, match=r"values\.csv: not listed"):
        verify_manifest(cached)
    (cached / "tables" / "values.csv").unlink()
    (cached / "tables" / "scores.csv").unlink()
    with pytest.raises(InputError, match=r"scores\.csv: listed in MANIFEST\.sha256 but missing"):
        verify_manifest(cached)


def test_cli_partial_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    small = _values()  # one dimension per group keeps the rendering quick
    small[small["dim_index"].isin([0, 10, 15])].to_csv(tables / "values.csv", index=False)
    assert main(["report", "--tables", str(tables), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "values_heatmap.png" in captured.out and "leaderboard.html" in captured.out
    assert "skipped similarity_curves (needs steps.csv)" in captured.err
    assert "skipped score_intervals (needs scores.csv)" in captured.err
    assert not (tmp_path / "out" / "leaderboard.csv").exists()
    code = main(
        [
            "report",
            "build",
            "--tables",
            str(tables),
            "--out",
            str(tmp_path / "o2"),
            "--require",
            "scores",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "scores.csv: required table not found" in err


@pytest.mark.parametrize(
    "case", ["missing_column", "no_tables", "manifest", "build_verify", "no_arguments"]
)
def test_cli_errors_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    argv = ["report", "--tables", str(tables), "--out", str(tmp_path / "out")]
    if case == "missing_column":
        _scores().drop(columns="version").to_csv(tables / "scores.csv", index=False)
        expected = "column 'version'"
    elif case == "no_tables":
        expected = "no result tables found"
    elif case == "no_arguments":
        argv, expected = ["report"], "give --tables DIR and --out DIR"
    else:
        cached = _cached(tmp_path)
        (cached / "provenance.json").write_text("{ }\n")
        argv = (
            ["report", "verify", str(cached)]
            if case == "manifest"
            else [*argv, "--verify-manifest", str(cached)]
        )
        expected = "provenance.json: sha256"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("progalign report: error:") and expected in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_cli_manifest_verify_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cached = _cached(tmp_path)
    (cached / "MANIFEST.sha256").unlink()
    assert main(["report", "manifest", str(cached)]) == 0
    assert main(["report", "verify", str(cached)]) == 0
    assert "ok: 3 files match" in capsys.readouterr().out


def test_captions_match_docs() -> None:
    def words(text: str) -> str:
        return " ".join(text.split())

    docs = words((ROOT / "docs" / "figures.md").read_text(encoding="utf-8"))
    for spec in FIGURES:
        rst = (ROOT / "workflow" / "report" / f"{spec.name}.rst").read_text(encoding="utf-8")
        assert words(rst) == words(spec.caption), spec.name
        assert words(spec.caption) in docs, spec.name
