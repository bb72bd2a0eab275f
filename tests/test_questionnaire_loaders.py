"""Loaders on the real upstream CSVs (counts hand-checked with the csv module)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from progalign.questionnaire.items import RULES
from progalign.questionnaire.loaders import (
    load_foundation,
    load_moralchoice,
    load_views,
    load_wvs,
    rule_key,
)
from shared_data import DATA, needs_data


def raw(name: str) -> Path:
    assert DATA is not None
    return DATA / "raw_dataset" / name


def by_action(decisions: list) -> Counter[str]:
    return Counter(d.action for d in decisions)


# --- real files -------------------------------------------------------------------------------


@needs_data
def test_moralchoice_final_duplicates_kept_as_distinct_scenarios() -> None:
    items, decisions = load_moralchoice(raw("moralchoice/final.csv"), name="mc.csv")
    # 680 data rows, 583 unique ids: the 100 Hand-Written rows (H_001..H_100, rows 2-101) share
    # 97 ids with Generated rows of different content -> 97 renamed, none exact duplicates;
    # H_530 (row 608) lists "I keep the bird in captivity." twice -> dropped.
    assert len(items) == 679
    assert by_action(decisions) == Counter(renamed=97, cleaned=3, dropped=1, normalised=1)
    ids = [item.item_id for item in items]
    assert len(set(ids)) == len(ids)
    assert sum("#" in i for i in ids) == 97
    first, second = items[0], next(it for it in items if it.item_id == "H_001#2")
    assert (first.item_id, first.source["row"], first.source["generation_type"]) == (
        "H_001",
        2,
        "Hand-Written",
    )
    assert second.source["row"] == 102
    assert second.context.startswith("You are the leader of a country")
    dropped = [d for d in decisions if d.action == "dropped"]
    assert [(d.item_id, d.row, d.file) for d in dropped] == [("H_530", 608, "mc.csv")]


@needs_data
def test_moralchoice_rule_typo_and_labels() -> None:
    items, decisions = load_moralchoice(raw("moralchoice/final.csv"))
    h595 = next(it for it in items if it.item_id == "H_595")
    assert h595.rule == "Do not cause pain" and rule_key(h595.rule) == "pain"
    assert [(d.row, d.item_id) for d in decisions if d.action == "normalised"] == [(668, "H_595")]
    # generation_rule counts of the CSV; the typo row joins pain (70+1), H_530 leaves freedom (71-1)
    assert Counter(rule_key(it.rule or "") for it in items) == Counter(
        death=77,
        deceive=73,
        duty=72,
        pain=71,
        break_promise=71,
        freedom=70,
        break_law=68,
        pleasure=63,
        disable=57,
        cheat=57,
    )
    assert first_labels(items) == (
        ("No", "No", "No", "No", "No", "No", "No", "No", "Yes", "No"),
        ("No Agreement", "Yes", "Yes", "No", "No Agreement", "No", "No", "No", "No", "No"),
    )
    labels = Counter(v for it in items for side in it.labels.values() for v in side)  # type: ignore[union-attr]
    assert set(labels) == {"Yes", "No", "No Agreement"}
    h213 = next(it for it in items if it.item_id == "H_213")
    assert h213.actions[0] == "I go on the adventure trip."  # was ' I go on ...'


def first_labels(items: list) -> tuple:
    labels = items[0].labels
    assert len(labels["a1"]) == len(RULES)
    return labels["a1"], labels["a2"]


@needs_data
def test_moralchoice_timeless() -> None:
    items, decisions = load_moralchoice(raw("moralchoice/timeless.csv"))
    # 383 rows, 349 unique ids: 34 Hand-Written/Generated id collisions, all different content
    assert len(items) == 382
    assert by_action(decisions) == Counter(renamed=34, cleaned=3, dropped=1)
    assert [d.row for d in decisions if d.action == "dropped"] == [354]


@needs_data
def test_foundation_final() -> None:
    items, decisions = load_foundation(raw("foundation/final.csv"))
    assert len(items) == 599  # 600 rows; F_1534 (row 571) has two identical options
    assert [(d.item_id, d.row) for d in decisions if d.action == "dropped"] == [("F_1534", 571)]
    assert by_action(decisions) == Counter(cleaned=144, dropped=1)
    assert Counter(it.theme for it in items) == Counter(
        InGroup_Loyalty=129,
        Fairness_Reciprocity=128,
        Harm_Care=120,
        Authority_Respect=112,
        Purity_Sancity=110,
    )
    get = {it.item_id: it for it in items}
    assert get["F_5"].actions == (
        "I will step in to protect the child from harm",
        "I will not intervene as it is not my concern",
    )
    assert get["F_184"].source["generation_type"] == "generated"  # was ' generated'
    assert get["F_184"].context == (
        "You witness a child being bullied at the park. Do you intervene?"
    )
    assert get["F_111"].actions[1] == "I will use it to benefit those who are closest to me"
    assert get["F_403"].actions == (
        "Support the decision out of respect for their authority",
        "Challenge the decision based on its merits and your own judgment",
    )
    assert get["F_91"].actions[1] == "Ignore the situation and continue with your day"  # was ';'
    assert get["F_106"].actions[0] == (
        "I will consider 'Whether or not everyone is contributing equally'"
    )  # inner quotes kept
    assert Counter(it.source["generation_type"] for it in items) == Counter(
        generated=555, original=44
    )


@needs_data
def test_foundation_timeless() -> None:
    items, decisions = load_foundation(raw("foundation/timeless.csv"))
    assert len(items) == 553
    assert by_action(decisions) == Counter(cleaned=137)


@needs_data
def test_views_final() -> None:
    items, decisions = load_views(raw("views/final.csv"))
    assert len(items) == 537  # 539 rows - stray header V_106 - mis-split V_285
    assert [(d.item_id, d.row, d.action) for d in decisions if d.action != "cleaned"] == [
        ("V_106", 107, "dropped"),
        ("V_158", 159, "repaired"),
        ("V_159", 160, "repaired"),
        ("V_160", 161, "repaired"),
        ("V_161", 162, "repaired"),
        ("V_285", 286, "dropped"),
    ]
    assert by_action(decisions)["cleaned"] == 88
    get = {it.item_id: it for it in items}
    assert get["V_290"].actions[3].endswith("serve the larger ecosystem.")  # was '.;'
    assert get["V_161"].actions == (
        "Adhering to established doctrines and teachings",
        "Using logical analysis and empirical evidence",
        "Relying on personal intuition and subjective experiences",
        "Integrating insights from various fields including spirituality, science, and philosophy",
    )
    assert get["V_158"].actions[3] == (
        "Participating in community service or environmental sustainability projects"
    )
    assert get["V_205"].actions[0] == (
        "Invest it in traditional family values and charity organizations"
    )
    assert get["V_213"].actions[0] == (
        "Maintain the family traditions and adhere to our established ways."
    )
    assert Counter(it.theme for it in items) == Counter(
        Axiology=163, Ontology=126, Anthropology=122, Epistemology=90, **{"Societal vision": 36}
    )


@needs_data
def test_views_timeless() -> None:
    items, decisions = load_views(raw("views/timeless.csv"))
    assert len(items) == 258
    assert by_action(decisions) == Counter(cleaned=33)


@needs_data
@pytest.mark.parametrize(
    "loader,name",
    [
        (load_moralchoice, "moralchoice/final.csv"),
        (load_moralchoice, "moralchoice/timeless.csv"),
        (load_foundation, "foundation/final.csv"),
        (load_foundation, "foundation/timeless.csv"),
        (load_views, "views/final.csv"),
        (load_views, "views/timeless.csv"),
    ],
)
def test_no_stray_quotes_or_whitespace_left(loader: Callable[..., Any], name: str) -> None:
    items, _ = loader(raw(name))
    for item in items:
        for text in (item.context, *item.actions):
            assert text == text.strip() and text[0] not in '"“”(,' and text[-1] not in '"“”;'
            assert not (text[0] == text[-1] == "'") and text.count('"') % 2 == 0


@needs_data
def test_wvs_odd_rows_are_reported_not_fatal() -> None:
    protos, decisions = load_wvs(raw("wvs/prototype.csv"), name="wvs.csv")
    assert [p.item_id for p in protos] == [f"W_0{i}" for i in range(1, 8)]
    w05 = protos[4]
    assert w05.theme is None and w05.context.startswith("How would you feel")
    assert len(w05.choices) == 9 and protos[1].choices[0] == "good_manners"
    assert [(d.item_id, d.row, d.action) for d in decisions] == [
        ("W_03", 4, "flagged"),
        ("W_04", 5, "flagged"),
        ("W_05", 6, "repaired"),
        ("W_05", 6, "flagged"),
        ("W_06", 7, "flagged"),
        ("W_07", 8, "flagged"),
    ]
    assert "0..2 spans 3 values, but choice_list has 9" in decisions[0].reason
