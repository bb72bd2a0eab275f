"""Parse the ProgressGym question-set CSVs into ``Item`` objects, repairing known defects.

Every CSV in the upstream schema is accepted (HEAD ``final.csv``/``prototype.csv`` and paper-era
``timeless.csv``; the views header's misspelt ``generaton_type`` is accepted too). Bad input raises
``InputError`` naming the file, the row (1-based line as an editor shows it, header = row 1) and the
column. Known data defects are repaired or dropped, and each such change is returned as a
``Decision`` (and logged), so that it can be written into the questionnaire metadata:

- duplicate ``scenario_id``: a row whose content equals an earlier row with the same id is dropped;
  a row with different content is a different scenario, kept as ``<id>#2``, ``<id>#3``, ...
- a repeated header row inside the data (views ``V_106``) is dropped;
- the MoralChoice ``generation_rule`` typo "Do cause pain" becomes "Do not cause pain" (the rule is
  descriptive; value dimensions come from the labels);
- stray whitespace and quotes around cells are stripped: a leading space plus wrapping double
  quotes (most foundation/views options), ``("...")`` and ``'...'`` wrappers, a trailing ``;``
  (a list separator, e.g. ``F_91``), a leading comma (``F_403``), the `` generated`` type of
  ``F_184``;
- options glued together by a curly-quote CSV slip (``“A”,“B”`` in one cell, views V_158-V_161)
  are re-split when that yields exactly the expected number of options;
- an option left with an unbalanced quote is mis-split beyond unambiguous repair: the row is
  dropped (views ``V_285``);
- a scenario with two identical options cannot discriminate and is dropped (MoralChoice
  ``H_530``, foundation ``F_1534``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from progalign.errors import InputError
from progalign.questionnaire._csv import (
    Decision,
    Table,
    clean_text,
    note,
    read_table,
    require,
    unbalanced_quotes,
)
from progalign.questionnaire.items import LABEL_VALUES, RULES, THEMES, Group, Item
from progalign.questionnaire.wvs import WvsPrototype, load_wvs

__all__ = [
    "RULE_TEXTS",
    "RULE_TYPOS",
    "Decision",
    "WvsPrototype",
    "clean_text",
    "load_foundation",
    "load_moralchoice",
    "load_views",
    "load_wvs",
    "parse_group",
    "rule_key",
]
log = logging.getLogger(__name__)

#: MoralChoice ``generation_rule`` texts and the ``RULES`` dimension each one targets.
RULE_TEXTS: dict[str, str] = dict(
    zip(
        (
            "Do not kill",
            "Do not cause pain",
            "Do not disable",
            "Do not deprive of freedom",
            "Do not deprive of pleasure",
            "Do not deceive",
            "Do not cheat",
            "Do not break your promises",
            "Do not break the law",
            "Do your duty",
        ),
        RULES,
        strict=True,
    )
)
#: Known misspellings of rule texts in the upstream data.
RULE_TYPOS: dict[str, str] = {"Do cause pain": "Do not cause pain"}

_N_ACTIONS: dict[str, int] = {"moralchoice": 2, "foundation": 2, "views": 4}
_GLUE = re.compile(r"”\s*,\s*“")


def rule_key(rule: str) -> str:
    """Map a MoralChoice ``generation_rule`` text (e.g. "Do not kill") to its ``RULES`` key."""
    return RULE_TEXTS[RULE_TYPOS.get(rule, rule)]


def _actions(
    table: Table, line: int, sid: str, row: dict[str, str], n: int, decisions: list[Decision]
) -> tuple[str, ...] | None:
    """Return the cleaned actions (re-split if glued), None if the row must be dropped."""
    columns = [f"action{i}" for i in range(1, n + 1)]
    raw = [row[c] for c in columns]
    if any(_GLUE.search(c) for c in raw):
        parts = [clean_text(p) for p in _GLUE.split(",".join(raw).strip().strip(","))]
        if len(parts) == n and all(parts):
            note(
                decisions,
                Decision(
                    table.name,
                    line,
                    sid,
                    "repaired",
                    f"options glued by curly-quoted commas re-split into {n}",
                ),
            )
            raw = parts
    actions = tuple(clean_text(a) for a in raw)
    for column, action in zip(columns, actions, strict=True):
        if not action:
            raise InputError(table.name, "empty action", line, column)
    broken = [c for c, a in zip(columns, actions, strict=True) if unbalanced_quotes(a)]
    if broken:
        note(
            decisions,
            Decision(
                table.name,
                line,
                sid,
                "dropped",
                f"options look mis-split (unbalanced quote in {', '.join(broken)})"
                "; no unambiguous repair",
            ),
        )
        return None
    if len(set(actions)) < n:
        note(
            decisions,
            Decision(
                table.name,
                line,
                sid,
                "dropped",
                "two options have identical text; the item cannot discriminate",
            ),
        )
        return None
    return actions


def _item(
    table: Table, line: int, row: dict[str, str], group: Group, decisions: list[Decision]
) -> Item | None:
    sid = row["scenario_id"].strip()
    if not sid:
        raise InputError(table.name, "empty scenario_id", line, "scenario_id")
    if row["context"].strip().lower() == "context":
        note(decisions, Decision(table.name, line, sid, "dropped", "repeated header row"))
        return None
    context = clean_text(row["context"])
    if not context:
        raise InputError(table.name, "empty context", line, "context")
    rule = theme = None
    labels = None
    if group == "moralchoice":
        rule, labels = _rule_labels(table, line, sid, row, decisions)
    elif group == "foundation":
        theme = row["generation_theme"].strip()
        if theme not in THEMES:
            raise InputError(
                table.name,
                f"unknown theme {theme!r}; expected one of " + ", ".join(THEMES),
                line,
                "generation_theme",
            )
    else:
        theme = row.get("generation_theme", "").strip() or None
    actions = _actions(table, line, sid, row, _N_ACTIONS[group], decisions)
    if actions is None:
        return None
    kind = next((c for c in ("generation_type", "generaton_type") if c in row), None)
    columns = ["context", *(f"action{i + 1}" for i in range(len(actions)))]
    if kind:
        columns.append(kind)
    cleaned = [c for c in columns if clean_text(row[c]) != row[c]]
    if cleaned:
        note(
            decisions,
            Decision(
                table.name,
                line,
                sid,
                "cleaned",
                "stripped stray whitespace/quotes in " + ", ".join(cleaned),
            ),
            logging.DEBUG,
        )
    source: dict[str, Any] = {"file": table.name, "sha256": table.sha256, "row": line}
    if kind:
        source["generation_type"] = row[kind].strip()
    return Item(sid, group, context, actions, rule, theme, labels, source)


def _rule_labels(
    table: Table, line: int, sid: str, row: dict[str, str], decisions: list[Decision]
) -> tuple[str, dict[str, tuple[str, ...]]]:
    rule = row["generation_rule"].strip()
    if rule in RULE_TYPOS:
        note(
            decisions,
            Decision(
                table.name,
                line,
                sid,
                "normalised",
                f"generation_rule {rule!r} -> {RULE_TYPOS[rule]!r}",
            ),
        )
        rule = RULE_TYPOS[rule]
    if rule not in RULE_TEXTS:
        raise InputError(
            table.name,
            f"unknown rule {rule!r}; expected one of " + ", ".join(RULE_TEXTS),
            line,
            "generation_rule",
        )
    labels: dict[str, tuple[str, ...]] = {}
    for side in ("a1", "a2"):
        values = []
        for column in (f"{side}_{r}" for r in RULES):
            value = row[column].strip()
            if value not in LABEL_VALUES:
                raise InputError(
                    table.name,
                    f"label {value!r} is not one of " + ", ".join(LABEL_VALUES),
                    line,
                    column,
                )
            values.append(value)
        labels[side] = tuple(values)
    return rule, labels


def _content(item: Item) -> tuple[Any, ...]:
    return item.context, item.actions, item.rule, item.theme, item.labels


def _dedupe(items: list[Item], decisions: list[Decision]) -> list[Item]:
    kept: list[Item] = []
    by_id: dict[str, list[Item]] = {}
    taken: set[str] = {item.item_id for item in items}
    for item in items:
        same = by_id.setdefault(item.item_id, [])
        line, name = item.source["row"], item.source["file"]
        first = same[0].source["row"] if same else 0
        if any(_content(other) == _content(item) for other in same):
            note(
                decisions,
                Decision(name, line, item.item_id, "dropped", f"exact duplicate of row {first}"),
            )
            continue
        if same:
            k = len(same) + 1
            while f"{item.item_id}#{k}" in taken:
                k += 1
            new_id = f"{item.item_id}#{k}"
            taken.add(new_id)
            note(
                decisions,
                Decision(
                    name,
                    line,
                    item.item_id,
                    "renamed",
                    f"id also used by row {first} with other content -> {new_id}",
                ),
                logging.INFO,
            )
            same.append(item)
            item = Item(
                new_id,
                item.group,
                item.context,
                item.actions,
                item.rule,
                item.theme,
                item.labels,
                item.source,
            )
        else:
            same.append(item)
        kept.append(item)
    return kept


_REQUIRED: dict[str, list[str]] = {
    "moralchoice": [
        "scenario_id",
        "context",
        "action1",
        "action2",
        "generation_rule",
        *(f"{side}_{r}" for side in ("a1", "a2") for r in RULES),
    ],
    "foundation": ["scenario_id", "generation_theme", "context", "action1", "action2"],
    "views": ["scenario_id", "context", "action1", "action2", "action3", "action4"],
}


def parse_group(group: Group, data: bytes, name: str) -> tuple[list[Item], list[Decision]]:
    """Parse one question set from CSV bytes.

    Args:
        group: ``moralchoice``, ``foundation`` or ``views``.
        data: The raw CSV bytes (UTF-8, optional BOM).
        name: The file name used in items' ``source``, decisions and error messages.

    Returns:
        The items in file order and the decisions taken.

    Raises:
        InputError: naming file, row and column of the first bad cell.
    """
    table = read_table(data, name)
    require(table, _REQUIRED[group])
    decisions: list[Decision] = []
    items = [it for line, row in table.rows if (it := _item(table, line, row, group, decisions))]
    items = _dedupe(items, decisions)
    decisions.sort(key=lambda d: d.row)
    n_clean = sum(d.action == "cleaned" for d in decisions)
    if n_clean:
        log.info("%s: stripped stray whitespace/quotes in %d rows", name, n_clean)
    return items, decisions


def _load(
    group: Group, path: str | os.PathLike[str], name: str | None
) -> tuple[list[Item], list[Decision]]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read ({exc.strerror})") from None
    return parse_group(group, data, name or str(path))


def load_moralchoice(
    path: str | os.PathLike[str], name: str | None = None
) -> tuple[list[Item], list[Decision]]:
    """Load a MoralChoice CSV (2 actions, 10 rule labels per action).

    Args:
        path: The CSV file.
        name: Name used in sources, decisions and errors (default: ``path``).

    Returns:
        ``(items, decisions)``.
    """
    return _load("moralchoice", path, name)


def load_foundation(
    path: str | os.PathLike[str], name: str | None = None
) -> tuple[list[Item], list[Decision]]:
    """Load a Moral Foundations CSV (2 actions, ``generation_theme`` in ``THEMES``).

    Args:
        path: The CSV file.
        name: Name used in sources, decisions and errors (default: ``path``).

    Returns:
        ``(items, decisions)``.
    """
    return _load("foundation", path, name)


def load_views(
    path: str | os.PathLike[str], name: str | None = None
) -> tuple[list[Item], list[Decision]]:
    """Load an Integrated Worldview CSV (4 actions: traditional, modern, post-modern, integrated).

    Args:
        path: The CSV file.
        name: Name used in sources, decisions and errors (default: ``path``).

    Returns:
        ``(items, decisions)``; the descriptive ``generation_theme`` is kept in ``Item.theme``.
    """
    return _load("views", path, name)
