"""The interface every scoring backend implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

PromptFormat = Literal["chat", "alpaca"]

_ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
_ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


@dataclass(frozen=True)
class LLRequest:
    """Score each continuation after one shared context."""

    context: str
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class ContinuationScore:
    """Sum of token log-probabilities of a continuation and its token count."""

    logprob: float
    n_tokens: int

    @property
    def mean_logprob(self) -> float:
        """Length-normalised log-likelihood (per token)."""
        return self.logprob / max(self.n_tokens, 1)


def alpaca_prompt(instruction: str, input_text: str) -> str:
    """Render the alpaca template (upstream's default for vLLM/serial inference)."""
    if input_text:
        return _ALPACA_WITH_INPUT.format(instruction=instruction, input=input_text)
    return _ALPACA_NO_INPUT.format(instruction=instruction)


class Backend(abc.ABC):
    """A language model that scores continuations and generates answers."""

    name: str = "abstract"

    @abc.abstractmethod
    def format_prompt(self, instruction: str, input_text: str, fmt: PromptFormat) -> str:
        """Render an instruction/input pair as the model's prompt text.

        ``chat`` applies the model's chat template to one user turn holding the instruction
        followed by the input; ``alpaca`` uses the alpaca template.
        """

    @abc.abstractmethod
    def loglikelihood(
        self, requests: Sequence[LLRequest], progress: bool = False
    ) -> list[list[ContinuationScore]]:
        """Score every continuation of every request (same order as given)."""

    @abc.abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
        progress: bool = False,
    ) -> list[str]:
        """Generate one answer per prompt (greedy when ``temperature`` is 0)."""

    def n_parameters(self) -> int | None:
        """Number of model parameters, when the backend knows it."""
        return None

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Provenance of the backend: model id/path, weights hash, dtype, device, settings."""
