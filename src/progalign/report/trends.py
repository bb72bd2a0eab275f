"""Trend analysis of the historical models' values over the centuries (docs/statistics.md,
"Trends").

Per family and dimension, the century models' values are regressed on the century number:

- a straight line: slope per century, its 95% interval and the two-sided p-value of the slope
  (``scipy.stats.linregress``);
- a quadratic, tested against a constant with the F-test of its 2 predictors
  (F = (SS_explained / 2) / (SS_residual / (n - 3))). Upstream's ``analyze_vectors_quadratic``
  fits degree 3 but counts 2 predictors in its F-test, which is neither test; progalign fits
  the degree its F-test counts. With 7 centuries a cubic would leave 3 residual degrees of
  freedom for 7 points.

The fits treat each century's value as one observation (as upstream); the per-model bootstrap
intervals are not used as weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from progalign.report.style import century_number

#: Columns of :func:`trend_table`.
TREND_COLUMNS = (
    "family",
    "dim_index",
    "dimension",
    "group",
    "n_centuries",
    "slope",
    "slope_ci_low",
    "slope_ci_high",
    "slope_p",
    "quadratic_r2",
    "quadratic_f",
    "quadratic_p",
)


def linear_trend(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(slope, 95% interval low, high, two-sided p) of the least-squares line; NaN if n < 3."""
    if len(x) < 3:
        return math.nan, math.nan, math.nan, math.nan
    fit = stats.linregress(x, y)
    if not np.isfinite(fit.stderr):
        return float(fit.slope), math.nan, math.nan, math.nan
    t = stats.t.ppf(0.975, len(x) - 2)
    return (
        float(fit.slope),
        float(fit.slope - t * fit.stderr),
        float(fit.slope + t * fit.stderr),
        float(fit.pvalue),
    )


def quadratic_trend(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(R², F, p) of a degree-2 fit against a constant (2 predictors); NaN if n < 4."""
    n = len(x)
    if n < 4:
        return math.nan, math.nan, math.nan
    fitted = np.polyval(np.polyfit(x, y, 2), x)
    ss_total = float(((y - y.mean()) ** 2).sum())
    ss_residual = float(((y - fitted) ** 2).sum())
    if ss_total == 0:
        return math.nan, math.nan, math.nan
    r2 = 1 - ss_residual / ss_total
    if ss_residual == 0:
        return r2, math.inf, 0.0
    f = ((ss_total - ss_residual) / 2) / (ss_residual / (n - 3))
    return r2, float(f), float(stats.f.sf(f, 2, n - 3))


def trend_table(values: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, dimension) of the ``values`` table: the linear and quadratic fits
    of value against century number (centuries without a number are left out)."""
    rows = []
    for (family, dim_index), part in values.groupby(["family", "dim_index"], sort=True):
        x = np.array([century_number(c) for c in part["century"]], dtype=float)
        keep = np.isfinite(x)
        xs, ys = x[keep], part["value"].to_numpy(dtype=float)[keep]
        slope, low, high, p = linear_trend(xs, ys)
        r2, f, fp = quadratic_trend(xs, ys)
        first = part.iloc[0]
        rows.append(
            {
                "family": family,
                "dim_index": int(dim_index),
                "dimension": first["dimension"],
                "group": first["group"],
                "n_centuries": int(keep.sum()),
                "slope": slope,
                "slope_ci_low": low,
                "slope_ci_high": high,
                "slope_p": p,
                "quadratic_r2": r2,
                "quadratic_f": f,
                "quadratic_p": fp,
            }
        )
    return pd.DataFrame(rows, columns=list(TREND_COLUMNS))


def write_trends(values: pd.DataFrame, out_dir: str | Path) -> tuple[pd.DataFrame, Path]:
    """Write ``trends.csv`` to ``out_dir`` (atomically); return the table and the path."""
    from progalign.io import write_text

    table = trend_table(values)
    path = Path(out_dir) / "trends.csv"
    write_text(path, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return table, path
