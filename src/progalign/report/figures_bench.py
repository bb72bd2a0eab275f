"""Figures of the benchmark runs (from ``steps.csv`` and ``scores.csv``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    for i, algorithm in enumerate(sorted(table["algorithm"].unique())):
        rows = table[table["algorithm"] == algorithm]
        per_seed = rows.pivot_table(index="step", columns="seed", values="similarity",
                                    aggfunc="mean").sort_index()
        mean = per_seed.mean(axis=1)
        n_seeds = per_seed.shape[1]
        label = algorithm if n_seeds == 1 else f"{algorithm} (mean of {n_seeds} seeds)"
        colour = colours.get(algorithm, "#000000")
        ax.plot(mean.index, mean.to_numpy(), color=colour, marker=MARKERS[i % len(MARKERS)],
                markersize=4, linewidth=1.6, label=label)
        if n_seeds > 1:
            ax.fill_between(mean.index, per_seed.min(axis=1), per_seed.max(axis=1),
                            color=colour, alpha=0.18, linewidth=0)


def similarity_curves(steps: pd.DataFrame, out_dir: str | Path,
                      colours: Mapping[str, str] | None = None,
                      name: str = "similarity_curves") -> list[Path]:
    """Per challenge a panel: cosine similarity of examinee and judge against the step.

    Each algorithm's curve is the mean over seeds; with more than one seed the band shows the
    range (min–max) over seeds. Tick labels give the step, the judge's century and, where the
    examinee is compared to another century (PG-Predict), the target century after an arrow.

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
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
        for ax, challenge in zip(axes, challenges, strict=False):
            table = steps[steps["challenge"] == challenge]
            _similarity_panel(ax, table, colours)
            ticks, labels, shifted = _step_labels(table)
            ax.set_xticks(ticks, labels, fontsize=8)
            ax.set_xlabel("step / judge century" + (" → compared-to century" if shifted else ""))
            ax.set_title(f"PG-{challenge}" if not challenge.startswith("PG") else challenge)
            who = "simulated human" if challenge.startswith("coevolve") else "examinee"
            ax.set_ylabel(f"cosine similarity ({who}, judge)")
        for ax in axes[len(challenges):]:
            ax.set_visible(False)
        handles, labels = [], []
        several = bool((steps.groupby(["challenge", "algorithm"])["seed"].nunique() > 1).any())
        for ax in axes[: len(challenges)]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4),
                   title="algorithm" + (" (band: range over seeds)" if several else ""))
        fig.suptitle("Examinee–judge value similarity per step", fontweight="bold")
        return save_figure(fig, out_dir, name)


def score_limits(values: np.ndarray) -> tuple[float, float, bool]:
    """The y range for the score bars: ``(bottom, top, zoomed)``.

    Scores are cosines that often all lie within a few hundredths of each other near 1; on an
    axis from 0 their differences would be invisible. When every value is positive and their
    spread is under a quarter of the largest, the axis is zoomed to a rounded value below the
    smallest (``zoomed`` is True and the figure says so); otherwise it includes 0.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = max(high - low, 1e-3)
    if low > 0 and span < 0.25 * high:
        step = 10.0 ** math.floor(math.log10(span))
        bottom = max(0.0, math.floor((low - 0.6 * span) / step) * step)
        return round(bottom, 10), high + 0.5 * span, True
    bottom = min(0.0, low - 0.05 * span)
    return bottom, high + 0.18 * (high - bottom), False


def _bars(ax: Axes, agg: pd.DataFrame, scores: pd.DataFrame, colours: Mapping[str, str],
          challenges: list[str]) -> None:
    """Draw one bar per (challenge, algorithm), CI error bars, seed dots and score labels."""
    algorithms = sorted(agg["algorithm"].unique())
    width = 0.8 / len(algorithms)
    seed_dots = False
    for i, algorithm in enumerate(algorithms):
        rows = agg[agg["algorithm"] == algorithm].set_index("challenge")
        present = [c for c in challenges if c in rows.index]
        offset = (i - (len(algorithms) - 1) / 2) * width
        x = np.array([challenges.index(c) for c in present]) + offset
        score = rows.loc[present, "score"].to_numpy(dtype=float)
        low = np.nan_to_num(score - rows.loc[present, "ci_low"].to_numpy(dtype=float))
        high = np.nan_to_num(rows.loc[present, "ci_high"].to_numpy(dtype=float) - score)
        ax.bar(x, score, width * 0.92, color=colours.get(algorithm, "#000000"),
               label=algorithm, yerr=np.vstack([low, high]), capsize=3,
               error_kw={"elinewidth": 1, "ecolor": "#333333"})
        seeds = scores[scores["algorithm"] == algorithm]
        for xi, s, h, challenge in zip(x, score, high, present, strict=True):
            points = seeds[seeds["challenge"] == challenge]["score"].to_numpy(dtype=float)
            if len(points) > 1:
                ax.scatter(np.full(len(points), xi), points, s=9, color="black", zorder=3,
                           label=None if seed_dots else "single seed")
                seed_dots = True
            label_y = max(s + h, float(points.max()) if len(points) else s)
            ax.annotate(f"{s:.3f}", (xi, label_y), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, rotation=90)


def _score_axis(ax: Axes, agg: pd.DataFrame, scores: pd.DataFrame) -> None:
    """Y range (zoomed with a break mark when scores are close), labels and legend."""
    bottom, top, zoomed = score_limits(
        np.r_[agg["score"], agg["ci_low"], agg["ci_high"], scores["score"]])
    ax.set_ylim(bottom, top)
    ylabel = "score (mean cosine similarity; higher is better)"
    if zoomed:
        ylabel += f"\naxis zoomed: starts at {bottom:g}, not 0"
        kw: dict[str, Any] = {"transform": ax.transAxes, "color": "black", "clip_on": False,
                              "lw": 1}
        for dy in (-0.012, 0.012):
            ax.plot([-0.015, 0.015], [0.02 + dy - 0.01, 0.02 + dy + 0.01], **kw)
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: labels[k] == "single seed")
    ax.legend([handles[k] for k in order], [labels[k] for k in order],
              title="algorithm (error bars: 95% CI)", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8)


def scores_bars(scores: pd.DataFrame, out_dir: str | Path,
                colours: Mapping[str, str] | None = None,
                name: str = "scores_bars") -> list[Path]:
    """Benchmark scores grouped by challenge, one bar per algorithm, with 95% CI error bars.

    Bars are the mean over seeds; error bars the mean of the seeds' bootstrap 95% intervals;
    with more than one seed the individual seeds' scores are drawn as black dots. Each bar is
    annotated with its score. When all scores are close the y axis is zoomed (see
    :func:`score_limits`), marked with a break and said in the axis label.

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
    n_algorithms = agg["algorithm"].nunique()
    with report_style():
        fig = new_figure(max(5.0, 1.1 + len(challenges) * (0.45 * n_algorithms + 0.6)), 4.6)
        ax = fig.subplots()
        _bars(ax, agg, scores, colours, challenges)
        ax.set_xticks(range(len(challenges)), [f"PG-{c}" for c in challenges])
        ax.set_xlabel("challenge")
        _score_axis(ax, agg, scores)
        ax.set_title("Benchmark scores by challenge")
        return save_figure(fig, out_dir, name)
