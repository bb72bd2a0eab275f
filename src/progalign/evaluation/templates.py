"""Question and response templates of a questionnaire protocol (docs/semantics.md#questionnaire).

The templates are the upstream JSON files, fetched with the questionnaire into
``<questionnaire>/templates/``; nothing here hard-codes their text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from progalign.errors import InputError

#: Question types per option count, in the order upstream asks them.
TWO_OPTION_TYPES: tuple[str, ...] = ("ab", "compare", "repeat")
FOUR_OPTION_TYPES: tuple[str, ...] = ("4c_fav", "repeat2_fav")

# question type -> (question template file, index inside a list file or None, response file)
_FILES: dict[str, tuple[str, int | None, str]] = {
    "ab": ("ab.json", None, "ab.json"),
    "compare": ("compare.json", None, "compare.json"),
    "repeat": ("repeat.json", None, "repeat.json"),
    "4c_fav": ("abcd.json", 0, "4c.json"),
    "repeat2_fav": ("repeat_2.json", 0, "repeat2.json"),
}


@dataclass(frozen=True)
class QuestionTemplate:
    """One question type: a header (the instruction) and a question with ``{}`` slots."""

    name: str
    header: str
    question: str
    responses: dict[str, tuple[str, ...]]  # "A".."D" -> response templates

    @property
    def n_options(self) -> int:
        """Number of options the question shows."""
        return 4 if self.name in FOUR_OPTION_TYPES else 2

    @property
    def bracketed(self) -> bool:
        """True when options are labelled ``[A]`` (HEAD templates), False for ``A.`` (paper era)."""
        return "[A]" in self.question

    def fill(self, context: str, shown: tuple[str, ...]) -> str:
        """Render the question for ``context`` with options in display order ``shown``."""
        if len(shown) != self.n_options:
            raise ValueError(f"{self.name} takes {self.n_options} options, got {len(shown)}")
        return self.question.format(context, *shown)


@dataclass(frozen=True)
class Templates:
    """All question types plus the refusal phrases of one protocol."""

    questions: dict[str, QuestionTemplate]
    refusals: tuple[str, ...]


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "template file missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"not valid JSON ({exc})") from None


def load_templates(templates_dir: str | Path) -> Templates:
    """Load the five question types and their response templates from ``templates_dir``.

    Args:
        templates_dir: Folder with ``question_templates/`` and ``response_templates/``.

    Raises:
        InputError: a file is missing or malformed (the message names it).
    """
    root = Path(templates_dir)
    questions: dict[str, QuestionTemplate] = {}
    for name, (qfile, index, rfile) in _FILES.items():
        qpath = root / "question_templates" / qfile
        raw = _read_json(qpath)
        entry = raw[index] if isinstance(raw, list) and index is not None else raw
        if not isinstance(entry, dict) or entry.get("name") != name:
            raise InputError(str(qpath), f"expected the question type {name!r}")
        rpath = root / "response_templates" / rfile
        rraw = _read_json(rpath)
        if not isinstance(rraw, dict):
            raise InputError(str(rpath), "expected an object of responses_A.. lists")
        responses = {
            key.removeprefix("responses_"): tuple(str(t) for t in value)
            for key, value in rraw.items()
            if key.startswith("responses_")
        }
        questions[name] = QuestionTemplate(
            name=name,
            header=str(entry["question_header"]),
            question=str(entry["question"]),
            responses=responses,
        )
    refusal_path = root / "response_templates" / "refusals.txt"
    try:
        lines = refusal_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(str(refusal_path), "refusal phrase file missing") from None
    refusals = tuple(line.strip() for line in lines if line.strip())
    return Templates(questions=questions, refusals=refusals)
