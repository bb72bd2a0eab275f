"""A scripted backend for unit tests: option preferences are fixed *by content*.

It stands in for a language model only where the tests check the arithmetic of crediting and
aggregation against numbers computed by hand; the real backends are tested separately.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from progalign.backends.base import (
    Backend,
    ContinuationScore,
    LLRequest,
    PromptFormat,
    alpaca_prompt,
)


class ScriptedBackend(Backend):
    """Scores a continuation by the preference of the action text it contains.

    Args:
        preference: action text -> probability weight (continuations containing no known
            action get weight ``default``).
        answer: prompt text -> generated answer, for generate mode.
    """

    name = "scripted"

    def __init__(
        self,
        preference: dict[str, float] | None = None,
        answer: Callable[[str], str] | None = None,
        default: float = 1e-6,
    ) -> None:
        self.preference = preference or {}
        self.answer = answer or (lambda prompt: "")
        self.default = default
        self.requests: list[LLRequest] = []

    def format_prompt(self, instruction: str, input_text: str, fmt: PromptFormat) -> str:
        return alpaca_prompt(instruction, input_text)

    def _weight(self, continuation: str) -> float:
        # the longest matching action wins (some actions contain others)
        hits = [a for a in self.preference if a in continuation]
        return self.preference[max(hits, key=len)] if hits else self.default

    def loglikelihood(
        self, requests: Sequence[LLRequest], progress: bool = False
    ) -> list[list[ContinuationScore]]:
        self.requests.extend(requests)
        # one "token" per continuation so length normalisation leaves the weights unchanged
        return [
            [ContinuationScore(math.log(self._weight(c)), 1) for c in r.continuations]
            for r in requests
        ]

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
        progress: bool = False,
    ) -> list[str]:
        return [self.answer(p) for p in prompts]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}
