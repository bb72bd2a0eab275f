"""The 19-d vector against hand-computed numbers (docs/semantics.md#value-vector)."""

from __future__ import annotations

import numpy as np
import pytest

from progalign.evaluation.vector import DIMENSIONS, rule_template, value_vector
from progalign.questionnaire.items import Item

NO10 = ("No",) * 10


def _labels(a1: dict[int, str], a2: dict[int, str]) -> dict[str, tuple[str, ...]]:
    one, two = list(NO10), list(NO10)
    for i, v in a1.items():
        one[i] = v
    for i, v in a2.items():
        two[i] = v
    return {"a1": tuple(one), "a2": tuple(two)}


M1 = Item("H_1", "moralchoice", "c1", ("a", "b"), labels=_labels({0: "Yes"}, {5: "Yes"}))
M2 = Item(
    "H_2",
    "moralchoice",
    "c2",
    ("a", "b"),
    labels=_labels({1: "No Agreement", 9: "No Agreement"}, {9: "Yes"}),
)
F1 = Item("F_1", "foundation", "c", ("x", "y"), theme="Harm_Care")
F2 = Item("F_2", "foundation", "c", ("x", "y"), theme="Harm_Care")
F3 = Item("F_3", "foundation", "c", ("x", "y"), theme="Purity_Sancity")
V1 = Item("V_1", "views", "c", ("t", "m", "p", "i"))
ITEMS = [M1, M2, F1, F2, F3, V1]
PROBS = [
    np.array([0.8, 0.2]),
    np.array([0.25, 0.75]),
    np.array([0.9, 0.1]),
    np.array([0.5, 0.5]),
    np.array([0.2, 0.8]),
    np.array([0.1, 0.2, 0.3, 0.4]),
]


def test_rule_template_resolves_no_agreement_by_the_other_side() -> None:
    assert rule_template(M1.labels or {}).tolist() == [-1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert rule_template(M2.labels or {}).tolist() == [0, -1, 0, 0, 0, 0, 0, 0, 0, 1]
    mixed = _labels({0: "No", 1: "Yes", 2: "No Agreement"}, {0: "No Agreement", 1: "No Agreement"})
    assert rule_template(mixed)[:3].tolist() == [1, -1, -1]


def test_progressgym_2024_aggregation_by_hand() -> None:
    vec = value_vector(ITEMS, PROBS, "progressgym-2024", bootstrap=0)
    expected = np.zeros(19)
    expected[[0, 1, 5, 9]] = [-0.8 / 3, -0.25 / 3, 0.8 / 3, 0.25 / 3]  # sums / (2 + 1)
    expected[10], expected[14] = 1.4 / 4, 0.2 / 4  # foundation sums / (3 + 1)
    expected[15:19] = [0.05, 0.10, 0.15, 0.20]  # views / (1 + 1)
    np.testing.assert_allclose(vec.vector, expected, atol=1e-12)
    assert vec.complete and vec.n_valid == {"moralchoice": 2, "foundation": 3, "views": 1}
    assert len(DIMENSIONS) == 19 and DIMENSIONS[10] == "foundation.Harm_Care"


def test_mean_aggregation_by_hand() -> None:
    vec = value_vector(ITEMS, PROBS, "mean", bootstrap=0)
    assert vec.vector[0] == pytest.approx(-0.4)
    assert vec.vector[10] == pytest.approx(0.7)  # Harm_Care mean of 0.9 and 0.5
    assert vec.vector[14] == pytest.approx(0.2)
    assert vec.vector[11] == 0.0  # theme without items
    np.testing.assert_allclose(vec.vector[15:], [0.1, 0.2, 0.3, 0.4])


def test_invalid_items_are_left_out_and_empty_group_is_flagged_not_nan() -> None:
    probs = list(PROBS)
    probs[5] = None  # the only views item got no valid answer
    probs[1] = None
    vec = value_vector(ITEMS, probs, bootstrap=200, seed=1)
    assert not vec.complete and vec.n_valid["views"] == 0
    assert np.all(vec.vector[15:] == 0) and np.isfinite(vec.vector).all()
    assert vec.vector[0] == pytest.approx(-0.8 / 2)  # one valid MC item: sum / (1 + 1)
    assert np.isfinite(vec.ci_low).all() and np.isfinite(vec.ci_high).all()


def test_bootstrap_interval_brackets_estimate_and_is_seeded() -> None:
    items = [Item(f"F_{i}", "foundation", "c", ("x", "y"), theme="Harm_Care") for i in range(40)]
    probs = [np.array([p, 1 - p]) for p in np.linspace(0.1, 0.9, 40)]
    a = value_vector(items, probs, "mean", bootstrap=500, seed=3)
    b = value_vector(items, probs, "mean", bootstrap=500, seed=3)
    assert a.ci_low[10] < a.vector[10] < a.ci_high[10]
    assert a.ci_low[10] == b.ci_low[10] and a.ci_high[10] == b.ci_high[10]
    assert a.ci_high[10] - a.ci_low[10] < 0.25
