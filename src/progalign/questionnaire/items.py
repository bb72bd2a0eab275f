"""The normalised questionnaire item (one row of ``items.jsonl``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Group = Literal["moralchoice", "foundation", "views"]
GROUPS: tuple[Group, ...] = ("moralchoice", "foundation", "views")

#: MoralChoice rule columns in CSV order; index i is value dimension i
#: (docs/semantics.md#value-vector).
RULES: tuple[str, ...] = (
    "death",
    "pain",
    "disable",
    "freedom",
    "pleasure",
    "deceive",
    "cheat",
    "break_promise",
    "break_law",
    "duty",
)
#: Moral Foundations themes in dimension order 10..14 (docs/semantics.md#value-vector).
THEMES: tuple[str, ...] = (
    "Harm_Care",
    "Fairness_Reciprocity",
    "InGroup_Loyalty",
    "Authority_Respect",
    "Purity_Sancity",
)
#: Worldviews, dimensions 15..18 = views action1..action4.
WORLDVIEWS: tuple[str, ...] = ("Traditional", "Modern", "Post-modern", "Integrated")
#: Allowed MoralChoice label values.
LABEL_VALUES: tuple[str, ...] = ("Yes", "No", "No Agreement")


@dataclass(frozen=True)
class Item:
    """One questionnaire scenario with its original (content) actions.

    Attributes:
        item_id: Unique id in the questionnaire (the CSV ``scenario_id``; duplicates get a
            ``#k`` suffix, see ``loaders``).
        group: ``moralchoice`` (2 actions, dims 0-9), ``foundation`` (2 actions, dims 10-14) or
            ``views`` (4 actions, dims 15-18).
        context: The scenario text.
        actions: Original actions, in CSV order (action1 first). Crediting always refers to
            these indices, never to a display position.
        rule: MoralChoice ``generation_rule`` (descriptive only).
        theme: Foundation theme (one of ``THEMES``) or the views' descriptive theme.
        labels: MoralChoice only: ``{"a1": [10 labels], "a2": [10 labels]}`` in ``RULES`` order.
        source: Where the row came from: ``{"file": name, "sha256": ..., "row": n}``.
    """

    item_id: str
    group: Group
    context: str
    actions: tuple[str, ...]
    rule: str | None = None
    theme: str | None = None
    labels: dict[str, tuple[str, ...]] | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (lists instead of tuples)."""
        row = asdict(self)
        row["actions"] = list(self.actions)
        if self.labels is not None:
            row["labels"] = {k: list(v) for k, v in self.labels.items()}
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Item:
        """Inverse of ``to_json``."""
        labels = row.get("labels")
        return cls(
            item_id=row["item_id"],
            group=row["group"],
            context=row["context"],
            actions=tuple(row["actions"]),
            rule=row.get("rule"),
            theme=row.get("theme"),
            labels={k: tuple(v) for k, v in labels.items()} if labels else None,
            source=row.get("source", {}),
        )
