"""Build the whole report (figures, leaderboard, HTML page) from a folder of tidy tables.

Each figure needs one table; figures whose table is absent are skipped and reported, so a run
of only the value stage (``values.csv`` alone) still gets its value figures. A table named in
``require`` must be present.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from progalign.errors import InputError
from progalign.io import sha256_file
from progalign.report.figures_bench import score_intervals, similarity_curves
from progalign.report.figures_values import group_trajectories, value_trends, values_heatmap
from progalign.report.html import FigureEntry, write_html
from progalign.report.leaderboard import write_leaderboard
from progalign.report.style import colour_map
from progalign.report.table_schema import TABLES, find_tables, read_table, table_name
from progalign.report.trends import write_trends


@dataclass(frozen=True)
class FigureSpec:
    """A report figure: the table it is drawn from, its title and caption."""

    name: str
    table: str
    title: str
    caption: str


#: The report's figures, in page order. Captions are also in docs/figures.md and
#: workflow/report/<name>.rst (a test keeps them equal).
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "values_heatmap",
        "values",
        "Value vectors of the historical models",
        "The 19-dimensional value vector of every historical (judge / human-proxy) model: "
        "dimensions in rows (MoralChoice rules, Moral Foundations and worldviews, separated by "
        "white lines), centuries in columns. One colour scale for every cell, so a dimension "
        "that barely changes over the centuries looks uniform; the numbers in the cells are the "
        "values.",
    ),
    FigureSpec(
        "group_trajectories",
        "values",
        "Value trajectories by group",
        "One panel per value group: each dimension of the historical models' value vectors "
        "against the century, with its 95% bootstrap confidence band (resampling questionnaire "
        "items). Centuries sit on a true time axis, so a century without a model is a gap "
        "between ticks, not hidden.",
    ),
    FigureSpec(
        "value_trends",
        "values",
        "Trends over the centuries",
        "Per value dimension, the slope of a straight line fitted through the historical "
        "models' values against the century (value change per century), with its 95% "
        "interval; filled dots have p < 0.05. The table trends.csv beside the figures also "
        "holds the quadratic fit and its F-test.",
    ),
    FigureSpec(
        "similarity_curves",
        "steps",
        "Examinee-judge similarity per step",
        "One panel per challenge, each with its own y axis: cosine similarity between the "
        "examinee's (for PG-Coevolve: the simulated human's) and the judge's value vectors at "
        "each step, per algorithm (mean over seeds; the band is the range over seeds when "
        "there are several). Algorithms whose curves are identical are drawn once and named "
        "together. Tick labels give the step and the judge's century, and for PG-Predict the "
        "century the examinee is compared to after an arrow.",
    ),
    FigureSpec(
        "score_intervals",
        "scores",
        "Benchmark scores",
        "Benchmark score of each algorithm per challenge: a dot for the mean over seeds and "
        "whiskers for the 95% bootstrap interval over questionnaire items (the mean of the "
        "seeds' bounds); small black dots are single seeds when there are several. Every panel "
        "has its own y axis. A second row shows the shift scores (the same scores on value "
        "changes from the first century) when the tables hold them. Higher is better.",
    ),
)
_DRAW: dict[str, Callable[..., list[Path]]] = {
    "values_heatmap": values_heatmap,
    "group_trajectories": group_trajectories,
    "value_trends": value_trends,
    "similarity_curves": similarity_curves,
    "score_intervals": score_intervals,
}
_USES_COLOURS = {"similarity_curves", "score_intervals"}


@dataclass
class BuildResult:
    """What :func:`build_report` wrote and what it skipped (one reason per skipped item)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_provenance(path: str | Path | None) -> dict[str, Any] | None:
    """Read an optional ``provenance.json`` (a JSON object).

    Raises:
        InputError: when the file is missing or not a JSON object.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "provenance file not found")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InputError(str(path), "expected a JSON object")
    return record


def load_tables(tables_dir: str | Path, require: Iterable[str] = ()) -> dict[str, pd.DataFrame]:
    """Read and validate every known table present in ``tables_dir``.

    Raises:
        InputError: when the folder is missing, holds no table, lacks a required table, or a
            table is malformed.
    """
    tables_dir = Path(tables_dir)
    if not tables_dir.is_dir():
        raise InputError(str(tables_dir), "tables folder not found")
    present = find_tables(tables_dir)
    for name in require:
        try:
            stem = table_name(name)
        except KeyError as exc:
            raise InputError(str(tables_dir), str(exc.args[0])) from None
        if stem not in present:
            raise InputError(str(tables_dir / f"{stem}.csv"), "required table not found")
    if not present:
        raise InputError(
            str(tables_dir),
            "no result tables found (expected any of "
            + ", ".join(f"{n}.csv" for n in TABLES)
            + ")",
        )
    return {name: read_table(name, path) for name, path in present.items()}


def build_report(
    tables_dir: str | Path,
    out_dir: str | Path,
    provenance: str | Path | None = None,
    require: Iterable[str] = (),
) -> BuildResult:
    """Write ``out_dir/figures/*.{png,svg}`` and ``out_dir/leaderboard.{csv,md,html}``.

    Args:
        tables_dir: Folder with ``values.csv``, ``scores.csv``, ``steps.csv``,
            ``examinee_values.csv`` (any subset).
        out_dir: Output folder.
        provenance: Optional ``provenance.json`` shown in the HTML footer.
        require: Tables that must be present (``"scores"`` or ``"scores.csv"``).

    Returns:
        The written files and the skipped items. ``leaderboard.csv``/``.md`` need ``scores``;
        ``leaderboard.html`` is always written (with whatever could be built).

    Raises:
        InputError: for a missing folder, required table or provenance file, or a bad table.
    """
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    tables = load_tables(tables_dir, require)
    record = read_provenance(provenance)
    algorithms: set[str] = set()
    for name in ("scores", "steps", "examinee_values"):
        if name in tables:
            algorithms.update(tables[name]["algorithm"])
    colours = colour_map(algorithms)
    result, entries = BuildResult(), []
    for spec in FIGURES:
        if spec.table not in tables:
            result.skipped.append(f"{spec.name} (needs {spec.table}.csv)")
            continue
        kwargs: dict[str, Any] = {"colours": colours} if spec.name in _USES_COLOURS else {}
        paths = _DRAW[spec.name](tables[spec.table], out_dir / "figures", **kwargs)
        result.written.extend(paths)
        entries.append(FigureEntry(spec.title, paths[0], spec.caption))
    if "values" in tables:
        result.written.append(write_trends(tables["values"], out_dir)[1])
    board = None
    if "scores" in tables:
        board, paths = write_leaderboard(
            tables["scores"],
            out_dir,
            tables.get("differences"),
            tables.get("calibration"),
            tables.get("value_differences"),
        )
        result.written.extend(paths)
    else:
        result.skipped.append("leaderboard.csv, leaderboard.md (need scores.csv)")
    hashes = {f"{name}.csv": sha256_file(tables_dir / f"{name}.csv") for name in tables}
    result.written.append(
        write_html(out_dir / "leaderboard.html", board, entries, record, hashes, result.skipped)
    )
    return result
