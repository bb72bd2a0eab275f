"""The report stage: figures, leaderboard and cached results, built only from tidy tables.

Public API:

- :mod:`progalign.report.table_schema`: column contracts, :func:`read_table`.
- :func:`values_heatmap`, :func:`group_trajectories`, :func:`similarity_curves`,
  :func:`score_intervals`: one function per figure, each returning the written PNG and SVG paths.
- :func:`aggregate_scores`, :func:`write_leaderboard`, :func:`write_html`.
- :func:`write_manifest`, :func:`verify_manifest`: checksummed cached results.
- :func:`build_report`: everything above from a tables folder (``progalign report``).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name → defining module. Imported lazily: the CLI registers ``report`` without
#: importing pandas/matplotlib (the ``workflow`` extra), so other commands work without them.
_EXPORTS = {
    "FIGURES": "build",
    "BuildResult": "build",
    "build_report": "build",
    "score_intervals": "figures_bench",
    "similarity_curves": "figures_bench",
    "group_trajectories": "figures_values",
    "values_heatmap": "figures_values",
    "write_html": "html",
    "aggregate_scores": "leaderboard",
    "write_leaderboard": "leaderboard",
    "verify_manifest": "manifest",
    "write_manifest": "manifest",
    "read_table": "tables",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = [
    "FIGURES",
    "BuildResult",
    "aggregate_scores",
    "build_report",
    "group_trajectories",
    "read_table",
    "score_intervals",
    "similarity_curves",
    "values_heatmap",
    "verify_manifest",
    "write_html",
    "write_leaderboard",
    "write_manifest",
]
