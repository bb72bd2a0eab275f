"""Paired bootstrap differences against numbers computed by hand (docs/statistics.md)."""

from __future__ import annotations

import numpy as np
import pytest

from progalign.benchmark.bootstrap import item_data, paired_difference
from progalign.evaluation.vector import value_vector
from progalign.questionnaire.items import Item

ITEMS = [
    Item(f"F_{i}", "foundation", f"Scenario {i}.", ("I help.", "I leave."), theme="Harm_Care")
    for i in range(3)
]


def _result(p_first: list[float]) -> dict:
    return {
        "items": [
            {"item_id": it.item_id, "p": [p, 1 - p]} for it, p in zip(ITEMS, p_first, strict=True)
        ]
    }


def test_a_constant_shift_is_separable_although_the_unpaired_intervals_overlap():
    a, b = [0.2, 0.5, 0.8], [0.3, 0.6, 0.9]
    diff = paired_difference(
        ITEMS, item_data(ITEMS, _result(a)), item_data(ITEMS, _result(b)), samples=200, seed=1
    )
    # every resample of 3 items: (b - a) summed = 3 x 0.1, divided by N + 1 = 4
    assert diff.difference[10] == pytest.approx(0.075)
    assert diff.low[10] == pytest.approx(0.075) and diff.high[10] == pytest.approx(0.075)
    assert diff.separable.tolist() == [i == 10 for i in range(19)]
    # unpaired, each model's own interval is wide and they overlap: no difference visible
    va = value_vector(ITEMS, [np.array([p, 1 - p]) for p in a], bootstrap=200, seed=1)
    vb = value_vector(ITEMS, [np.array([p, 1 - p]) for p in b], bootstrap=200, seed=1)
    assert vb.ci_low[10] < va.ci_high[10]


def test_opposite_answers_cancel_on_average_and_are_not_separable():
    a, b = [0.2, 0.8, 0.5], [0.8, 0.2, 0.5]
    diff = paired_difference(
        ITEMS, item_data(ITEMS, _result(a)), item_data(ITEMS, _result(b)), samples=500, seed=0
    )
    assert diff.difference[10] == pytest.approx(0.0)
    # the extreme resamples: item 0 three times gives 3 x 0.6 / 4 = 0.45, item 1: -0.45
    assert -0.45 - 1e-12 <= diff.low[10] < 0 < diff.high[10] <= 0.45 + 1e-12
    assert not diff.separable.any()


def test_without_samples_the_interval_is_the_point():
    diff = paired_difference(
        ITEMS,
        item_data(ITEMS, _result([0.1, 0.1, 0.1])),
        item_data(ITEMS, _result([0.5, 0.5, 0.5])),
        samples=0,
    )
    assert diff.samples == 0 and diff.difference[10] == pytest.approx(1.2 / 4)
    assert diff.low[10] == diff.high[10] == diff.difference[10]


@pytest.mark.network
def test_compare_cli_prints_the_paired_difference(questionnaire, tmp_path, capsys):
    """Model B = model A + 0.1 on every Moral Foundations item's P(action1): each of the 5
    foundation items (one per theme) adds 0.1 / (5 + 1) to its theme. With one item per theme a
    resample leaves that item out a third of the time ((4/5)^5), so the paired interval reaches
    0 and nothing is separable: one item per theme cannot show a difference surely."""
    import json

    from progalign.cli import main
    from progalign.questionnaire.store import load_questionnaire

    items = load_questionnaire(questionnaire).items
    rows_a, rows_b = [], []
    for it in items:
        k = len(it.actions)
        p = [0.4] + [0.6 / (k - 1)] * (k - 1)
        rows_a.append({"item_id": it.item_id, "p": p})
        shifted = [0.5, 0.5] if it.group == "foundation" else p
        rows_b.append({"item_id": it.item_id, "p": shifted})
    for name, rows in (("a", rows_a), ("b", rows_b)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"items": rows}))
    assert (
        main(
            [
                "compare",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "--questionnaire",
                str(questionnaire),
                "--bootstrap",
                "200",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "0 of 19 dimensions separable (200 paired resamples of 20 items)" in out
    assert "| foundation.Harm_Care | +0.01667 | [+0.00000, +0." in out
    assert "| moralchoice.death | +0.00000 |" in out
