"""The HTML leaderboard renders in a real headless browser (Debian's chromium): no console
messages, the table and its scores in the rendered page, and a screenshot that shows them."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from system_workflow import require_binaries

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "cached" / "signal"  # the default cached reference
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chromium", *FLAGS, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.system
def test_html_leaderboard_renders_without_console_errors(tmp_path: Path, ci_report) -> None:
    require_binaries("chromium", why="the browser test needs Debian's chromium")
    out = tmp_path / "report"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "progalign.cli",
            "report",
            "build",
            "--tables",
            str(REFERENCE / "tables"),
            "--out",
            str(out),
            "--provenance",
            str(REFERENCE / "provenance.json"),
            "--verify-manifest",
            str(REFERENCE),
        ],
        check=True,
    )
    page = (out / "leaderboard.html").as_uri()
    # the browser really reports console messages on stderr: a broken page is caught
    broken = tmp_path / "broken.html"
    broken.write_text("<script>console.error('boom'); missing();</script>", encoding="utf-8")
    assert "Uncaught ReferenceError" in _chromium("--dump-dom", broken.as_uri()).stderr

    shot = REPO / "results" / "browser" / "leaderboard.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    done = _chromium("--window-size=1200,900", f"--screenshot={shot}", page)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CONSOLE" not in done.stderr, done.stderr
    dom = _chromium("--dump-dom", page)
    assert dom.returncode == 0 and "CONSOLE" not in dom.stderr, dom.stderr
    scores = (REFERENCE / "tables" / "scores.csv").read_text(encoding="utf-8").splitlines()
    algorithms = {line.split(",")[1] for line in scores[1:]}
    assert "<table" in dom.stdout and all(a in dom.stdout for a in algorithms)
    # the mean column as the report shows it, each cell the CSV's mean at the shown digits
    means = {
        float(row["mean_score"])
        for row in csv.DictReader((out / "leaderboard.csv").open(encoding="utf-8"))
    }
    cells = [
        line.rstrip(" |").rsplit("|", 1)[-1].strip()
        for line in (out / "leaderboard.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert len(cells) == len(algorithms)
    for cell in cells:
        digits = len(cell.split(".")[1])
        assert any(f"{mean:.{digits}f}" == cell for mean in means), cell
        assert f">{cell}<" in dom.stdout

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        gray = image.convert("L")
        table = gray.crop((40, 180, 900, 350))  # where the leaderboard table renders
        low, high = table.getextrema()
        assert high - low > 100, "the table region is blank"
        dark = sum(table.histogram()[:128])
        assert dark > 500, "no text drawn in the table region"
    ci_report(f"chromium screenshot of the leaderboard: {shot} ({shot.stat().st_size} bytes)")
