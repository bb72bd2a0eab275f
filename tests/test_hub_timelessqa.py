"""TimelessQA from a local Hub emulator, straight into the SFT stage of train-hislm."""

from __future__ import annotations

import json
from pathlib import Path

from fakedata import fake_commit
from fakehub import FakeHub, FakeRepo
from progalign.cli import main
from progalign.hub.cli import TIMELESSQA_REPO
from progalign.training.sft import read_instructions

RECORDS = [
    {"instruction": f"Give a word for number {i}.", "input": "", "output": f"Word {i}."}
    for i in range(12)
]


def test_fetch_timelessqa_and_read_it(tmp_path: Path, capsys) -> None:
    commit = fake_commit("timelessqa")
    repo = FakeRepo(
        TIMELESSQA_REPO,
        "dataset",
        commit,
        {"timeless_qa.json": json.dumps(RECORDS).encode(), "README.md": b"card"},
    )
    with FakeHub([repo]) as hub:
        code = main(
            [
                "hub",
                "fetch-timelessqa",
                "--revision",
                commit,
                "--out",
                str(tmp_path / "tqa"),
                "--endpoint",
                hub.endpoint,
                "--no-progress",
            ]
        )
    assert code == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "timeless_qa.json" and not (tmp_path / "tqa" / "README.md").exists()
    assert read_instructions(path) == RECORDS
    assert (
        main(["hub", "fetch-timelessqa", "--revision", "main", "--out", str(tmp_path / "x")]) == 2
    )  # unpinned revision refused
