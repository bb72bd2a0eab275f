"""A self-contained ``leaderboard.html``: inline CSS, figures as base64 PNG data URIs, the
leaderboard table and a provenance footer. It loads nothing from anywhere."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from progalign.io import write_text
from progalign.report.leaderboard import (
    calibration_lines,
    display_rows,
    notes,
    value_difference_lines,
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.92rem;margin:.8rem 0}
th,td{padding:.35rem .7rem;border-bottom:1px solid #e3e3e3;text-align:center}
th{background:#f4f6f8}td.l,th.l{text-align:left}td.n{font-variant-numeric:tabular-nums}
tr:first-child td{font-weight:600}
figure{margin:1.2rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#444;margin-top:.3rem}
.note{font-size:.85rem;color:#555}
footer{margin-top:2.5rem;font-size:.8rem;color:#555;border-top:1px solid #ddd}
footer dt{font-weight:600;margin-top:.4rem}footer dd{margin-left:1rem;word-break:break-all}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.78rem}
"""


@dataclass(frozen=True)
class FigureEntry:
    """One figure of the page: its title, PNG file and caption."""

    title: str
    png: Path
    caption: str


def png_data_uri(path: str | Path) -> str:
    """The PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def table_html(board: pd.DataFrame) -> str:
    """The leaderboard as an HTML table (same cells as the Markdown version)."""
    header, rows = display_rows(board)
    left = {1}
    head = "".join(
        f"<th{' class=l' if i in left else ''}>{escape(h)}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class={'l' if i in left else 'n'}>{escape(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return escape(value)
    return "<code>" + escape(json.dumps(value, sort_keys=True, ensure_ascii=False)) + "</code>"


def provenance_html(provenance: Mapping[str, Any] | None, tables: Mapping[str, str]) -> str:
    """The footer: the run's provenance (top-level keys) and the sha256 of each input table."""
    items = []
    record = dict(provenance or {})
    for key in sorted(record):
        items.append(f"<dt>{escape(str(key))}</dt><dd>{_value(record[key])}</dd>")
    for name, digest in tables.items():
        items.append(f"<dt>table {escape(name)}</dt><dd><code>sha256 {escape(digest)}</code></dd>")
    if provenance is None:
        items.insert(0, "<dt>provenance</dt><dd>not given (no provenance.json)</dd>")
    return "<footer>\n<h2>Provenance</h2>\n<dl>\n" + "\n".join(items) + "\n</dl>\n</footer>"


def render_html(
    board: pd.DataFrame | None,
    figures: Sequence[FigureEntry],
    provenance: Mapping[str, Any] | None,
    tables: Mapping[str, str],
    skipped: Sequence[str] = (),
) -> str:
    """Render the whole page.

    Args:
        board: The leaderboard frame, or None when there is no ``scores`` table.
        figures: Figures to embed, in page order.
        provenance: The parsed ``provenance.json``, or None.
        tables: Input table name → sha256, listed in the footer.
        skipped: One line per figure or section that could not be built.

    Returns:
        The HTML document.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>progalign — leaderboard</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Progress alignment leaderboard</h1>",
        '<p class="note">ProgressGym challenges re-implemented by progalign. Built from the '
        "tidy result tables listed at the bottom of the page.</p>",
        "<h2>Leaderboard</h2>",
    ]
    if board is not None:
        lines = [
            *notes(board),
            *calibration_lines(board.attrs.get("calibration")),
            *value_difference_lines(board.attrs.get("value_differences")),
        ]
        parts += [table_html(board), *(f'<p class="note">{escape(n)}</p>' for n in lines)]
    else:
        parts.append('<p class="note">No scores table: the leaderboard was not built.</p>')
    if figures:
        parts.append("<h2>Figures</h2>")
    for figure in figures:
        parts.append(
            f'<figure><img src="{png_data_uri(figure.png)}" '
            f'alt="{escape(figure.title)}"><figcaption><b>{escape(figure.title)}.</b> '
            f"{escape(figure.caption)}</figcaption></figure>"
        )
    if skipped:
        parts.append('<p class="note">Not built: ' + escape("; ".join(skipped)) + "</p>")
    parts += [provenance_html(provenance, tables), "</body>", "</html>", ""]
    return "\n".join(parts)


def write_html(
    path: str | Path,
    board: pd.DataFrame | None,
    figures: Sequence[FigureEntry],
    provenance: Mapping[str, Any] | None,
    tables: Mapping[str, str],
    skipped: Sequence[str] = (),
) -> Path:
    """Render the page (see :func:`render_html`) and write it atomically to ``path``."""
    write_text(path, render_html(board, figures, provenance, tables, skipped))
    return Path(path)
