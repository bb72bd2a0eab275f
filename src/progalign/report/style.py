"""Shared figure style: colour-blind-safe palettes, labels, and deterministic PNG/SVG output.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with an explicit Agg canvas — never
through ``pyplot`` — so the report neither depends on nor changes the global matplotlib backend or
state. :func:`save_figure` writes PNG and SVG atomically with fixed metadata and a fixed SVG hash
salt, so equal tables give byte-identical files.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from progalign.io import write_bytes

#: Okabe & Ito (2008), safe for the common colour-vision deficiencies (black/yellow left out,
#: yellow is hard to see on white). Used for algorithms.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
#: Paul Tol's "muted" scheme (colour-blind safe, 9 colours + grey). Used for value dimensions.
TOL_MUTED: tuple[str, ...] = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
    "#DDDDDD",
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":")
#: Perceptually uniform and readable with every common colour-vision deficiency.
HEATMAP_CMAP = "cividis"
FORMATS: tuple[str, ...] = ("png", "svg")

_RC: dict[Any, Any] = {  # typed loosely: rcParams keys are Literal-typed
    "svg.hashsalt": "progalign-report",
    "svg.fonttype": "path",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.dpi": 100,
}
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
}

#: Human-readable names for the 19 dimensions (MoralChoice rules are Gert's moral rules).
DIMENSION_LABELS: dict[str, str] = {
    "moralchoice.death": "Do not kill",
    "moralchoice.pain": "Do not cause pain",
    "moralchoice.disable": "Do not disable",
    "moralchoice.freedom": "Do not deprive of freedom",
    "moralchoice.pleasure": "Do not deprive of pleasure",
    "moralchoice.deceive": "Do not deceive",
    "moralchoice.cheat": "Do not cheat",
    "moralchoice.break_promise": "Keep promises",
    "moralchoice.break_law": "Obey the law",
    "moralchoice.duty": "Do your duty",
    "foundation.Harm_Care": "Harm / Care",
    "foundation.Fairness_Reciprocity": "Fairness / Reciprocity",
    "foundation.InGroup_Loyalty": "In-group / Loyalty",
    "foundation.Authority_Respect": "Authority / Respect",
    "foundation.Purity_Sancity": "Purity / Sanctity",
    "views.Traditional": "Traditional",
    "views.Modern": "Modern",
    "views.Post-modern": "Post-modern",
    "views.Integrated": "Integrated",
}
GROUP_LABELS: dict[str, str] = {
    "moralchoice": "MoralChoice rules",
    "foundation": "Moral Foundations",
    "views": "Worldviews",
}
_CENTURY = re.compile(r"^C0*(\d+)$")


def pretty_dimension(name: str) -> str:
    """``"foundation.Harm_Care"`` → ``"Harm / Care"``; unknown names lose their group prefix."""
    if name in DIMENSION_LABELS:
        return DIMENSION_LABELS[name]
    return name.split(".", 1)[-1].replace("_", " ")


def century_number(code: str) -> int | None:
    """``"C014"`` → 14 (None when the code is not of that form)."""
    match = _CENTURY.match(code)
    return int(match.group(1)) if match else None


def century_sort_key(code: str) -> tuple[int, str]:
    """Sort key putting ``C009`` before ``C014`` and unknown codes last, by name."""
    number = century_number(code)
    return (number if number is not None else 10**6, code)


def century_label(code: str) -> str:
    """Tick label for a century: ``"C014"`` → ``"C014\\n1300s"`` (century = year // 100 + 1)."""
    number = century_number(code)
    return code if number is None else f"{code}\n{(number - 1) * 100}s"


def sorted_centuries(codes: Iterable[str]) -> list[str]:
    """Distinct century codes in chronological order."""
    return sorted(set(codes), key=century_sort_key)


def challenge_sort_key(name: str) -> tuple[int, str]:
    """Order challenges as in the paper (follow, predict, coevolve), others after, by name."""
    base = name.split("-", 1)[0]
    order = {"follow": 0, "predict": 1, "coevolve": 2}
    return (order.get(base, 3), name)


def colour_map(names: Iterable[str], palette: tuple[str, ...] = OKABE_ITO) -> dict[str, str]:
    """Assign palette colours to sorted distinct names (stable across figures)."""
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(names)))}


@contextmanager
def report_style() -> Iterator[None]:
    """Context with the report's matplotlib settings (restored on exit)."""
    with mpl.rc_context(_RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached (no pyplot), in the report style's layout engine."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_dir: str | Path, name: str, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.png`` and ``.svg``, atomically and deterministically.

    Returns:
        The written paths, PNG first.
    """
    paths = []
    with report_style():
        for fmt in FORMATS:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
            path = Path(out_dir) / f"{name}.{fmt}"
            write_bytes(path, buffer.getvalue())
            paths.append(path)
    return paths
