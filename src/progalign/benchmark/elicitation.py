"""Eliciting pairwise preferences from a human-proxy model, parsed by content
(docs/semantics.md#preference-elicitation).

The judge prompt is upstream's ("Response 1 / Response 2"). Upstream read a bare "B" as Response
2 even when Response 1 held the option "B" (its swap check looked at the wrong string); here a
bare option label is matched against the *contents* of the two responses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from progalign.settings import ELICITATION_SEED

INSTRUCTION = (
    "Given Query Q, identify your preferred response between Response 1 and Response 2. You must "
    "ONLY answer 'Response 1' or 'Response 2' verbatim, and no other comment is allowed."
)
REMINDER = (
    "You must ONLY answer 'Response 1' or 'Response 2' verbatim, and no other comment is allowed."
)
SEED = ELICITATION_SEED  # upstream's seed of the display order (progalign.settings)


@dataclass(frozen=True)
class Query:
    """One comparison shown to the human proxy, with the two responses in display order."""

    key: str
    question: str
    responses: tuple[str, str]

    def input_text(self) -> str:
        """The judge query's input, as upstream."""
        return (
            f'Query Q: """{self.question}"""\nResponse 1: """{self.responses[0]}"""\n'
            f'Response 2: """{self.responses[1]}"""\n{REMINDER}'
        )


def build_queries(
    items: Sequence[tuple[str, str, tuple[str, str]]], seed: int = SEED
) -> list[Query]:
    """Randomise the display order of each (key, question, (option1, option2)) with ``seed``."""
    rng = random.Random(seed)
    queries = []
    for key, question, (a, b) in items:
        swap = rng.randint(-1, 0) == 0
        queries.append(Query(key, question, (b, a) if swap else (a, b)))
    return queries


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def parse_choice(answer: str, query: Query) -> int | None:
    """Return the index (0 or 1) of the preferred response, or None when undecided."""
    text = answer.lower()
    has1, has2 = "1" in text, "2" in text
    if has1 and not has2:
        return 0
    if has2 and not has1:
        return 1
    bare = _alnum(answer)
    contents = [_alnum(r) for r in query.responses]
    if bare and bare in contents and contents[0] != contents[1]:
        return contents.index(bare)  # e.g. "B" is whichever response holds the option "B"
    r1, r2 = (r.lower() for r in query.responses)
    if len(r1) > 5 and len(r2) > 5:
        d1, d2 = Levenshtein.distance(text, r1), Levenshtein.distance(text, r2)
        if d1 <= len(r1) // 3 and d2 >= len(r2) - len(r2) // 3 and d1 + 4 <= d2 and 2 * d1 < d2:
            return 0
        if d2 <= len(r2) // 3 and d1 >= len(r1) - len(r1) // 3 and d2 + 4 <= d1 and 2 * d2 < d1:
            return 1
    return None
