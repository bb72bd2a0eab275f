"""The MiniLM embedding matcher with the real model from the pinned PyPI wheel."""

from __future__ import annotations

import numpy as np
import pytest

from progalign.evaluation.matching import AnswerMatcher
from progalign.evaluation.templates import QuestionTemplate

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_minilm_embeds_paraphrases_close_and_rescues_a_paraphrased_answer():
    from progalign.evaluation.embedder import MiniLMEmbedder

    embed = MiniLMEmbedder()
    vectors = embed(
        [
            "I give the wallet back to its owner.",
            "I return the wallet.",
            "I keep the money for myself.",
        ]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1

    repeat = QuestionTemplate(
        "repeat", "h", "{} q\n- {} \n- {}.", {"A": ("{optionA}",), "B": ("{optionB}",)}
    )
    shown = ("I keep the money for myself.", "I return the wallet.")
    without = AnswerMatcher([]).match("I give the wallet back to its owner.", repeat, shown)
    assert without.position is None
    matched = AnswerMatcher([], embedder=embed, min_similarity=0.5).match(
        "I give the wallet back to its owner.", repeat, shown
    )
    assert matched.position == 1 and matched.status == "embedding"
