"""Figures of the historical models' value vectors (from ``values.csv``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.image import AxesImage

from progalign.report.style import (
    GROUP_LABELS,
    HEATMAP_CMAP,
    LINESTYLES,
    MARKERS,
    TOL_MUTED,
    century_label,
    century_number,
    new_figure,
    pretty_dimension,
    report_style,
    save_figure,
    sorted_centuries,
)
from progalign.report.tables import GROUPS


def _dimensions(values: pd.DataFrame) -> pd.DataFrame:
    """Distinct (dim_index, dimension, group) rows in dimension order."""
    dims = values[["dim_index", "dimension", "group"]].drop_duplicates("dim_index")
    return dims.sort_values("dim_index").reset_index(drop=True)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Min-max normalise each row to [0, 1], ignoring NaN; a constant row maps to 0.5."""
    with warnings.catch_warnings():  # an all-NaN row (dimension absent) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanmin(matrix, axis=1, keepdims=True)
        span = np.nanmax(matrix, axis=1, keepdims=True) - low
    safe = np.where(span > 0, span, 1.0)
    return np.where(np.isnan(matrix), np.nan, np.where(span > 0, (matrix - low) / safe, 0.5))


def _heatmap_panel(ax: Axes, table: pd.DataFrame, dims: pd.DataFrame,
                   centuries: list[str]) -> AxesImage:
    matrix = (table.pivot_table(index="dim_index", columns="century", values="value",
                                aggfunc="mean")
              .reindex(index=dims["dim_index"], columns=centuries).to_numpy(dtype=float))
    norm = normalise_rows(matrix)
    image = ax.imshow(np.ma.masked_invalid(norm), cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0,
                      aspect="auto", interpolation="nearest")
    ax.set_facecolor("#f2f2f2")
    for (row, col), raw in np.ndenumerate(matrix):
        if np.isnan(raw):
            ax.text(col, row, "n/a", ha="center", va="center", fontsize=6.5, color="#555555")
            continue
        colour = "white" if norm[row, col] < 0.55 else "black"
        ax.text(col, row, f"{raw:.3f}", ha="center", va="center", fontsize=6.5, color=colour)
    ax.set_xticks(range(len(centuries)), [century_label(c) for c in centuries], fontsize=8)
    ax.set_xlabel("century of the historical model")
    ax.grid(False)
    groups = dims["group"].tolist()
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            ax.axhline(i - 0.5, color="white", linewidth=3)
    return image


def values_heatmap(values: pd.DataFrame, out_dir: str | Path,
                   name: str = "values_heatmap") -> list[Path]:
    """Heatmap of the 19-d value vectors: dimensions (rows) × centuries (columns).

    Colours are normalised per dimension (each row's minimum → 0, maximum → 1), so the change
    of every dimension over time is visible whatever its scale; each cell is annotated with the
    raw value. One panel per model family.

    Args:
        values: The validated ``values`` table.
        out_dir: Folder for ``<name>.png`` and ``<name>.svg``.
        name: File stem.

    Returns:
        The written paths (PNG, SVG).
    """
    dims = _dimensions(values)
    centuries = sorted_centuries(values["century"])
    families = sorted(values["family"].unique())
    with report_style():
        width = 3.2 + len(families) * (0.75 * len(centuries) + 0.6)
        fig = new_figure(width, 0.3 * len(dims) + 2.0)
        axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
        images = []
        for ax, family in zip(axes, families, strict=True):
            images.append(_heatmap_panel(ax, values[values["family"] == family], dims,
                                         centuries))
            if len(families) > 1:
                ax.set_title(f"family: {family}")
        axes[0].set_yticks(range(len(dims)), [pretty_dimension(d) for d in dims["dimension"]])
        axes[0].set_ylabel("value dimension")
        for group in GROUPS:
            rows = np.flatnonzero(dims["group"].to_numpy() == group)
            if rows.size:
                axes[-1].text(1.02, rows.mean(), GROUP_LABELS[group],
                              transform=axes[-1].get_yaxis_transform(), rotation=270,
                              ha="left", va="center", fontsize=9, fontweight="bold")
        bar = fig.colorbar(images[-1], ax=list(axes), shrink=0.6, pad=0.08)
        bar.set_label("value, normalised per dimension\n(row min → 0, row max → 1; "
                      "numbers: raw values)", fontsize=8)
        suffix = "" if len(families) > 1 else f" (family: {families[0]})"
        fig.suptitle(f"Value vectors of the historical models{suffix}", fontweight="bold")
        return save_figure(fig, out_dir, name)


def _trajectory_panel(ax: Axes, table: pd.DataFrame, dims: pd.DataFrame) -> None:
    for i, (_, dim) in enumerate(dims.iterrows()):
        rows = table[table["dim_index"] == dim["dim_index"]].copy()
        rows["x"] = [century_number(c) or 0 for c in rows["century"]]
        rows = rows.groupby("x", sort=True)[["value", "ci_low", "ci_high"]].mean()
        colour = TOL_MUTED[i % 9]
        style = LINESTYLES[(i // 9) % len(LINESTYLES)]
        ax.plot(rows.index, rows["value"], color=colour, linestyle=style,
                marker=MARKERS[i % len(MARKERS)], markersize=4, linewidth=1.5,
                label=pretty_dimension(str(dim["dimension"])))
        band = rows.dropna(subset=["ci_low", "ci_high"])
        if not band.empty:
            ax.fill_between(band.index, band["ci_low"], band["ci_high"], color=colour,
                            alpha=0.15 if len(dims) <= 5 else 0.08, linewidth=0)


def group_trajectories(values: pd.DataFrame, out_dir: str | Path,
                       name: str = "group_trajectories") -> list[Path]:
    """One panel per value group: every dimension's value against century, with 95% CI bands.

    Centuries are placed on their true time axis, so a century without a model (e.g. C015 in
    the embedded corpus) shows as a gap in the ticks rather than being hidden. One row of
    panels per model family.

    Args:
        values: The validated ``values`` table.
        out_dir: Folder for ``<name>.png`` and ``<name>.svg``.
        name: File stem.

    Returns:
        The written paths (PNG, SVG).
    """
    dims = _dimensions(values)
    centuries = [c for c in sorted_centuries(values["century"]) if century_number(c) is not None]
    families = sorted(values["family"].unique())
    groups = [g for g in GROUPS if (dims["group"] == g).any()]
    with report_style():
        fig = new_figure(4.6 * len(groups), 4.4 * len(families) + 0.6)
        axes = fig.subplots(len(families), len(groups), squeeze=False)
        for r, family in enumerate(families):
            table = values[values["family"] == family]
            for c, group in enumerate(groups):
                ax = axes[r][c]
                _trajectory_panel(ax, table, dims[dims["group"] == group])
                title = GROUP_LABELS[group]
                ax.set_title(title if len(families) == 1 else f"{title} — {family}")
                ax.set_xticks([century_number(x) for x in centuries],
                              [century_label(x) for x in centuries], fontsize=8)
                ax.set_xlabel("century of the historical model")
                ax.set_ylabel("value (shaded: 95% bootstrap CI)")
                ax.legend(fontsize=7, ncol=2, loc="upper center",
                          bbox_to_anchor=(0.5, -0.22), title="dimension", title_fontsize=8)
        suffix = "" if len(families) > 1 else f" (family: {families[0]})"
        fig.suptitle(f"Value trajectories of the historical models{suffix}", fontweight="bold")
        return save_figure(fig, out_dir, name)
