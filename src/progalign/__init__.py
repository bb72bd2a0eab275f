"""progalign: a reproducibility kit for progress alignment (a re-implementation of ProgressGym).

The plug-in API (docs/plugins.md) is available at the top level and imported lazily, so that
``import progalign`` stays cheap::

    from progalign import Examinee, algorithm

    @algorithm("MyAlgorithm")
    class MyAlgorithm(Examinee): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from progalign._version import __version__

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use
    from progalign.benchmark.protocol import Challenge as Challenge
    from progalign.benchmark.protocol import Examinee as Examinee
    from progalign.benchmark.protocol import Feedback as Feedback
    from progalign.benchmark.protocol import Scored as Scored
    from progalign.benchmark.protocol import ScoreInput as ScoreInput
    from progalign.benchmark.protocol import StepContext as StepContext
    from progalign.benchmark.registry import algorithm as algorithm
    from progalign.benchmark.registry import challenge as challenge

_EXPORTS = {
    "Examinee": "progalign.benchmark.protocol",
    "Challenge": "progalign.benchmark.protocol",
    "Feedback": "progalign.benchmark.protocol",
    "StepContext": "progalign.benchmark.protocol",
    "ScoreInput": "progalign.benchmark.protocol",
    "Scored": "progalign.benchmark.protocol",
    "algorithm": "progalign.benchmark.registry",
    "challenge": "progalign.benchmark.registry",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'progalign' has no attribute {name!r}")
