"""Loader for the ``;``-separated World-Values-Survey prototype (``wvs/prototype.csv``).

Upstream never uses this file and it is not part of the 19-d value vector; it is parsed so that a
user can inspect it. Odd rows never stop the loader: each is reported as a ``Decision``.
At ``871e2bd`` the file has 7 rows; ``W_05`` has 7 fields instead of 8 (its ``generation_theme``
is missing) and the ``dimension_range_a..b`` span of five rows disagrees with the length of their
``choice_list``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from progalign.errors import InputError
from progalign.questionnaire._csv import CsvSyntaxError, Decision, decode, note, records

_HEADER = (
    "scenario_id",
    "generation_type",
    "evaluation_type",
    "generation_theme",
    "context",
    "choice_list",
    "dimension_range_a",
    "dimension_range_b",
)
_LIST = re.compile(r"^\[(.*)\]$", re.DOTALL)


@dataclass(frozen=True)
class WvsPrototype:
    """One WVS-style prototype question.

    Attributes:
        item_id: ``scenario_id``.
        generation_type: e.g. ``original``.
        evaluation_type: ``individual_dimensions``, ``aggregate`` or ``scaling``.
        theme: ``generation_theme`` (None where the row lacks it).
        context: The question text.
        choices: The entries of ``choice_list``.
        dimension_range: ``(a, b)`` from ``dimension_range_a/b``; None if not integers.
        row: 1-based line in the file.
    """

    item_id: str
    generation_type: str
    evaluation_type: str
    theme: str | None
    context: str
    choices: tuple[str, ...]
    dimension_range: tuple[int, int] | None
    row: int


def load_wvs(
    path: str | os.PathLike[str], name: str | None = None
) -> tuple[list[WvsPrototype], list[Decision]]:
    """Load the WVS prototype; report odd rows as decisions instead of failing.

    Args:
        path: The ``;``-separated CSV.
        name: Name used in decisions and errors (default: ``path``).

    Returns:
        ``(prototypes, decisions)``.

    Raises:
        InputError: only if the file cannot be read, is not UTF-8, is empty or has another header.
    """
    name = name or str(path)
    try:
        text = decode(Path(path).read_bytes(), name, ";")
        parsed = records(text, ";")
    except OSError as exc:
        raise InputError(name, f"cannot read ({exc.strerror})") from None
    except CsvSyntaxError as exc:
        raise InputError(name, f"malformed CSV ({exc})", row=exc.line) from None
    if not parsed:
        raise InputError(name, "the file is empty", row=1)
    header = tuple(h.strip().replace("generaton_", "generation_") for h in parsed[0][1])
    if header != _HEADER:
        raise InputError(name, f"unexpected header {';'.join(parsed[0][1])!r}", row=1)
    out: list[WvsPrototype] = []
    decisions: list[Decision] = []
    for line, cells in parsed[1:]:
        item = _row(name, line, [c.strip() for c in cells], decisions)
        if item is not None:
            out.append(item)
    return out, decisions


def _row(name: str, line: int, cells: list[str], decisions: list[Decision]) -> WvsPrototype | None:
    sid = cells[0] or f"<row {line}>"
    n = len(_HEADER)
    if len(cells) == n:
        theme: str | None = cells[3]
        context = cells[4]
    elif len(cells) == n - 1:
        theme, context = None, cells[3]
        note(
            decisions,
            Decision(
                name,
                line,
                sid,
                "repaired",
                f"{len(cells)} fields instead of {n}: generation_theme is "
                "missing; fields aligned from both ends, theme left empty",
            ),
        )
    else:
        note(decisions, Decision(name, line, sid, "dropped", f"{len(cells)} fields instead of {n}"))
        return None
    listed = _LIST.match(cells[-3])
    if listed is None:
        note(
            decisions,
            Decision(
                name, line, sid, "dropped", f"choice_list {cells[-3]!r} is not a [a,b,...] list"
            ),
        )
        return None
    choices = tuple(c.strip() for c in listed.group(1).split(",") if c.strip())
    span: tuple[int, int] | None
    try:
        span = (int(cells[-2]), int(cells[-1]))
    except ValueError:
        span = None
        note(
            decisions,
            Decision(
                name,
                line,
                sid,
                "flagged",
                f"dimension range {cells[-2]!r}..{cells[-1]!r} is not integer",
            ),
        )
    if span is not None and span[1] < span[0]:
        note(
            decisions,
            Decision(
                name, line, sid, "flagged", f"dimension range {span[0]}..{span[1]} is reversed"
            ),
        )
    elif span is not None and span[1] - span[0] + 1 != len(choices):
        note(
            decisions,
            Decision(
                name,
                line,
                sid,
                "flagged",
                f"dimension range {span[0]}..{span[1]} spans "
                f"{span[1] - span[0] + 1} values, but choice_list has "
                f"{len(choices)} entries",
            ),
        )
    return WvsPrototype(sid, cells[1], cells[2], theme, context, choices, span, line)
