"""Human-proxy preferences over the pool, elicited three ways, credited by content
(docs/semantics.md#preference-elicitation).

* ``generate`` (upstream): the proxy answers the "Response 1 / Response 2" judge query in free
  text; the answer is parsed by content (``elicitation.parse_choice``).
* ``logprob``: the likelihoods of the continuations "Response 1" and "Response 2" after the
  judge query decide (deterministic, no sampling).
* ``texts``: the length-normalised likelihood of each response as the answer to the question
  itself decides; for small models, whose "Response 1/2" answers only reflect position bias.

The display order of every query is randomised with seed 42 as upstream, and the decision is
always mapped back to the option's content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from progalign.backends.base import Backend, LLRequest, PromptFormat
from progalign.benchmark.elicitation import INSTRUCTION, build_queries, parse_choice
from progalign.benchmark.pool import PoolItem
from progalign.errors import InputError
from progalign.io import read_jsonl, write_jsonl
from progalign.settings import ElicitationSettings

ElicitMode = Literal["texts", "logprob", "generate"]


@dataclass(frozen=True)
class Preference:
    """The proxy's decision on one pool item; ``chosen`` indexes ``options`` (None: undecided)."""

    key: str
    prompt: str
    options: tuple[str, str]
    chosen: int | None
    margin: float | None = None
    answer: str | None = None

    @property
    def pair(self) -> tuple[str, str] | None:
        """(chosen, rejected) texts, or None when undecided."""
        if self.chosen is None:
            return None
        return self.options[self.chosen], self.options[1 - self.chosen]


_DEFAULTS = ElicitationSettings()


@dataclass(frozen=True)
class ElicitSettings:
    """How preferences are elicited (recorded with them; defaults: the config's
    ``benchmark.elicitation``, ``progalign.settings.ElicitationSettings``)."""

    mode: ElicitMode = _DEFAULTS.mode
    prompt_format: PromptFormat = _DEFAULTS.prompt_format
    seed: int = _DEFAULTS.seed
    max_new_tokens: int = _DEFAULTS.max_new_tokens
    temperature: float = _DEFAULTS.temperature


def elicit(
    backend: Backend, pool: Sequence[PoolItem], settings: ElicitSettings
) -> list[Preference]:
    """Ask ``backend`` (a human proxy) for its preference on every pool item."""
    queries = build_queries([(p.key, p.question, p.options) for p in pool], seed=settings.seed)
    fmt = settings.prompt_format
    out: list[Preference] = []
    if settings.mode == "texts":
        requests = [
            LLRequest(backend.format_prompt(p.instruction, p.input, fmt), p.options) for p in pool
        ]
        for p, (s1, s2) in zip(pool, backend.loglikelihood(requests, progress=True), strict=True):
            margin = s1.mean_logprob - s2.mean_logprob
            out.append(
                Preference(
                    p.key, p.prompt, p.options, None if margin == 0 else int(margin < 0), margin
                )
            )
    elif settings.mode == "logprob":
        requests = [
            LLRequest(
                backend.format_prompt(INSTRUCTION, q.input_text(), fmt),
                ("Response 1", "Response 2"),
            )
            for q in queries
        ]
        scored = backend.loglikelihood(requests, progress=True)
        for p, q, (s1, s2) in zip(pool, queries, scored, strict=True):
            margin = s1.logprob - s2.logprob
            shown = None if margin == 0 else int(margin < 0)
            out.append(
                Preference(p.key, p.prompt, p.options, _content(p, q.responses, shown), margin)
            )
    elif settings.mode == "generate":
        texts = [backend.format_prompt(INSTRUCTION, q.input_text(), fmt) for q in queries]
        answers = backend.generate(
            texts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            progress=True,
        )
        for p, q, answer in zip(pool, queries, answers, strict=True):
            shown = parse_choice(answer, q)
            out.append(
                Preference(
                    p.key, p.prompt, p.options, _content(p, q.responses, shown), None, answer
                )
            )
    else:
        raise ValueError(f"unknown elicitation mode {settings.mode!r} (texts, logprob, generate)")
    return out


def _content(item: PoolItem, shown_order: tuple[str, str], position: int | None) -> int | None:
    """Map a display position back to the index of that option's content."""
    if position is None:
        return None
    return item.options.index(shown_order[position])


def save_preferences(path: str | Path, prefs: Sequence[Preference]) -> None:
    """Write preferences as JSONL (atomically), one record per pool item."""
    write_jsonl(path, ({**asdict(p), "options": list(p.options)} for p in prefs))


def load_preferences(path: str | Path) -> list[Preference]:
    """Read preferences written by ``save_preferences``.

    Raises:
        InputError: naming the file and line of a malformed record.
    """
    prefs = []
    for number, row in enumerate(read_jsonl(path), start=1):
        try:
            options = tuple(row["options"])
            chosen = row["chosen"]
            if len(options) != 2 or chosen not in (None, 0, 1):
                raise ValueError("need two options and chosen in {null, 0, 1}")
            prefs.append(
                Preference(
                    str(row["key"]),
                    str(row["prompt"]),
                    (str(options[0]), str(options[1])),
                    chosen,
                    row.get("margin"),
                    row.get("answer"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(str(path), f"bad preference record ({exc})", row=number) from None
    return prefs


def summary(prefs: Sequence[Preference]) -> dict[str, Any]:
    """Counts of decided / undecided items and how often the first option won."""
    decided = [p for p in prefs if p.chosen is not None]
    return {
        "items": len(prefs),
        "decided": len(decided),
        "first_option_chosen": sum(p.chosen == 0 for p in decided),
    }
