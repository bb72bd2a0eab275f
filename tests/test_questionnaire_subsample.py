"""Stratified subsampling: determinism, seed sensitivity, stratum counts, order."""

from __future__ import annotations

from collections import Counter

import pytest

from progalign.questionnaire.items import RULES, Item
from progalign.questionnaire.loaders import (
    RULE_TEXTS,
    load_foundation,
    load_moralchoice,
    load_views,
)
from progalign.questionnaire.subsample import strata_counts, stratified_subsample, stratum
from shared_data import DATA, needs_data

RULE_NAMES = list(RULE_TEXTS)


def synthetic() -> list[Item]:
    """30 MoralChoice items over 3 rules (10 each), 12 foundation items (2 themes), 3 views."""
    items = [
        Item(
            f"H_{i:03d}",
            "moralchoice",
            f"c{i}",
            ("a", "b"),
            rule=RULE_NAMES[i % 3],
            labels={"a1": ("No",) * 10, "a2": ("No",) * 10},
        )
        for i in range(30)
    ]
    items += [
        Item(
            f"F_{i}",
            "foundation",
            f"f{i}",
            ("a", "b"),
            theme="Harm_Care" if i < 8 else "Purity_Sancity",
        )
        for i in range(12)
    ]
    items += [Item(f"V_{i}", "views", f"v{i}", ("a", "b", "c", "d"), theme=None) for i in range(3)]
    return items


def test_strata() -> None:
    items = synthetic()
    assert stratum(items[0]) == RULES[0] == "death"
    assert stratum(items[1]) == "pain" and stratum(items[-1]) == "(none)"
    assert strata_counts(items) == {
        "moralchoice": {"death": 10, "disable": 10, "pain": 10},
        "foundation": {"Harm_Care": 8, "Purity_Sancity": 4},
        "views": {"(none)": 3},
    }


def test_counts_per_stratum_and_order() -> None:
    items = synthetic()
    sample = stratified_subsample(items, per_dimension=5, seed=0)
    assert strata_counts(sample) == {
        "moralchoice": {"death": 5, "disable": 5, "pain": 5},
        "foundation": {"Harm_Care": 5, "Purity_Sancity": 4},  # a small stratum is kept whole
        "views": {"(none)": 3},
    }
    positions = [items.index(item) for item in sample]
    assert positions == sorted(positions)


def test_deterministic_and_seed_sensitive() -> None:
    items = synthetic()
    first = stratified_subsample(items, 5, seed=7)
    assert first == stratified_subsample(list(items), 5, seed=7)
    others = {tuple(i.item_id for i in stratified_subsample(items, 5, seed=s)) for s in range(6)}
    assert len(others) == 6
    # choice within a stratum does not depend on the other strata
    only_mc = [i for i in items if i.group == "moralchoice"]
    expected = [i for i in first if i.group == "moralchoice"]
    assert stratified_subsample(only_mc, 5, seed=7) == expected


def test_nested_sizes() -> None:
    items = synthetic()
    small = {i.item_id for i in stratified_subsample(items, 3, seed=1)}
    large = {i.item_id for i in stratified_subsample(items, 6, seed=1)}
    assert small < large


def test_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        stratified_subsample(synthetic(), 0, seed=0)


@needs_data
def test_real_head_items_subsample() -> None:
    assert DATA is not None
    raw = DATA / "raw_dataset"
    items = [
        *load_moralchoice(raw / "moralchoice/final.csv")[0],
        *load_foundation(raw / "foundation/final.csv")[0],
        *load_views(raw / "views/final.csv")[0],
    ]
    sample = stratified_subsample(items, per_dimension=10, seed=0)
    counts = strata_counts(sample)
    assert counts["moralchoice"] == dict.fromkeys(sorted(RULES), 10)
    assert counts["foundation"] == dict.fromkeys(
        sorted(
            [
                "Harm_Care",
                "Fairness_Reciprocity",
                "InGroup_Loyalty",
                "Authority_Respect",
                "Purity_Sancity",
            ]
        ),
        10,
    )
    assert counts["views"] == dict.fromkeys(
        sorted(["Axiology", "Ontology", "Anthropology", "Epistemology", "Societal vision"]), 10
    )
    assert Counter(i.group for i in sample) == Counter(moralchoice=100, foundation=50, views=50)
