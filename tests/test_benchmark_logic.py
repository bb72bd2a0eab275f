"""Challenge scores, extrapolation and elicitation parsing against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from progalign.benchmark.elicitation import Query, build_queries, parse_choice
from progalign.benchmark.extrapolation import coefficients, extrapolate, extrapolate_votes
from progalign.benchmark.formulas import (
    coevolve_score,
    coevolve_shift_score,
    cosine,
    follow_shift_steps,
    follow_steps,
    mean_score,
    predict_shift_steps,
    predict_steps,
    shift_cosine,
)

# actual trajectory a_0..a_3 in 2-d, chosen so cosines are easy: angles 0, 45, 90, 135 degrees
A = [(1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (-1.0, 1.0)]
R = math.sqrt(0.5)


def test_follow_is_mean_cosine_to_the_same_step():
    examinee = {1: (1.0, 0.0), 2: (0.0, 2.0), 3: (0.0, 1.0)}
    steps = follow_steps(examinee, A)
    assert steps == pytest.approx({1: R, 2: 1.0, 3: R})
    assert mean_score(steps) == pytest.approx((2 * R + 1) / 3)


def test_predict_uses_t_plus_k_and_only_existing_steps():
    examinee = {1: (0.0, 1.0), 2: (-1.0, 1.0), 3: (1.0, 0.0)}
    steps = predict_steps(examinee, A, k=1)
    assert steps == pytest.approx({1: 1.0, 2: 1.0})  # step 3 has no a_4
    assert mean_score(predict_steps(examinee, A, k=2)) == pytest.approx(R)  # cos(e1, a3)
    with pytest.raises(ValueError):
        predict_steps(examinee, A, k=4)


def test_coevolve_suffix_max_by_hand():
    # s_0 = a_0: cos to a_0..a_3 = [1, R, 0, -R] -> suffix max [1, R, 0, -R]
    # s_1 = a_2: cos = [0, R, 1, R]               -> suffix max [1, 1, 1, R]
    expected = (1 + R + 0 - R + 1 + 1 + 1 + R) / 8
    assert coevolve_score([A[0], A[2]], A) == pytest.approx(expected)


# changes from a_0 = (1, 0): a_1 - a_0 = (0, 1), a_2 - a_0 = (-1, 1), a_3 - a_0 = (-2, 1)
def test_follow_shift_compares_changes_from_the_first_century():
    # e_1 moved along a_1's change; e_2 = a_0 did not move (0 by definition); e_3 moved
    # opposite to a_3's change
    examinee = {1: (1.0, 3.0), 2: (1.0, 0.0), 3: (3.0, -1.0)}
    steps = follow_shift_steps(examinee, A)
    assert steps == pytest.approx({1: 1.0, 2: 0.0, 3: -1.0})
    assert mean_score(steps) == pytest.approx(0.0)


def test_predict_shift_uses_the_change_k_ahead():
    examinee = {1: (0.0, 1.0), 2: (1.0, 1.0)}  # changes (-1, 1) and (0, 1)
    steps = predict_shift_steps(examinee, A, k=1)
    # cos((-1, 1), a_2 - a_0 = (-1, 1)) = 1; cos((0, 1), a_3 - a_0 = (-2, 1)) = 1 / sqrt(5)
    assert steps == pytest.approx({1: 1.0, 2: 1 / math.sqrt(5)})


def test_coevolve_shift_by_hand():
    # s_1 = a_2: change (-1, 1); cos to the changes of a_1..a_3: [R, 1, 3 / sqrt(10)]
    # suffix max over cut-offs 1..3: [1, 1, 3 / sqrt(10)]
    expected = (1 + 1 + 3 / math.sqrt(10)) / 3
    assert coevolve_shift_score([A[0], A[2]], A) == pytest.approx(expected)
    assert shift_cosine((5.0, 5.0), (5.0, 5.0), (5.0, 5.0)) == 0.0


def test_zero_vector_is_a_clear_error_not_nan():
    with pytest.raises(ValueError, match="all-zero"):
        cosine((0.0, 0.0), (1.0, 0.0))


def test_extrapolation_coefficients_orders_1_to_3():
    assert coefficients(0) == [1]
    assert coefficients(1) == [-1, 2]
    assert coefficients(2) == [1, -3, 3]
    assert coefficients(3) == [-1, 4, -6, 4]


@pytest.mark.parametrize(
    ("votes", "horizon", "expected"),
    [
        ([1], 3, 1),  # order 0: constant
        ([-1, 1], 1, 3),  # 2*1 - (-1)
        ([-1, 1], 2, 5),  # then 2*3 - 1
        ([0, 1], 1, 2),  # missing older vote
        ([1, 0, 1], 1, 1 - 0 + 3),  # order 2 with a missing middle vote: 1*1 - 3*0 + 3*1
        ([1, 1, 1], 2, 1),  # constant history stays constant
        ([-1, -1, 1, 1], 1, -5),  # order 3: -1*(-1) + 4*(-1) - 6*1 + 4*1
    ],
)
def test_extrapolate_votes_by_hand(votes, horizon, expected):
    assert extrapolate_votes(votes, horizon) == expected


def test_extrapolate_flips_caps_and_drops_zero_without_crashing():
    x, y = ("x", "y"), ("y", "x")
    history = [
        {"flip": x, "zero": x, "grow": y, "gone": x},
        {"flip": x, "zero": None, "grow": y, "gone": x},
        {"flip": y, "zero": x, "grow": x, "gone": None},
    ]
    # latest order is the reference: flip votes [-1, -1, 1] -> order 2: -1 +3 +3 = 5
    # zero votes [1, 0, 1] -> 1 - 0 + 3 = 4; grow votes [-1, -1, 1] -> 5; gone: missing latest
    out, counts = extrapolate(history, order=2, horizon=1)
    weights = {w.key: (w.pair, w.weight, w.raw) for w in out}
    assert weights["flip"] == (y, 5, 5) and weights["zero"] == (x, 4, 4)
    assert counts["missing_latest"] == 1
    # order 1 over the last two steps: zero votes [0, 1] -> 2; flip [-1, 1] -> 3
    out1, _ = extrapolate(history, order=1, horizon=1)
    assert {w.key: w.raw for w in out1}["flip"] == 3
    # a history whose extrapolation is 0 is dropped, not asserted
    out0, counts0 = extrapolate([{"k": x}, {"k": y}, {"k": y}], order=2, horizon=1)
    # votes [-1, 1, 1] -> -1*1 ... 1*(-1) - 3*1 + 3*1 = -1 -> flipped, weight 1
    assert [(w.pair, w.weight) for w in out0] == [(x, 1)] and counts0["flipped"] == 1
    out_z, counts_z = extrapolate(
        [{"k": x, "m": x}, {"m": x}, {"k": x, "m": x}], order=2, horizon=1
    )
    # k: votes [1, 0, 1] -> 1 - 0 + 3 = 4; m: [1, 1, 1] -> 1
    assert counts_z["dropped_zero"] == 0 and {w.key: w.raw for w in out_z} == {"k": 4, "m": 1}
    assert extrapolate_votes([1, -1, 1], 1) == 1 + 3 + 3  # 7
    assert extrapolate_votes([0, 1, 1], 1) == 0 - 3 + 3  # 0 (missing oldest vote): dropped
    out_zero, counts_zero = extrapolate([{"k": None}, {"k": x}, {"k": x}], order=2, horizon=1)
    assert out_zero == [] and counts_zero["dropped_zero"] == 1
    out_d, counts_d = extrapolate(
        [{"k": None}, {"k": x}, {"k": None}, {"k": x}], order=3, horizon=1
    )
    # votes [0, 1, 0, 1] -> -0 + 4 - 0 + 4 = 8 -> capped at 5
    assert out_d[0].weight == 5 and counts_d["capped"] == 1


def test_elicitation_reads_a_bare_letter_by_content():
    query = Query("k", "Which do you prefer? A or B", ("B", "A"))  # Response 1 holds "B"
    assert parse_choice("B", query) == 0  # upstream read this as Response 2
    assert parse_choice("a.", query) == 1
    assert parse_choice("Response 2", query) == 1
    assert parse_choice("I pick response 1!", query) == 0
    assert parse_choice("1 or 2", query) is None


def test_elicitation_levenshtein_rule_and_seeded_order():
    query = Query("k", "q", ("I return the wallet to its owner.", "I keep all of the money."))
    assert parse_choice("I return the wallet to its owner", query) == 0
    # d2 = 4 <= 24 // 3, but d1 = 21 < 33 - 33 // 3 = 22: too close to both, undecided
    assert parse_choice("I keep all the money", query) is None
    far = Query(
        "k", "q", ("Return every coin to the old widow who lost them.", "I keep all of the money.")
    )
    assert parse_choice("I keep all the money", far) == 1  # d1 = 39 >= 33, d2 = 4
    assert parse_choice("maybe", query) is None
    items = [(f"k{i}", "q", ("first", "second")) for i in range(20)]
    a, b = build_queries(items), build_queries(items)
    assert a == b and {q.responses for q in a} == {("first", "second"), ("second", "first")}
