"""Memory savings a training job is told to use (``--activation-checkpointing``,
``--no-gather-for-generation``): the resource plan adds them where a stage would not fit a GPU
otherwise (docs/resources.md).

They travel like the launch: the command sets them for the stages it starts
(:func:`saving`), a launched stage's request carries them to its ranks
(:func:`progalign.training.launch.delegate`), and every trainer configuration reads them
through :func:`trainer_options`. With neither flag, training is what it was without them.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MemorySaving:
    """How a stage trades time for GPU memory.

    Attributes:
        activation_checkpointing: Recompute activations in the backward pass instead of
            keeping them (transformers' ``activation_checkpointing``).
        gather_for_generation: RLOO under ZeRO-3 gathers the whole policy on every GPU to
            generate (fast); False generates module by module (TRL's
            ``ds3_gather_for_generation``).
    """

    activation_checkpointing: bool = False
    gather_for_generation: bool = True

    @classmethod
    def from_args(cls, args: Any) -> MemorySaving:
        """From the flags :func:`add_memory_arguments` added (absent flags: the defaults)."""
        return cls(
            activation_checkpointing=bool(getattr(args, "activation_checkpointing", False)),
            gather_for_generation=bool(getattr(args, "gather_for_generation", True)),
        )

    def to_json(self) -> dict[str, bool]:
        """The request's ``memory`` entry."""
        return dataclasses.asdict(self)


_SAVING: contextvars.ContextVar[MemorySaving | None] = contextvars.ContextVar(
    "memory_saving", default=None
)


def add_memory_arguments(parser: Any) -> None:
    """Add ``--activation-checkpointing`` and ``--no-gather-for-generation`` to a parser."""
    parser.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="recompute activations in the backward pass (less GPU memory, ~30%% more time)",
    )
    parser.add_argument(
        "--no-gather-for-generation",
        dest="gather_for_generation",
        action="store_false",
        help="RLOO under ZeRO-3: generate without gathering the whole policy on each GPU",
    )


@contextlib.contextmanager
def saving(memory: MemorySaving) -> Iterator[None]:
    """Train every stage started inside the block with ``memory``'s savings."""
    token = _SAVING.set(memory)
    try:
        yield
    finally:
        _SAVING.reset(token)


def in_force() -> MemorySaving:
    """The savings the command set for the stages it starts (see also
    :func:`progalign.training.launch.current_memory`, which a launched rank reads from its
    request)."""
    return _SAVING.get() or MemorySaving()


def trainer_options(memory: MemorySaving, *, generation: bool = False) -> dict[str, Any]:
    """``TrainingArguments`` fields for ``memory``; ``generation`` adds RLOO's."""
    options: dict[str, Any] = {"activation_checkpointing": memory.activation_checkpointing}
    if generation:
        options["ds3_gather_for_generation"] = memory.gather_for_generation
    return options
