"""The preference-prompt pool: the value questions, each with two responses
(docs/semantics.md#comparison-pool).

Upstream turned every evaluation prompt (original option order) into a comparison between two
"responses": the letters ``A``/``B`` for ``ab`` and ``4c_fav`` ("we can only manage two
options"), ``yes``/``no`` for ``compare``, and the first two actions for ``repeat`` and
``repeat2_fav``. The pool is truncated to ``max_items`` by keeping each prompt with probability
max_items / N under ``random.seed(42)``. The examinee is trained on exactly the questions it is
evaluated on, as upstream.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from progalign.evaluation.prompts import question_types
from progalign.evaluation.templates import Templates
from progalign.questionnaire.items import Item
from progalign.settings import ALL_TYPES, MAX_ITEMS, POOL_SEED

#: Question types of the upstream pool, in upstream order.


@dataclass(frozen=True)
class PoolItem:
    """One comparison question: the user turn and its two candidate responses."""

    key: str
    instruction: str
    input: str
    options: tuple[str, str]

    @property
    def prompt(self) -> str:
        """The user turn as one text (instruction, blank line, input), as used for training."""
        return f"{self.instruction}\n\n{self.input}" if self.input else self.instruction

    @property
    def question(self) -> str:
        """The question as quoted in the judge query (upstream: instruction + newline + input)."""
        return f"{self.instruction}\n{self.input}"


def _options(item: Item, qtype: str) -> tuple[str, str]:
    if qtype in ("ab", "4c_fav"):
        return ("A", "B")
    if qtype == "compare":
        return ("yes", "no")
    return (item.actions[0], item.actions[1])


def build_pool(
    items: Sequence[Item],
    templates: Templates,
    question_types_kept: Sequence[str] = ALL_TYPES,
    max_items: int | None = MAX_ITEMS,
    seed: int = POOL_SEED,
) -> list[PoolItem]:
    """Build the comparison pool from questionnaire items.

    Args:
        items: Questionnaire items (their original option order is shown, as upstream).
        templates: The protocol's question templates.
        question_types_kept: Question types to include (small models: the option-text types).
        max_items: Bernoulli truncation target (None keeps everything).
        seed: Seed of the truncation.

    Raises:
        ValueError: on an unknown question type.
    """
    unknown = set(question_types_kept) - set(ALL_TYPES)
    if unknown:
        raise ValueError(f"unknown question types {sorted(unknown)} (known: {list(ALL_TYPES)})")
    pool: list[PoolItem] = []
    for item in items:
        for qtype in question_types(item):
            if qtype not in question_types_kept:
                continue
            template = templates.questions[qtype]
            options = _options(item, qtype)
            if options[0] == options[1]:
                continue
            pool.append(
                PoolItem(
                    key=f"{item.item_id}|{qtype}",
                    instruction=template.header,
                    input=template.fill(item.context, tuple(item.actions)),
                    options=options,
                )
            )
    if max_items is not None and len(pool) > max_items:
        rng = random.Random(seed)
        ratio = max_items / len(pool)
        pool = [p for p in pool if rng.random() < ratio]
    return pool
