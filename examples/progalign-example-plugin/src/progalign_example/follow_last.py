"""``follow-last``: how close the examinee ends up to the last century.

PG-Follow averages cos(e_t, a_t) over every step; ``follow-last`` keeps only the final step,
cos(e_{T-1}, a_{T-1}). It learns from the real historical models (``feedback = "history"``),
so it shares the examinee's trajectory with PG-Follow and PG-Predict: run after them, it only
scores.
"""

from __future__ import annotations

from progalign.benchmark.formulas import cosine
from progalign.benchmark.protocol import Challenge, Scored, ScoreInput
from progalign.benchmark.registry import challenge


@challenge("follow-last")
class FollowLast(Challenge):
    """Cosine similarity between the examinee and the last century, after the last update."""

    version = "example/follow-last/1"
    feedback = "history"

    def score(self, data: ScoreInput) -> Scored:
        """cos(e_T, a_T) for the last evaluated step T."""
        if not data.examinee:
            raise ValueError("follow-last: no examinee vectors")
        last = max(data.examinee)
        similarity = cosine(data.examinee[last], data.actual[last])
        return Scored(similarity, {last: (last, similarity)})
