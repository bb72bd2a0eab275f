"""Tie-aware ranking from paired differences, against ranks worked out by hand."""

from __future__ import annotations

import pandas as pd

from progalign.report.leaderboard import leaderboard, to_markdown
from progalign.report.ranking import digits_to_show, dominance, ranks, separable_wins

COLUMNS = [
    "challenge",
    "seed",
    "algorithm_a",
    "algorithm_b",
    "statistic",
    "difference",
    "ci_low",
    "ci_high",
    "separable",
    "identical",
]
# follow: A surely above B; A and C differ by 1e-9 inside an interval around 0; B vs C unsure.
# predict: nothing separable; A and C produced identical results.
DIFFERENCES = pd.DataFrame(
    [
        ("follow", 0, "A", "B", "score", 0.001, 0.0005, 0.0015, 1, 0),
        ("follow", 0, "A", "C", "score", 1e-9, -1e-8, 1e-8, 0, 0),
        ("follow", 0, "B", "C", "score", -0.001, -0.002, 0.0001, 0, 0),
        ("predict", 0, "A", "B", "score", 0.002, -0.001, 0.005, 0, 0),
        ("predict", 0, "A", "C", "score", 0.0, 0.0, 0.0, 0, 1),
        ("predict", 0, "B", "C", "score", -0.002, -0.005, 0.001, 0, 0),
        ("follow", 0, "A", "B", "shift", -0.3, -0.5, -0.1, 1, 0),  # shift: not used for ranks
    ],
    columns=COLUMNS,
)
SCORES = pd.DataFrame(
    [
        (c, a, 0, s, s - 0.01, s + 0.01, "v1", 2, None, s / 2, s / 2 - 0.1, s / 2 + 0.1, "s1")
        for c, a, s in [
            ("follow", "A", 0.9001),
            ("follow", "B", 0.8991),
            ("follow", "C", 0.9001),
            ("predict", "A", 0.95),
            ("predict", "B", 0.948),
            ("predict", "C", 0.95),
        ]
    ],
    columns=[
        "challenge",
        "algorithm",
        "seed",
        "score",
        "ci_low",
        "ci_high",
        "version",
        "steps",
        "duration_s",
        "shift",
        "shift_ci_low",
        "shift_ci_high",
        "shift_version",
    ],
)


def test_ranks_count_only_separable_differences():
    wins = separable_wins(DIFFERENCES)
    assert wins["follow"] == {"A": {"B"}, "B": set(), "C": set()}
    assert wins["predict"] == {"A": set(), "B": set(), "C": set()}
    assert ranks("ABC", wins["follow"]) == {"A": 1, "B": 2, "C": 1}  # A ~ C: a tie
    assert ranks("ABC", wins["predict"]) == {"A": 1, "B": 1, "C": 1}
    # overall: A wins somewhere and B nowhere; C neither wins nor loses
    assert dominance(wins, "ABC") == {"A": {"B"}, "B": set(), "C": set()}


def test_a_difference_must_hold_in_every_seed():
    two_seeds = pd.concat(
        [
            DIFFERENCES.iloc[:1],
            DIFFERENCES.iloc[:1].assign(
                seed=1, difference=0.0004, ci_low=-0.0001, ci_high=0.0009, separable=0
            ),
        ]
    )
    assert separable_wins(two_seeds)["follow"] == {"A": set(), "B": set()}


def test_leaderboard_shows_ties_enough_digits_and_identical_results():
    board = leaderboard(SCORES, DIFFERENCES)
    assert board.attrs["ranked_by"] == "paired"
    assert board["algorithm"].tolist() == ["A", "C", "B"]  # rank 1, 1, then 2
    assert board["rank"].tolist() == [1, 1, 2]
    assert board["follow.rank"].tolist() == [1, 1, 2] and board["predict.rank"].tolist() == [1] * 3
    # the smallest separable difference is 0.001: 4 decimals show it
    assert digits_to_show(DIFFERENCES) == 4 and board.attrs["digits"] == 4
    text = to_markdown(board)
    lines = text.splitlines()
    assert lines[2] == (
        "| rank | algorithm | follow | predict | follow shift | predict shift | mean |"
    )
    assert lines[4].startswith(
        "| 1 | A | (1) 0.9001 [0.8901, 0.9101] "
        "| (1) 0.9500 [0.9400, 0.9600] | 0.450 [0.350, 0.550] |"
    )
    assert lines[6].startswith("| 2 | B | (2) 0.8991")
    assert (
        "Warning: A and C produced identical results on predict (seed 0): no score can "
        "tell them apart."
    ) in text


def test_without_differences_only_non_overlapping_intervals_rank_and_the_note_says_so():
    # follow: A and C [0.8901, 0.9101] overlap B [0.8891, 0.9091]; predict: all overlap
    board = leaderboard(SCORES)
    assert board.attrs["ranked_by"] == "intervals" and board["rank"].tolist() == [1, 1, 1]
    assert "their own 95% intervals do not overlap" in to_markdown(board)
    apart = SCORES.assign(ci_low=SCORES["score"] - 1e-5, ci_high=SCORES["score"] + 1e-5)
    board = leaderboard(apart)  # now follow separates A, C above B; predict A, C above B
    assert board.set_index("algorithm")["rank"].to_dict() == {"A": 1, "C": 1, "B": 3}


def test_digits_show_the_narrowest_interval_too():
    # an interval 3.5e-5 wide needs 5 decimals ([0.99996, 0.99999]), one 0.02 wide the minimum
    assert digits_to_show(None, [3.5e-5, 0.1]) == 5
    assert digits_to_show(None, [0.02]) == 3
    assert digits_to_show(None, [1e-12]) == 8  # capped
