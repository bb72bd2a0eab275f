"""Figures of the benchmark runs (from ``steps.csv`` and ``scores.csv``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from progalign.report.leaderboard import aggregate_scores, challenges_of
from progalign.report.style import (
    MARKERS,
    colour_map,
    new_figure,
    report_style,
    save_figure,
)


def _step_labels(table: pd.DataFrame) -> tuple[list[int], list[str], bool]:
    """Steps, their tick labels (judge century, ``→ target`` where it differs) and whether
    any target differs."""
    steps = sorted(table["step"].unique())
    labels, shifted = [], False
    for step in steps:
        rows = table[table["step"] == step]
        century = rows["century"].mode().sort_values().iloc[0]
        target = rows["target_century"].mode().sort_values().iloc[0]
        if target != century:
            shifted = True
            labels.append(f"{step}\n{century}\n→{target}")
        else:
            labels.append(f"{step}\n{century}")
    return [int(s) for s in steps], labels, shifted


def _similarity_panel(ax: Axes, table: pd.DataFrame, colours: Mapping[str, str]) -> None:
    # curves closer than 0.5% of the panel's span cannot be told apart on it: draw them once,
    # named together ("identical" when exactly equal, else "coincide")
    tolerance = 0.005 * max(float(np.ptp(table["similarity"].to_numpy(dtype=float))), 1e-15)
    curves: list[tuple[list[str], pd.DataFrame, bool]] = []
    for algorithm in sorted(table["algorithm"].unique()):
        rows = table[table["algorithm"] == algorithm]
        per_seed = rows.pivot_table(
            index="step", columns="seed", values="similarity", aggfunc="mean"
        ).sort_index()
        for k, (names, other, exact) in enumerate(curves):
            if other.shape != per_seed.shape or not (other.index == per_seed.index).all():
                continue
            gap = float(np.abs(other.to_numpy() - per_seed.to_numpy()).max())
            if gap <= tolerance:
                names.append(algorithm)
                curves[k] = (names, other, exact and gap == 0)
                break
        else:
            curves.append(([algorithm], per_seed, True))
    for i, (names, per_seed, exact) in enumerate(curves):
        mean = per_seed.mean(axis=1)
        n_seeds = per_seed.shape[1]
        together = " (identical)" if exact else " (coincide)"
        label = " = ".join(names) + (together if len(names) > 1 else "")
        if n_seeds > 1:
            label += f" (mean of {n_seeds} seeds)"
        colour = colours.get(names[0], "#000000")
        ax.plot(
            mean.index,
            mean.to_numpy(),
            color=colour,
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            linewidth=1.6,
            label=label,
        )
        if n_seeds > 1:
            ax.fill_between(
                mean.index,
                per_seed.min(axis=1),
                per_seed.max(axis=1),
                color=colour,
                alpha=0.18,
                linewidth=0,
            )


def similarity_curves(
    steps: pd.DataFrame,
    out_dir: str | Path,
    colours: Mapping[str, str] | None = None,
    name: str = "similarity_curves",
) -> list[Path]:
    """Per challenge a panel: cosine similarity of examinee and judge against the step.

    Each algorithm's curve is the mean over seeds; with more than one seed the band shows the
    range (min–max) over seeds. Every panel has its own y axis; algorithms whose curves are
    identical are drawn once and named together ("A = B (identical)"). Tick labels give the
    step, the judge's century and, where the examinee is compared to another century
    (PG-Predict), the target century after an arrow.

    Args:
        steps: The validated ``steps`` table.
        out_dir: Folder for ``<name>.png`` and ``<name>.svg``.
        colours: Algorithm → colour (default: Okabe–Ito by sorted name).
        name: File stem.

    Returns:
        The written paths (PNG, SVG).
    """
    colours = dict(colours or colour_map(steps["algorithm"]))
    challenges = challenges_of(steps)
    ncols = min(len(challenges), 3)
    nrows = math.ceil(len(challenges) / ncols)
    with report_style():
        fig = new_figure(4.6 * ncols, 3.6 * nrows + 1.0)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()  # own y axis per panel
        for ax, challenge in zip(axes, challenges, strict=False):
            table = steps[steps["challenge"] == challenge]
            _similarity_panel(ax, table, colours)
            ax.ticklabel_format(axis="y", useOffset=False)
            ticks, labels, shifted = _step_labels(table)
            ax.set_xticks(ticks, labels, fontsize=8)
            ax.set_xlabel("step / judge century" + (" → compared-to century" if shifted else ""))
            ax.set_title(f"PG-{challenge}" if not challenge.startswith("PG") else challenge)
            who = "simulated human" if challenge.startswith("coevolve") else "examinee"
            ax.set_ylabel(f"cosine similarity ({who}, judge)")
        for ax in axes[len(challenges) :]:
            ax.set_visible(False)
        handles, labels = [], []
        several = bool((steps.groupby(["challenge", "algorithm"])["seed"].nunique() > 1).any())
        for ax in axes[: len(challenges)]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(len(labels), 4),
            title="algorithm" + (" (band: range over seeds)" if several else ""),
        )
        fig.suptitle("Examinee–judge value similarity per step", fontweight="bold")
        return save_figure(fig, out_dir, name)


def _dots(
    ax: Axes,
    agg: pd.DataFrame,
    scores: pd.DataFrame,
    colours: Mapping[str, str],
    algorithms: list[str],
    column: str,
) -> None:
    """One dot per algorithm (mean over seeds) with its 95% interval as whiskers; seeds as
    small black dots when there are several; the value written beside each dot."""
    low_col, high_col = (
        ("ci_low", "ci_high") if column == "score" else (f"{column}_ci_low", f"{column}_ci_high")
    )
    values = []
    for x, algorithm in enumerate(algorithms):
        rows = agg[agg["algorithm"] == algorithm]
        if rows.empty or pd.isna(rows[column].iloc[0]):
            continue
        value = float(rows[column].iloc[0])
        low, high = float(rows[low_col].iloc[0]), float(rows[high_col].iloc[0])
        values += [value, low, high]
        err = np.array([[value - low], [high - value]])
        ax.errorbar(
            [x],
            [value],
            yerr=np.nan_to_num(err),
            fmt="o",
            markersize=6,
            color=colours.get(algorithm, "#000000"),
            ecolor="#333333",
            capsize=3,
            label=algorithm,
        )
        seeds = scores[
            (scores["algorithm"] == algorithm) & (scores["challenge"] == rows["challenge"].iloc[0])
        ]
        points = seeds[column].to_numpy(dtype=float) if column in seeds else np.array([])
        if len(points) > 1:
            ax.scatter(np.full(len(points), x + 0.12), points, s=8, color="black", zorder=3)
        ax.annotate(
            f"{value:.5f}" if column == "score" else f"{value:.3f}",
            (x, value),
            xytext=(7, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.set_xticks(range(len(algorithms)), algorithms, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(algorithms) - 0.1)
    finite = np.array([v for v in values if np.isfinite(v)])
    if finite.size:
        span = float(finite.max() - finite.min()) or max(abs(float(finite.max())) * 1e-6, 1e-9)
        ax.set_ylim(float(finite.min()) - 0.15 * span, float(finite.max()) + 0.15 * span)
    ax.grid(axis="x", visible=False)
    ax.ticklabel_format(axis="y", useOffset=False)


def score_intervals(
    scores: pd.DataFrame,
    out_dir: str | Path,
    colours: Mapping[str, str] | None = None,
    name: str = "score_intervals",
) -> list[Path]:
    """Benchmark scores: one panel per challenge, one dot per algorithm with its 95% interval.

    Each panel has its own y axis (the challenges' scales differ), so compare dots within a
    panel. Dots are the mean over seeds, whiskers the mean of the seeds' bootstrap intervals
    over questionnaire items; with several seeds the single seeds are small black dots. When
    the tables hold shift scores (docs/statistics.md) a second row shows them, on their own
    axes from -1 to 1 in principle.

    Args:
        scores: The validated ``scores`` table.
        out_dir: Folder for ``<name>.png`` and ``<name>.svg``.
        colours: Algorithm → colour (default: Okabe–Ito by sorted name).
        name: File stem.

    Returns:
        The written paths (PNG, SVG).
    """
    agg = aggregate_scores(scores)
    colours = dict(colours or colour_map(scores["algorithm"]))
    challenges = challenges_of(agg)
    algorithms = sorted(agg["algorithm"].unique())
    shifted = "shift" in agg.columns and bool(agg["shift"].notna().any())
    rows = [("score", "score (upstream)")] + ([("shift", "shift score")] if shifted else [])
    with report_style():
        fig = new_figure(max(5.0, 3.4 * len(challenges)), 3.6 * len(rows) + 0.8)
        axes = fig.subplots(len(rows), len(challenges), squeeze=False)
        for r, (column, label) in enumerate(rows):
            for c, challenge in enumerate(challenges):
                ax = axes[r][c]
                _dots(ax, agg[agg["challenge"] == challenge], scores, colours, algorithms, column)
                ax.set_title(f"PG-{challenge}: {label}", fontsize=9)
                if c == 0:
                    ax.set_ylabel(f"{label}\n(own axis per panel; whiskers: 95% CI)", fontsize=8)
        fig.suptitle("Benchmark scores by challenge (higher is better)", fontweight="bold")
        return save_figure(fig, out_dir, name)
