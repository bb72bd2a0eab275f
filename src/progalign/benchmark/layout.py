"""Artefact paths and the timeline that connects them: the benchmark's DAG, defined once.

``progalign run`` walks it step by step; the Snakemake rules take their output patterns from
:class:`Layout` (wildcards such as ``"{seed}"`` pass through as text) and their input functions
from :class:`Timeline` (docs/semantics.md#timeline, docs/semantics.md#artefacts-and-provenance).

Shared judge artefacts depend only on the historical models; examinee trajectories are keyed by
their feedback source: ``history`` (shared by every history-fed challenge, i.e. PG-Follow and
PG-Predict, for the same algorithm and seed) or a simulated-feedback challenge's own label
(``coevolve``), whose folder also holds its simulated humans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: A step, seed or name, or a Snakemake wildcard standing for one (``"{seed}"``).
Key = int | str


def slug(name: str) -> str:
    """Folder name of an algorithm or challenge (``pkg.mod:Class`` -> ``Class``)."""
    return name.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Layout:
    """Paths under ``root`` for one historical-model ``family``."""

    root: Path
    family: str

    def values(self, century: str) -> Path:
        """Value vector of a historical model."""
        return self.root / "values" / self.family / f"{century}.json"

    def preferences(self, century: str) -> Path:
        """A historical model's preferences over the pool."""
        return self.root / "preferences" / self.family / f"{century}.jsonl"

    def answers(self, century: str) -> Path:
        """A historical model's answers on the pool (PG-Coevolve's history SFT data)."""
        return self.root / "answers" / self.family / f"{century}.jsonl"

    def run(self, trajectory: str, algorithm: str, seed: Key) -> Path:
        """Folder of one examinee trajectory."""
        return self.root / "runs" / trajectory / slug(algorithm) / f"seed{seed}"

    def step(self, trajectory: str, algorithm: str, seed: Key, step: Key) -> Path:
        """Examinee step folder (model/, state.json, step.json)."""
        return self.run(trajectory, algorithm, seed) / f"step{step}"

    def step_values(self, trajectory: str, algorithm: str, seed: Key, step: Key) -> Path:
        """Value vector of the examinee after ``step``."""
        return self.run(trajectory, algorithm, seed) / f"values{step}.json"

    def humans(self, trajectory: str, algorithm: str, seed: Key, step: Key) -> Path:
        """Simulated humans after ``step`` (model/, humans.json)."""
        return self.run(trajectory, algorithm, seed) / f"humans{step}"

    def humans_values(self, trajectory: str, algorithm: str, seed: Key, step: Key) -> Path:
        """Value vector of the simulated humans after ``step``."""
        return self.run(trajectory, algorithm, seed) / f"humans{step}.values.json"

    def humans_feedback(self, trajectory: str, algorithm: str, seed: Key, step: Key) -> Path:
        """Preferences of the simulated humans after ``step``: the examinee's feedback at
        ``step + 1`` (elicited by the job that trains them)."""
        return self.run(trajectory, algorithm, seed) / f"humans{step}.feedback.jsonl"

    def score(self, challenge: str, algorithm: str, seed: Key) -> Path:
        """Result JSON of one (challenge, algorithm, seed)."""
        return self.root / "scores" / slug(challenge) / slug(algorithm) / f"seed{seed}.json"


@dataclass(frozen=True)
class ScoreInputs:
    """What one score needs: the judges' vectors and the trajectory's step records."""

    actual: list[Path]
    info: list[Path]
    examinee: dict[int, Path] = field(default_factory=dict)  # history feedback
    simulated: list[Path] = field(default_factory=list)  # simulated feedback


@dataclass(frozen=True)
class Timeline:
    """Which artefact each step of a trajectory reads (the benchmark's DAG).

    Step t (1 .. T-1) of a trajectory updates the examinee once. History feedback: the
    preferences of century t's model. Simulated feedback: at t = 1 those of the first century's
    model (the simulated humans start as it), later those of the simulated humans after t - 1.
    The examinee starts as the first century's model.

    Attributes:
        layout: The artefact paths.
        centuries: The timeline, in order.
        models: Century -> model folder.
    """

    layout: Layout
    centuries: tuple[str, ...]
    models: Mapping[str, Path]

    @property
    def start(self) -> Path:
        """The model every examinee and every simulated-human population starts as."""
        return self.models[self.centuries[0]]

    def feedback(
        self, trajectory: str, simulated: bool, algorithm: str, seed: Key, step: int
    ) -> Path:
        """The preferences the examinee learns from at ``step``."""
        if not simulated:
            return self.layout.preferences(self.centuries[step])
        if step == 1:
            return self.layout.preferences(self.centuries[0])
        return self.layout.humans_feedback(trajectory, algorithm, seed, step - 1)

    def previous(self, trajectory: str, algorithm: str, seed: Key, step: int) -> Path | None:
        """The step folder the examinee continues from (None at step 1: :attr:`start`)."""
        return None if step == 1 else self.layout.step(trajectory, algorithm, seed, step - 1)

    def human(self, trajectory: str, algorithm: str, seed: Key, step: int) -> Path:
        """The simulated humans' model before ``step``."""
        if step == 1:
            return self.start
        return self.layout.humans(trajectory, algorithm, seed, step - 1) / "model"

    def history_answers(self, step: int) -> Path:
        """Century ``step``'s answers (the simulated humans' history SFT data)."""
        return self.layout.answers(self.centuries[step])

    def score_inputs(
        self, trajectory: str, simulated: bool, steps: list[int], algorithm: str, seed: Key
    ) -> ScoreInputs:
        """Inputs of one score over the evaluated ``steps``."""
        info = [self.layout.step(trajectory, algorithm, seed, t) / "step.json" for t in steps]
        actual = [self.layout.values(c) for c in self.centuries]
        if not simulated:
            return ScoreInputs(
                actual,
                info,
                examinee={
                    t: self.layout.step_values(trajectory, algorithm, seed, t) for t in steps
                },
            )
        humans = [self.layout.humans(trajectory, algorithm, seed, t) / "humans.json" for t in steps]
        return ScoreInputs(
            actual,
            info + humans,
            simulated=[self.layout.humans_values(trajectory, algorithm, seed, t) for t in steps],
        )
