"""The plug-in contract: examinees (alignment algorithms) and challenges (judges).

One examinee update is a function of (state, current model, human feedback) -> (new state, new
model): the state is a JSON-serialisable dict and models are folders, so each step can run as
its own job and a run can resume from any completed step (docs/plugins.md).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from progalign.benchmark.layout import slug
from progalign.benchmark.preferences import Preference

State = dict[str, Any]


@dataclass(frozen=True)
class Feedback:
    """What the human proxy of one timestep tells the examinee.

    Attributes:
        step: Judge step t (1 = the second century of the timeline).
        century: The proxy's century (for Coevolve: the simulated humans at that step).
        preferences: The proxy's decisions over the pool (undecided items included).
    """

    step: int
    century: str
    preferences: Sequence[Preference]

    @property
    def prompts(self) -> list[str]:
        """Every pool prompt (for on-policy optimisers such as RLOO)."""
        return [p.prompt for p in self.preferences]


@dataclass(frozen=True)
class StepContext:
    """Everything an update may use besides state, model and feedback.

    Attributes:
        initial_model: The examinee's starting model (the first century's), for ``independent``.
        scratch: A private folder for intermediate artefacts (deleted after the step).
        seed: The run's seed.
        training: Per-stage training settings (``dpo``, ``reward``, ``rloo``, ``sft`` ...), as
            plain dicts for ``progalign.training.preference.TrainSettings``.
    """

    initial_model: Path
    scratch: Path
    seed: int
    training: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class Examinee(abc.ABC):
    """An alignment algorithm. Subclasses implement ``update`` and register with
    ``@progalign.algorithm("Name")``.

    Constructor keyword arguments are the algorithm's parameters from the config
    (``benchmark.params``); parameters it does not use are ignored, as upstream.
    """

    name: ClassVar[str] = "abstract"

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    def initial_state(self) -> State:
        """The state before the first update."""
        return {}

    @abc.abstractmethod
    def update(
        self, state: State, model: Path, feedback: Feedback, out: Path, ctx: StepContext
    ) -> State:
        """Learn from ``feedback``: write the new model folder to ``out``, return the new state.

        ``out`` does not exist yet; the caller makes its creation atomic.
        """

    def describe(self) -> dict[str, Any]:
        """Name, parameters and deviations of the algorithm (recorded in results)."""
        name = self.name if self.name != "abstract" else type(self).__name__
        return {
            "name": name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": self.params,
        }


@dataclass(frozen=True)
class ScoreInput:
    """Value-vector trajectories a challenge scores.

    Attributes:
        actual: a_t for every century of the timeline (t = 0 ..).
        examinee: e_t per evaluated judge step t >= 1 (Follow/Predict).
        simulated: s_0 .. s_T of the simulated humans (Coevolve; s_0 = a_0).
    """

    actual: Sequence[np.ndarray]
    examinee: Mapping[int, np.ndarray] = field(default_factory=dict)
    simulated: Sequence[np.ndarray] = ()


@dataclass(frozen=True)
class Scored:
    """A challenge's score with per-step similarities {step: (target timestep, cosine)}, and
    optionally its shift companion (docs/statistics.md) with per-step shift similarities."""

    score: float
    steps: dict[int, tuple[int, float]]
    shift: float | None = None
    shift_steps: dict[int, float] = field(default_factory=dict)


class Challenge(abc.ABC):
    """A judge. Subclasses define which steps are evaluated and how trajectories are scored,
    and register with ``@progalign.challenge("name")``.

    ``feedback = "history"``: the examinee learns from the real historical models and its
    trajectory is shared with every other such challenge (same algorithm and seed).
    ``feedback = "simulated"``: the challenge keeps simulated humans that answer instead; it
    then implements :meth:`update_humans`, which the workflow's humans step calls.
    """

    name: ClassVar[str] = "abstract"
    version: ClassVar[str] = "abstract/0"
    #: Version tag of the shift companion score; None: the challenge computes none.
    shift_version: ClassVar[str | None] = None
    feedback: ClassVar[Literal["history", "simulated"]] = "history"

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    @property
    def label(self) -> str:
        """Name used in results and tables."""
        return self.name if self.name != "abstract" else type(self).__name__

    @property
    def trajectory(self) -> str:
        """Folder of the examinee trajectory under ``runs/``: ``history`` (shared by every
        history-fed challenge) or the challenge's own label (simulated feedback)."""
        return "history" if self.feedback == "history" else slug(self.label)

    def update_humans(
        self,
        human: Path,
        history_answers: Sequence[tuple[str, str]],
        examinee_answers: Sequence[tuple[str, str]],
        out: Path,
        ctx: StepContext,
    ) -> dict[str, Any]:
        """Simulated feedback only: one judge step of the simulated humans, ``human`` (a model
        folder) -> a model folder at ``out``, given the current century's answers and the
        examinee's; return training metrics (recorded).

        Raises:
            NotImplementedError: the challenge has history feedback, or does not implement it.
        """
        raise NotImplementedError(f"challenge {self.label!r} keeps no simulated humans")

    def evaluated_steps(self, n_timesteps: int) -> list[int]:
        """Judge steps at which the examinee updates and is recorded (default 1..T-1)."""
        return list(range(1, n_timesteps))

    @abc.abstractmethod
    def score(self, data: ScoreInput) -> Scored:
        """Score trajectories (higher is better)."""

    def describe(self) -> dict[str, Any]:
        """Name, version and parameters (recorded in results)."""
        return {
            "name": self.name,
            "label": self.label,
            "version": self.version,
            "params": self.params,
            "feedback": self.feedback,
        }
