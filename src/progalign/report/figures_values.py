"""Figures of the historical models' value vectors (from ``values.csv``)."""

from __future__ import annotations

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
from progalign.report.table_schema import GROUPS


def _dimensions(values: pd.DataFrame) -> pd.DataFrame:
    """Distinct (dim_index, dimension, group) rows in dimension order."""
    dims = values[["dim_index", "dimension", "group"]].drop_duplicates("dim_index")
    return dims.sort_values("dim_index").reset_index(drop=True)


def _heatmap_panel(
    ax: Axes,
    table: pd.DataFrame,
    dims: pd.DataFrame,
    centuries: list[str],
    limits: tuple[float, float],
) -> AxesImage:
    matrix = (
        table.pivot_table(index="dim_index", columns="century", values="value", aggfunc="mean")
        .reindex(index=dims["dim_index"], columns=centuries)
        .to_numpy(dtype=float)
    )
    low, high = limits
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        cmap=HEATMAP_CMAP,
        vmin=low,
        vmax=high,
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_facecolor("#f2f2f2")
    span = high - low if high > low else 1.0
    for (row, col), raw in np.ndenumerate(matrix):
        if np.isnan(raw):
            ax.text(col, row, "n/a", ha="center", va="center", fontsize=6.5, color="#555555")
            continue
        colour = "white" if (raw - low) / span < 0.55 else "black"
        ax.text(col, row, f"{raw:.3f}", ha="center", va="center", fontsize=6.5, color=colour)
    ax.set_xticks(range(len(centuries)), [century_label(c) for c in centuries], fontsize=8)
    ax.set_xlabel("century of the historical model")
    ax.grid(False)
    groups = dims["group"].tolist()
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            ax.axhline(i - 0.5, color="white", linewidth=3)
    return image


def values_heatmap(
    values: pd.DataFrame, out_dir: str | Path, name: str = "values_heatmap"
) -> list[Path]:
    """Heatmap of the 19-d value vectors: dimensions (rows) × centuries (columns).

    One colour scale for every cell (absolute values, not normalised per row), so a dimension
    that barely moves looks uniform instead of spanning the whole colour map; each cell is
    annotated with its value. One panel per model family.

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
        finite = values["value"].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        for ax, family in zip(axes, families, strict=True):
            images.append(
                _heatmap_panel(ax, values[values["family"] == family], dims, centuries, limits)
            )
            if len(families) > 1:
                ax.set_title(f"family: {family}")
        axes[0].set_yticks(range(len(dims)), [pretty_dimension(d) for d in dims["dimension"]])
        axes[0].set_ylabel("value dimension")
        for group in GROUPS:
            rows = np.flatnonzero(dims["group"].to_numpy() == group)
            if rows.size:
                axes[-1].text(
                    1.02,
                    rows.mean(),
                    GROUP_LABELS[group],
                    transform=axes[-1].get_yaxis_transform(),
                    rotation=270,
                    ha="left",
                    va="center",
                    fontsize=9,
                    fontweight="bold",
                )
        bar = fig.colorbar(images[-1], ax=list(axes), shrink=0.6, pad=0.08)
        bar.set_label("value (one scale for all cells)", fontsize=8)
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
        ax.plot(
            rows.index,
            rows["value"],
            color=colour,
            linestyle=style,
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            linewidth=1.5,
            label=pretty_dimension(str(dim["dimension"])),
        )
        band = rows.dropna(subset=["ci_low", "ci_high"])
        if not band.empty:
            ax.fill_between(
                band.index,
                band["ci_low"],
                band["ci_high"],
                color=colour,
                alpha=0.15 if len(dims) <= 5 else 0.08,
                linewidth=0,
            )


def group_trajectories(
    values: pd.DataFrame, out_dir: str | Path, name: str = "group_trajectories"
) -> list[Path]:
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
                ax.set_xticks(
                    [century_number(x) for x in centuries],
                    [century_label(x) for x in centuries],
                    fontsize=8,
                )
                ax.set_xlabel("century of the historical model")
                ax.set_ylabel("value (shaded: 95% bootstrap CI)")
                ax.legend(
                    fontsize=7,
                    ncol=2,
                    loc="upper center",
                    bbox_to_anchor=(0.5, -0.22),
                    title="dimension",
                    title_fontsize=8,
                )
        suffix = "" if len(families) > 1 else f" (family: {families[0]})"
        fig.suptitle(f"Value trajectories of the historical models{suffix}", fontweight="bold")
        return save_figure(fig, out_dir, name)


def value_trends(
    values: pd.DataFrame, out_dir: str | Path, name: str = "value_trends"
) -> list[Path]:
    """Per dimension, the slope of a straight line through the century models' values
    (``trends.trend_table``), as a dot with its 95% interval; filled where p < 0.05.

    Args:
        values: The validated ``values`` table.
        out_dir: Folder for ``<name>.png`` and ``<name>.svg``.
        name: File stem.

    Returns:
        The written paths (PNG, SVG).
    """
    from progalign.report.trends import trend_table

    trends = trend_table(values)
    families = sorted(trends["family"].unique())
    dims = _dimensions(values)
    with report_style():
        fig = new_figure(4.2 * len(families) + 2.6, 0.3 * len(dims) + 2.0)
        axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
        for k, (ax, family) in enumerate(zip(axes, families, strict=True)):
            part = trends[trends["family"] == family].set_index("dim_index")
            part = part.reindex(dims["dim_index"])
            y = np.arange(len(dims))
            slope = part["slope"].to_numpy(dtype=float)
            low = part["slope_ci_low"].to_numpy(dtype=float)
            high = part["slope_ci_high"].to_numpy(dtype=float)
            sure = part["slope_p"].to_numpy(dtype=float) < 0.05
            ax.errorbar(
                slope,
                y,
                xerr=np.vstack([slope - low, high - slope]),
                fmt="none",
                ecolor="#555555",
                elinewidth=1,
                capsize=2,
            )
            ax.scatter(
                slope[sure],
                y[sure],
                color=TOL_MUTED[0],
                zorder=3,
                s=22,
                label="p < 0.05" if k == 0 else None,
            )
            ax.scatter(
                slope[~sure],
                y[~sure],
                facecolor="white",
                edgecolor=TOL_MUTED[0],
                zorder=3,
                s=22,
                label="p ≥ 0.05" if k == 0 else None,
            )
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_xlabel("slope of value per century (95% CI)")
            n = int(part["n_centuries"].max()) if part["n_centuries"].notna().any() else 0
            ax.set_title(f"{family}: linear fit over {n} centuries")
        axes[0].set_yticks(range(len(dims)), [pretty_dimension(d) for d in dims["dimension"]])
        axes[0].invert_yaxis()
        axes[0].set_ylabel("value dimension")
        fig.legend(loc="outside lower center", ncol=2)
        fig.suptitle("Trends of the historical models' values", fontweight="bold")
        return save_figure(fig, out_dir, name)
