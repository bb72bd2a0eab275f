"""Deterministic artefact paths of a benchmark under one results root
(docs/semantics.md#artefacts-and-provenance).

Shared judge artefacts depend only on the historical models; examinee trajectories are keyed
by their feedback source: ``history`` (shared by every history-fed challenge, i.e. PG-Follow and
PG-Predict, for the same algorithm and seed) or the simulated humans of ``coevolve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    def run(self, trajectory: str, algorithm: str, seed: int) -> Path:
        """Folder of one examinee trajectory."""
        return self.root / "runs" / trajectory / slug(algorithm) / f"seed{seed}"

    def step(self, trajectory: str, algorithm: str, seed: int, step: int) -> Path:
        """Examinee step folder (model/, state.json, step.json)."""
        return self.run(trajectory, algorithm, seed) / f"step{step}"

    def step_values(self, trajectory: str, algorithm: str, seed: int, step: int) -> Path:
        """Value vector of the examinee after ``step``."""
        return self.run(trajectory, algorithm, seed) / f"values{step}.json"

    def feedback(self, algorithm: str, seed: int, step: int) -> Path:
        """PG-Coevolve: the simulated humans' preferences given at ``step`` (those of H_{step-1},
        elicited by the job that trains H_{step-1})."""
        return self.run("coevolve", algorithm, seed) / f"humans{step - 1}.feedback.jsonl"

    def humans(self, algorithm: str, seed: int, step: int) -> Path:
        """PG-Coevolve: the simulated humans after ``step`` (model/, humans.json)."""
        return self.run("coevolve", algorithm, seed) / f"humans{step}"

    def humans_values(self, algorithm: str, seed: int, step: int) -> Path:
        """PG-Coevolve: value vector of the simulated humans after ``step``."""
        return self.run("coevolve", algorithm, seed) / f"humans{step}.values.json"

    def score(self, challenge: str, algorithm: str, seed: int) -> Path:
        """Result JSON of one (challenge, algorithm, seed)."""
        return self.root / "scores" / slug(challenge) / slug(algorithm) / f"seed{seed}.json"


def slug(name: str) -> str:
    """Folder name of an algorithm or challenge (``pkg.mod:Class`` -> ``Class``)."""
    return name.rsplit(":", 1)[-1]
