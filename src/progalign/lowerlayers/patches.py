"""Every replacement of a library attribute the engine makes, as a context manager that puts
the original back on every path out of it (normal exit, exception, ``KeyboardInterrupt``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

_MISSING = object()


@contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[Any]:
    """Set ``owner.name`` (an instance or a module) to ``value`` for the ``with`` block.

    On exit the previous state comes back: an attribute ``owner`` held itself is restored, one
    it inherited is uninstalled again. Nothing is undone if someone else replaced the
    attribute meanwhile (their exit restores theirs).
    """
    previous = vars(owner).get(name, _MISSING)
    setattr(owner, name, value)
    try:
        yield value
    finally:
        if vars(owner).get(name, _MISSING) is value:
            if previous is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)


@contextmanager
def trl_scores_labelled_positions_only() -> Iterator[bool]:
    """Make TRL's fused LM head score only labelled positions on CPU too, for the block.

    TRL 1.16 projects every position (prompt and padding included) through the LM head on
    devices without Triton, to keep tile shapes static for compilers; on a CPU that is most of
    a preference step's time. Yields True while active (also when an outer block already
    made it so), False (changing nothing) if TRL's internals moved.
    """
    try:
        import trl.trainer.utils as trl_utils
        from trl.kernels.chunked_logprob import _use_triton
    except ImportError:  # pragma: no cover - pinned TRL has both
        yield False
        return
    current = getattr(trl_utils, "_use_triton", None)
    if current is not _use_triton:
        yield bool(getattr(current, "progalign_compact", False))
        return

    def compact(device: torch.device) -> bool:
        return device.type == "cpu" or _use_triton(device)

    compact.progalign_compact = True  # type: ignore[attr-defined]
    with patched(trl_utils, "_use_triton", compact):
        yield True
