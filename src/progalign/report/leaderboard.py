"""The leaderboard: per-challenge scores (mean over seeds, 95% CI), their shift companions, and
tie-aware ranks.

Aggregation over seeds: the score is the mean of the seeds' scores; the interval is the mean
of the seeds' bootstrap bounds (each a 95% interval over questionnaire items) and
``seed_sd`` is the standard deviation of the scores across seeds (empty with one seed).
Ranks count only separable differences (``ranking``): per challenge ``C.rank``, and overall by
dominance; algorithms nothing separates share a rank. Separable means the paired interval of the
difference (the ``differences`` table) excludes 0; references written before paired draws
existed have no such table, and there two algorithms are separable only when their own 95%
intervals do not overlap (conservative), which the note says.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from progalign.io import write_text
from progalign.report.ranking import (
    digits_to_show,
    dominance,
    identical_results,
    interval_wins,
    ranks,
    separable_wins,
)
from progalign.report.style import challenge_sort_key

#: Columns of :func:`aggregate_scores`.
AGGREGATE_COLUMNS = (
    "challenge",
    "algorithm",
    "score",
    "ci_low",
    "ci_high",
    "n_seeds",
    "seed_sd",
    "version",
)


def aggregate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Aggregate the ``scores`` table over seeds: one row per (challenge, algorithm).

    Rows are ordered by challenge (follow, predict, coevolve, then others) and algorithm name.
    """
    grouped = scores.groupby(["challenge", "algorithm"], sort=True)
    extra = {
        c: (c, "mean") for c in ("shift", "shift_ci_low", "shift_ci_high") if c in scores.columns
    }
    out = grouped.agg(
        score=("score", "mean"),
        ci_low=("ci_low", "mean"),
        ci_high=("ci_high", "mean"),
        n_seeds=("seed", "nunique"),
        seed_sd=("score", "std"),
        **extra,
    )
    out["version"] = grouped["version"].agg(lambda v: ",".join(sorted(set(v))))
    out = out.reset_index()
    out["seed_sd"] = out["seed_sd"].where(out["n_seeds"] > 1)
    key = out["challenge"].map(challenge_sort_key)
    out = out.assign(_key=key).sort_values(["_key", "algorithm"]).drop(columns="_key")
    return out.reset_index(drop=True)[[*AGGREGATE_COLUMNS, *extra]]


def challenges_of(frame: pd.DataFrame) -> list[str]:
    """Distinct challenges of a table, in paper order."""
    return sorted(frame["challenge"].unique(), key=challenge_sort_key)


def leaderboard(scores: pd.DataFrame, differences: pd.DataFrame | None = None) -> pd.DataFrame:
    """Build the wide leaderboard from the ``scores`` (and ``differences``) tables.

    Returns:
        One row per algorithm, best first, with columns ``rank``, ``algorithm``,
        ``mean_score``, ``n_challenges`` and, per challenge ``C``, ``C.score``, ``C.ci_low``,
        ``C.ci_high``, ``C.n_seeds`` (and ``C.shift``, ``C.shift_ci_low``, ``C.shift_ci_high``,
        ``C.rank``). ``attrs["ranked_by"]`` is ``paired`` or ``intervals``.
    """
    agg = aggregate_scores(scores)
    board = pd.DataFrame({"algorithm": sorted(agg["algorithm"].unique())})
    fields = [
        "score",
        "ci_low",
        "ci_high",
        "n_seeds",
        *(f for f in ("shift", "shift_ci_low", "shift_ci_high") if f in agg.columns),
    ]
    wins = separable_wins(differences) if differences is not None else interval_wins(agg)
    for challenge in challenges_of(agg):
        part = agg[agg["challenge"] == challenge].set_index("algorithm")
        for field in fields:
            board[f"{challenge}.{field}"] = board["algorithm"].map(part[field])
        per = ranks(list(part.index), wins.get(challenge, {}))
        board[f"{challenge}.rank"] = board["algorithm"].map(per)
    score_columns = [f"{c}.score" for c in challenges_of(agg)]
    board["mean_score"] = board[score_columns].mean(axis=1, skipna=True)
    board["n_challenges"] = board[score_columns].notna().sum(axis=1).astype("int64")
    overall = ranks(board["algorithm"], dominance(wins, board["algorithm"]))
    board.insert(0, "rank", board["algorithm"].map(overall).astype("int64"))
    board = board.sort_values(["rank", "mean_score", "algorithm"], ascending=[True, False, True])
    first = ["rank", "algorithm", "mean_score", "n_challenges"]
    rest = [c for c in board.columns if c not in first]
    board = board[first + rest].reset_index(drop=True)
    board.attrs["ranked_by"] = "paired" if differences is not None else "intervals"
    board.attrs["digits"] = digits_to_show(differences, (agg["ci_high"] - agg["ci_low"]).tolist())
    board.attrs["warnings"] = identical_results(differences) if differences is not None else []
    return board


def board_challenges(board: pd.DataFrame) -> list[str]:
    """The challenges of a leaderboard frame, in column order."""
    return [c[: -len(".score")] for c in board.columns if c.endswith(".score")]


def format_cell(score: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.912 [0.900, 0.925]"``; ``"0.912"`` without an interval; ``"—"`` without a score."""
    if score is None or math.isnan(score):
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{score:.{digits}f}"
    return f"{score:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def display_rows(board: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the leaderboard (shared by Markdown and HTML).

    Each challenge shows its score (with the per-challenge rank when known) and, when the
    tables have it, its shift companion in a column of its own.
    """
    challenges = board_challenges(board)
    digits = int(board.attrs.get("digits", 3))
    shifted = [
        c for c in challenges if f"{c}.shift" in board.columns and board[f"{c}.shift"].notna().any()
    ]
    header = ["rank", "algorithm", *challenges, *(f"{c} shift" for c in shifted), "mean"]
    rows = []
    for _, row in board.iterrows():
        cells = []
        for c in challenges:
            cell = format_cell(row[f"{c}.score"], row[f"{c}.ci_low"], row[f"{c}.ci_high"], digits)
            rank = row.get(f"{c}.rank")
            if rank is not None and not pd.isna(rank) and cell != "—":
                cell = f"({int(rank)}) {cell}"
            cells.append(cell)
        shifts = [
            format_cell(row[f"{c}.shift"], row[f"{c}.shift_ci_low"], row[f"{c}.shift_ci_high"])
            for c in shifted
        ]
        mean = f"{row['mean_score']:.{digits}f}"
        if row["n_challenges"] < len(challenges):
            mean += f" ({row['n_challenges']}/{len(challenges)})"
        rows.append([str(row["rank"]), str(row["algorithm"]), *cells, *shifts, mean])
    return header, rows


_HEAD = (
    "Scores: mean over seeds; brackets: 95% bootstrap interval over questionnaire items "
    "(mean of the seeds' bounds). (r): rank on that challenge, 1 + the number of "
    "algorithms separably better"
)
_TAIL = (
    "; equal ranks are ties. Overall rank: 1 + the number of algorithms better on some "
    "challenge and worse on none. (k/n) marks an algorithm run on only k of the n "
    "challenges."
)
PAIRED_NOTE = (
    _HEAD
    + " (paired 95% interval of the difference excludes 0 in every seed)"
    + _TAIL
    + " Shift: the same score on value changes from the first century (a "
    "progalign extension)."
)
INTERVALS_NOTE = (
    _HEAD + " (their own 95% intervals do not overlap: these tables hold no "
    "paired bootstrap draws, so this conservative test is used)" + _TAIL
)


def notes(board: pd.DataFrame) -> list[str]:
    """The note under the table, then one line per warning (identical results)."""
    head = PAIRED_NOTE if board.attrs.get("ranked_by") == "paired" else INTERVALS_NOTE
    return [head, *(f"Warning: {w}." for w in board.attrs.get("warnings", []))]


def calibration_lines(calibration: pd.DataFrame | None) -> list[str]:
    """One sentence on the judges' calibration shares (docs/evaluation.md), if measured."""
    if calibration is None or calibration.empty:
        return []
    shares = ", ".join(f"{r.century} {r.share_moral:.3f}" for r in calibration.itertuples())
    first = calibration.iloc[0]
    return [
        f"Calibration: share of the {int(first['items'])} {first['set']} items on which "
        f"each historical model prefers the moral action (P > 0.5; 0.5 is chance): "
        f"{shares}."
    ]


def value_difference_lines(differences: pd.DataFrame | None) -> list[str]:
    """One sentence: on how many dimensions the historical models separably differ."""
    if differences is None or differences.empty:
        return []
    counts = differences.groupby(["century_a", "century_b"], sort=False)["separable"].sum()
    pairs = ", ".join(f"{a}→{b} {int(n)}" for (a, b), n in counts.items())
    return [
        f"Historical models: dimensions (of 19) on which two centuries' value vectors differ "
        f"(paired 95% interval over items excludes 0): {pairs}."
    ]


def to_markdown(board: pd.DataFrame) -> str:
    """Render the leaderboard as a Markdown document (title, table, note)."""
    header, rows = display_rows(board)
    align = ["---:", ":---", *(":---:" for _ in header[2:-1]), "---:"]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    table = [line(header), "|" + "|".join(align) + "|", *(line(r) for r in rows)]
    lines = [
        *notes(board),
        *calibration_lines(board.attrs.get("calibration")),
        *value_difference_lines(board.attrs.get("value_differences")),
    ]
    return "# Leaderboard\n\n" + "\n".join(table) + "\n\n" + "\n\n".join(lines) + "\n"


def write_leaderboard(
    scores: pd.DataFrame,
    out_dir: str | Path,
    differences: pd.DataFrame | None = None,
    calibration: pd.DataFrame | None = None,
    value_differences: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` to ``out_dir`` (atomically).

    Returns:
        The leaderboard frame and the written paths.
    """
    board = leaderboard(scores, differences)
    board.attrs["calibration"] = calibration
    board.attrs["value_differences"] = value_differences
    out = Path(out_dir)
    csv_path, md_path = out / "leaderboard.csv", out / "leaderboard.md"
    write_text(csv_path, board.to_csv(index=False, lineterminator="\n"))
    write_text(md_path, to_markdown(board))
    return board, [csv_path, md_path]
