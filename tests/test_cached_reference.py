"""The committed reference results verify against their manifest and carry their provenance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CACHED = Path(__file__).resolve().parents[1] / "results" / "cached"
REFERENCES = sorted(p for p in CACHED.iterdir() if (p / "MANIFEST.sha256").exists())


def test_there_is_a_reference() -> None:
    assert REFERENCES, "no committed reference run under results/cached/"


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.name)
def test_reference_verifies_and_records_its_config(reference: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "progalign.cli", "report", "verify", str(reference)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    provenance = json.loads((reference / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["config"]["benchmark"]["challenges"]
    assert provenance["tables"]


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.name)
def test_reference_vectors_and_scores_follow_from_its_per_item_data(reference: Path) -> None:
    """Every value vector and score of a reference, recomputed from its committed per-item
    tables, matches its tables to 1e-9 (references from before per-item tables are named)."""
    from recompute import check_recomputes

    tables = reference / "tables"
    if not (tables / "item_probabilities.csv").is_file():
        pytest.skip(f"{reference.name} predates the per-item tables (no item_probabilities.csv)")
    assert check_recomputes(tables) > 0
