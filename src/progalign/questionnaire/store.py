"""Read a questionnaire directory written by ``build_questionnaire``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progalign.errors import InputError
from progalign.io import read_json, sha256_file
from progalign.questionnaire.items import GROUPS, Item


@dataclass(frozen=True)
class Questionnaire:
    """A loaded questionnaire.

    Attributes:
        items: All items, in file order (groups in the order moralchoice, foundation, views).
        meta: The content of ``meta.json`` (protocol, sources, counts, decisions, subsample).
        templates_dir: Folder holding ``question_templates/`` and ``response_templates/``.
        sha256: sha256 of ``items.jsonl`` (identifies the questionnaire in results).
        path: The questionnaire directory.
    """

    items: list[Item]
    meta: dict[str, Any]
    templates_dir: Path
    sha256: str
    path: Path

    @property
    def items_sha256(self) -> str:
        """Alias of ``sha256`` (the name used in result provenance)."""
        return self.sha256

    def group(self, name: str) -> list[Item]:
        """Return the items of one group, in order."""
        return [item for item in self.items if item.group == name]

    @property
    def groups(self) -> list[str]:
        """The groups present, in canonical order."""
        present = {item.group for item in self.items} | set(self.meta.get("groups", []))
        return [g for g in GROUPS if g in present]


def load_questionnaire(path: str | os.PathLike[str]) -> Questionnaire:
    """Load and verify a questionnaire directory.

    Args:
        path: A directory made by ``progalign questionnaire fetch`` / ``build_questionnaire``.

    Returns:
        The questionnaire.

    Raises:
        InputError: the directory or one of its files is missing, ``items.jsonl`` does not match
            the sha256 recorded in ``meta.json``, or a line is not a valid item.
    """
    root = Path(path)
    meta_path, items_path = root / "meta.json", root / "items.jsonl"
    for required in (meta_path, items_path):
        if not required.is_file():
            raise InputError(
                str(required),
                "missing; is this a questionnaire directory? "
                "Build one with `progalign questionnaire fetch`",
            )
    try:
        meta = read_json(meta_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(meta_path), f"not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(str(meta_path), "expected a JSON object")
    digest = sha256_file(items_path)
    if meta.get("items_sha256") != digest:
        raise InputError(
            str(items_path),
            f"sha256 {digest} does not match meta.json "
            f"({meta.get('items_sha256')}); the file was modified or truncated",
        )
    items = []
    with open(items_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = Item.from_json(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(
                    str(items_path), f"not a valid item ({exc!r})", row=number
                ) from None
            if item.group not in GROUPS:
                raise InputError(str(items_path), f"unknown group {item.group!r}", row=number)
            items.append(item)
    return Questionnaire(items, meta, root / "templates", digest, root)
