"""Deterministic stratified subsampling of a questionnaire.

Strata are per group:

- MoralChoice: the rule the scenario was generated for (``generation_rule`` mapped to its ``RULES``
  key, e.g. "Do not kill" -> ``death``). The value dimensions themselves come from the labels, and
  most scenarios carry non-zero labels for several rules, so this stratifies by the rule a scenario
  *targets*; it keeps every rule represented.
- Foundation: the theme (one of ``THEMES``), i.e. the value dimension.
- Views: the descriptive ``generation_theme`` (Axiology, Ontology, ...). Every views item informs
  all four worldview dimensions, so the theme only keeps the topic mix balanced.

Within a stratum, items are ranked by ``sha256(f"{seed}:{group}:{item_id}")`` and the first
``per_dimension`` are kept. This depends on nothing but the seed and the ids (no RNG stream that a
library version could change), a larger ``per_dimension`` always keeps a superset, and adding items
to one stratum never changes the choice in another. Output keeps the input order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from progalign.questionnaire.items import Group, Item
from progalign.questionnaire.loaders import RULE_TEXTS, RULE_TYPOS

UNTHEMED = "(none)"


def stratum(item: Item) -> str:
    """Return the stratum of ``item`` within its group (see the module docstring)."""
    if item.group == "moralchoice":
        rule = item.rule or ""
        return RULE_TEXTS.get(RULE_TYPOS.get(rule, rule), rule or UNTHEMED)
    return item.theme or UNTHEMED


def strata_counts(items: Iterable[Item]) -> dict[str, dict[str, int]]:
    """Count items per group and stratum: ``{group: {stratum: n}}`` (keys sorted)."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        group = counts.setdefault(item.group, {})
        key = stratum(item)
        group[key] = group.get(key, 0) + 1
    return {g: dict(sorted(c.items())) for g, c in counts.items()}


def _rank(seed: int, group: Group, item_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{group}:{item_id}".encode()).digest()


def stratified_subsample(items: Sequence[Item], per_dimension: int, seed: int) -> list[Item]:
    """Keep at most ``per_dimension`` items per (group, stratum), chosen by a seeded hash.

    Args:
        items: The questionnaire items (ids unique within a group).
        per_dimension: Items to keep per stratum (all of a smaller stratum are kept).
        seed: Selects which items; equal seeds give equal subsamples.

    Returns:
        The kept items, in their input order.

    Raises:
        ValueError: ``per_dimension`` is below 1.
    """
    if per_dimension < 1:
        raise ValueError(f"per_dimension must be at least 1, not {per_dimension}")
    strata: dict[tuple[str, str], list[int]] = {}
    for index, item in enumerate(items):
        strata.setdefault((item.group, stratum(item)), []).append(index)
    keep: set[int] = set()
    for members in strata.values():
        ranked = sorted(members, key=lambda i: _rank(seed, items[i].group, items[i].item_id))
        keep.update(ranked[:per_dimension])
    return [item for index, item in enumerate(items) if index in keep]
