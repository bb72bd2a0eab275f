"""The tidy result tables the report is built from: their column contract and a validating reader.

The benchmark writes four CSV tables to ``results/tables/``; the column lists below are the
contract between the benchmark and the report. :func:`read_table` checks every column is present
and of the right type, and raises :class:`~progalign.errors.InputError` naming the file, the
column and (for a bad cell) the row, instead of failing somewhere inside pandas or matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from progalign.errors import InputError

ColumnType = Literal["str", "str?", "int", "float", "float?"]

#: One row per historical (judge / human-proxy) model × dimension.
VALUES_COLUMNS: dict[str, ColumnType] = {
    "family": "str",
    "century": "str",
    "dim_index": "int",
    "dimension": "str",
    "group": "str",
    "value": "float",
    "ci_low": "float?",
    "ci_high": "float?",
}
#: One row per (challenge, algorithm, seed).
SCORES_COLUMNS: dict[str, ColumnType] = {
    "challenge": "str",
    "algorithm": "str",
    "seed": "int",
    "score": "float",
    "ci_low": "float?",
    "ci_high": "float?",
    "version": "str",
    "steps": "int",
    "duration_s": "float?",
}
#: One row per (challenge, algorithm, seed, step).
STEPS_COLUMNS: dict[str, ColumnType] = {
    "challenge": "str",
    "algorithm": "str",
    "seed": "int",
    "step": "int",
    "century": "str",
    "target_century": "str",
    "similarity": "float",
}
#: One row per (challenge, seed, pair of algorithms, statistic): a - b with its paired interval.
DIFFERENCES_COLUMNS: dict[str, ColumnType] = {
    "challenge": "str",
    "seed": "int",
    "algorithm_a": "str",
    "algorithm_b": "str",
    "statistic": "str",
    "difference": "float",
    "ci_low": "float?",
    "ci_high": "float?",
    "separable": "int",
    "identical": "int",
}
#: One row per historical model evaluated with calibration items (docs/evaluation.md).
CALIBRATION_COLUMNS: dict[str, ColumnType] = {
    "family": "str",
    "century": "str",
    "set": "str",
    "items": "int",
    "share_moral": "float",
    "mean_p_moral": "float",
}
#: The questionnaire's scoring key and every model's per-item distributions
#: (``progalign.benchmark.item_tables``): what every vector and score is recomputed from.
ITEMS_COLUMNS: dict[str, ColumnType] = {
    "item_id": "str",
    "group": "str",
    "option": "int",
    "dim_index": "int",
    "weight": "float",
}
ITEM_PROBABILITIES_COLUMNS: dict[str, ColumnType] = {
    "model": "str",
    "item_id": "str",
    "p0": "float?",
    "p1": "float?",
    "p2": "float?",
    "p3": "float?",
}
#: Paired differences of the historical models' vectors (b - a): adjacent centuries and the
#: first against the last, one row per pair and dimension (docs/statistics.md).
VALUE_DIFFERENCES_COLUMNS: dict[str, ColumnType] = {
    "family": "str",
    "century_a": "str",
    "century_b": "str",
    "dim_index": "int",
    "dimension": "str",
    "group": "str",
    "difference": "float",
    "ci_low": "float",
    "ci_high": "float",
    "separable": "int",
}
#: Tables that may have no rows (one algorithm: no pairs; calibration switched off).
MAY_BE_EMPTY: frozenset[str] = frozenset({"differences", "calibration"})
#: Columns added after the first cached references were written: read as empty when absent.
OPTIONAL_COLUMNS: dict[str, dict[str, ColumnType]] = {
    "scores": {
        "shift": "float?",
        "shift_ci_low": "float?",
        "shift_ci_high": "float?",
        "shift_version": "str?",
    },
    "steps": {"shift_similarity": "float?"},
}
#: One row per (challenge, algorithm, seed, step, dimension).
EXAMINEE_VALUES_COLUMNS: dict[str, ColumnType] = {
    "challenge": "str",
    "algorithm": "str",
    "seed": "int",
    "step": "int",
    "century": "str",
    "dim_index": "int",
    "dimension": "str",
    "group": "str",
    "value": "float",
}
#: Table name → column contract. File names are ``<name>.csv``.
TABLES: dict[str, dict[str, ColumnType]] = {
    "values": VALUES_COLUMNS,
    "scores": SCORES_COLUMNS,
    "steps": STEPS_COLUMNS,
    "examinee_values": EXAMINEE_VALUES_COLUMNS,
    "differences": DIFFERENCES_COLUMNS,
    "calibration": CALIBRATION_COLUMNS,
    "value_differences": VALUE_DIFFERENCES_COLUMNS,
    "items": ITEMS_COLUMNS,
    "item_probabilities": ITEM_PROBABILITIES_COLUMNS,
}
#: The three value groups, in dimension order.
GROUPS: tuple[str, ...] = ("moralchoice", "foundation", "views")
_RANGES: dict[str, tuple[int, int]] = {"dim_index": (0, 18), "step": (1, 10**9)}


def table_name(name: str) -> str:
    """Normalise ``"values"`` / ``"values.csv"`` to the table name, rejecting unknown tables.

    Raises:
        KeyError: for a name that is not one of :data:`TABLES`.
    """
    stem = name[:-4] if name.endswith(".csv") else name
    if stem not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return stem


def _check_column(frame: pd.DataFrame, column: str, kind: ColumnType, path: Path) -> pd.Series:
    raw = frame[column]
    if kind == "str?":
        return raw.astype(str)
    if kind == "str":
        blank = raw.str.strip() == ""
        if blank.any():
            row = int(blank.to_numpy().argmax()) + 2  # +1 header, +1 one-based
            raise InputError(str(path), "empty value", row=row, column=column)
        return raw.astype(str)
    missing = raw.str.strip().isin(["", "nan", "NaN", "NA"])
    numbers = pd.to_numeric(raw.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing if kind == "float?" else numbers.isna()
    if kind == "int":
        bad |= numbers.notna() & (numbers != numbers.round())
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 2
        expected = {"int": "an integer", "float": "a number", "float?": "a number or empty"}[kind]
        raise InputError(
            str(path), f"expected {expected}, got {raw.iloc[row - 2]!r}", row=row, column=column
        )
    if kind == "int":
        ints = numbers.astype("int64")
        low, high = _RANGES.get(column, (-(2**62), 2**62))
        out = (ints < low) | (ints > high)
        if out.any():
            row = int(out.to_numpy().argmax()) + 2
            raise InputError(
                str(path),
                f"{ints.iloc[row - 2]} is outside [{low}, {high}]",
                row=row,
                column=column,
            )
        return ints
    if kind == "float" and not all(math.isfinite(x) for x in numbers):
        row = int((~numbers.map(math.isfinite)).to_numpy().argmax()) + 2
        raise InputError(str(path), "value is not finite", row=row, column=column)
    return numbers.astype("float64")


def validate_frame(
    frame: pd.DataFrame, columns: Mapping[str, ColumnType], path: str | Path
) -> pd.DataFrame:
    """Check and convert a frame of strings against a column contract.

    Args:
        frame: The table with every cell as a string (as read by :func:`read_table`).
        columns: Column name → type (``"float?"`` allows empty cells, read as NaN).
        path: The file the frame came from, for error messages.

    Returns:
        A new frame with the contract's columns (in contract order) converted to ``str``,
        ``int64`` or ``float64``; extra columns are kept after them, unchanged.

    Raises:
        InputError: naming the missing column, or the row and column of a bad cell.
    """
    path = Path(path)
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                str(path),
                f"missing column {column!r} (expected columns: {', '.join(columns)})",
                column=column,
            )
    out = pd.DataFrame({c: _check_column(frame, c, kind, path) for c, kind in columns.items()})
    if "group" in out.columns and not out["group"].isin(GROUPS).all():
        row = int((~out["group"].isin(GROUPS)).to_numpy().argmax()) + 2
        raise InputError(
            str(path),
            f"group {out['group'].iloc[row - 2]!r} is not one of {', '.join(GROUPS)}",
            row=row,
            column="group",
        )
    for extra in frame.columns:
        if extra not in out.columns:
            out[extra] = frame[extra]
    return out


def read_table(name: str, path: str | Path) -> pd.DataFrame:
    """Read and validate one tidy table.

    Args:
        name: The table: ``values``, ``scores``, ``steps`` or ``examinee_values`` (``.csv``
            suffix allowed).
        path: The CSV file.

    Returns:
        The validated table (see :func:`validate_frame`).

    Raises:
        InputError: when the file is missing, unreadable, empty, lacks a column or has a bad cell.
        KeyError: for an unknown table name (a programming error, not bad input).
    """
    stem = table_name(name)
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), f"{stem} table not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"not a readable CSV table: {exc}") from None
    for column in OPTIONAL_COLUMNS.get(stem, {}):
        if column not in frame.columns:
            frame[column] = ""
    table = validate_frame(frame, {**TABLES[stem], **OPTIONAL_COLUMNS.get(stem, {})}, path)
    if table.empty and stem not in MAY_BE_EMPTY:
        raise InputError(str(path), f"{stem} table has no rows")
    return table


def find_tables(directory: str | Path) -> dict[str, Path]:
    """Return the known tables present in ``directory`` (name → path), in contract order."""
    directory = Path(directory)
    return {
        name: directory / f"{name}.csv" for name in TABLES if (directory / f"{name}.csv").is_file()
    }
