"""Turn questionnaire items into prompts with content-tracked option orders
(docs/semantics.md#questionnaire).

Every prompt records ``order``: ``order[p]`` is the index of the *original* action shown at
display position ``p``. All crediting goes through ``order``, so a preference is always
attributed to the content a model chose, never to the position it was shown at (the upstream
HEAD defect, docs/semantics.md#answers-and-crediting).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from progalign.errors import SettingError
from progalign.evaluation.templates import (
    FOUR_OPTION_TYPES,
    TWO_OPTION_TYPES,
    QuestionTemplate,
    Templates,
)
from progalign.questionnaire.items import Item

PermutationScheme = Literal["all", "cyclic", "identity"]
Scoring = Literal["texts", "letters", "plain"]
LETTERS = "ABCD"

#: The question type of ``plain`` scoring: no upstream question form, no listed options.
PLAIN = "plain"
#: Cue after the scenario in ``plain`` scoring, per item group (docs/evaluation.md). Chosen by
#: meaning, never tuned to items: the scenarios of MoralChoice and Moral Foundations ask what one
#: would do, the worldview items ask for an interpretation.
PLAIN_CUES: dict[str, str] = {
    "moralchoice": "What I would do:",
    "foundation": "What I would do:",
    "views": "My answer:",
}

# Option-text continuations, one per question type: each is one of the upstream response
# templates for that type (checked in ``candidates``), so the scored answer is one the
# upstream matcher would accept.
_TEXT_FORMS: dict[str, str] = {
    "ab": "{L}. {option}",
    "4c_fav": "{L}. {option}",
    "compare": 'I prefer "{option}"',
    "repeat": "{option}",
    "repeat2_fav": "{option}",
}


@dataclass(frozen=True)
class Prompt:
    """One question asked about one item under one option order."""

    item_id: str
    qtype: str
    order: tuple[int, ...]
    instruction: str
    input: str
    shown: tuple[str, ...]


def permutations(n: int, scheme: PermutationScheme) -> list[tuple[int, ...]]:
    """Return the display orders to ask for an item with ``n`` options.

    ``all``: every permutation (2 or 24; upstream HEAD). ``cyclic``: the ``n`` rotations, a Latin
    square that shows every option once at every position (balances position bias at 1/6 of the
    cost for four options). ``identity``: the original order only (upstream paper era).
    """
    identity = tuple(range(n))
    if scheme == "identity":
        return [identity]
    if scheme == "cyclic":
        return [identity[k:] + identity[:k] for k in range(n)]
    if scheme == "all":
        return list(itertools.permutations(identity))
    raise ValueError(f"unknown permutation scheme {scheme!r} (all, cyclic, identity)")


def question_types(item: Item, kept: Sequence[str] | None = None) -> tuple[str, ...]:
    """Question types asked for an item (3 for two options, 2 for four), or those of them in
    ``kept`` (None: all)."""
    types = FOUR_OPTION_TYPES if len(item.actions) == 4 else TWO_OPTION_TYPES
    return types if kept is None else tuple(t for t in types if t in kept)


def check_question_types(kept: Sequence[str] | None, items: Iterable[Item]) -> None:
    """Reject unknown names, and a selection that leaves some item with no question.

    Raises:
        SettingError: naming the unknown types or the item shape left without one.
    """
    if kept is None:
        return
    known = TWO_OPTION_TYPES + FOUR_OPTION_TYPES
    unknown = sorted(set(kept) - set(known))
    if unknown:
        raise SettingError(f"unknown question types {unknown} (known: {', '.join(known)})")
    for item in items:
        if not question_types(item, kept):
            shape = FOUR_OPTION_TYPES if len(item.actions) == 4 else TWO_OPTION_TYPES
            raise SettingError(
                f"question types {list(kept)} ask nothing of {len(item.actions)}"
                f"-option items such as {item.item_id} (keep one of "
                f"{', '.join(shape)})"
            )


def plain_prompt(item: Item) -> Prompt:
    """The one ``plain`` prompt of an item: its scenario, a newline and its group's cue.

    The options are not listed, so there is no display position to be biased towards: each
    option text is scored as the continuation of the cue (``candidates``).
    """
    return Prompt(
        item_id=item.item_id,
        qtype=PLAIN,
        order=tuple(range(len(item.actions))),
        instruction="",
        input=f"{item.context}\n{PLAIN_CUES[item.group]}",
        shown=item.actions,
    )


def build_prompts(
    items: Iterable[Item],
    templates: Templates,
    scheme: PermutationScheme = "all",
    kept_types: Sequence[str] | None = None,
    scoring: Scoring = "texts",
) -> list[Prompt]:
    """Build every (item, question type, order) prompt, in item order (question types limited
    to ``kept_types`` unless None). ``plain`` scoring asks one ``plain_prompt`` per item."""
    prompts: list[Prompt] = []
    for item in items:
        if len(item.actions) not in (2, 4):
            raise ValueError(f"item {item.item_id}: {len(item.actions)} actions (need 2 or 4)")
        if scoring == "plain":
            prompts.append(plain_prompt(item))
            continue
        for qtype in question_types(item, kept_types):
            template = templates.questions[qtype]
            for order in permutations(len(item.actions), scheme):
                shown = tuple(item.actions[i] for i in order)
                prompts.append(
                    Prompt(
                        item_id=item.item_id,
                        qtype=qtype,
                        order=order,
                        instruction=template.header,
                        input=template.fill(item.context, shown),
                        shown=shown,
                    )
                )
    return prompts


def candidates(
    prompt: Prompt, template: QuestionTemplate | None, scoring: Scoring
) -> tuple[str, ...]:
    """Continuations to score for ``prompt``, one per display position.

    ``letters``: the answer labels the question asks for (``[A]``/``A``, or ``yes``/``no``
    for ``compare``; the option texts for the repeat types, as upstream). ``texts``: the option
    text in an answer form taken from the response templates (e.g. ``A. <option>``), which
    small models score far more meaningfully than a bare letter. ``plain``: each option text
    after a space, continuing the cue of a ``plain_prompt``.
    """
    if scoring == "plain" or prompt.qtype == PLAIN:
        if prompt.qtype != PLAIN or scoring != "plain":
            raise ValueError("plain scoring and plain prompts go together")
        return tuple(f" {option}" for option in prompt.shown)
    if template is None:
        raise ValueError(f"{prompt.qtype}: no question template")
    if scoring == "letters":
        if prompt.qtype == "compare":
            return ("yes", "no")
        if prompt.qtype in ("ab", "4c_fav"):
            fmt = "[{}]" if template.bracketed else "{}"
            return tuple(fmt.format(LETTERS[p]) for p in range(len(prompt.shown)))
        return prompt.shown
    if scoring != "texts":
        raise ValueError(f"unknown scoring {scoring!r} (texts, letters)")
    form = _TEXT_FORMS[prompt.qtype]
    expected = form.replace("{L}", "A").replace("{option}", "{optionA}")
    if expected not in template.responses.get("A", ()):
        raise ValueError(f"{prompt.qtype}: answer form {expected!r} is not a response template")
    return tuple(form.format(L=LETTERS[p], option=option) for p, option in enumerate(prompt.shown))
