"""One rank of a launched training stage: ``python -m progalign.training.rank REQUEST``.

``accelerate launch`` starts this module once per process (:mod:`progalign.training.launch`
writes the request and the command). Each rank rebuilds the stage function's arguments from
the request's JSON and calls the same stage function as an in-process run; inside a rank no
launch is in force, so the function trains here, and
:func:`progalign.training.stage.run_stage` makes the ranks cooperate (one trainer per rank,
the main rank writing the output). Exit status 0 means the main rank wrote the output and its
record; a bad request or a failed stage exits with status 2 after printing the error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from progalign.errors import ProgalignError
from progalign.io import read_json
from progalign.settings import TrainSettings
from progalign.training.launch import RANK_ENV
from progalign.training.stage import PreferencePair


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _pairs(rows: list[dict[str, Any]]) -> list[PreferencePair]:
    return [PreferencePair(**row) for row in rows]


def _dpo(a: dict[str, Any]) -> Any:
    from progalign.training.dpo import train_dpo

    return train_dpo(
        Path(a["model_dir"]),
        _pairs(a["pairs"]),
        Path(a["out_dir"]),
        TrainSettings(**a["settings"]),
        ref_model_dir=_path(a.get("ref_model_dir")),
    )


def _reward(a: dict[str, Any]) -> Any:
    from progalign.training.reward import train_reward_model

    return train_reward_model(
        Path(a["model_dir"]), _pairs(a["pairs"]), Path(a["out_dir"]), TrainSettings(**a["settings"])
    )


def _rloo(a: dict[str, Any]) -> Any:
    from progalign.training.rloo import train_rloo

    return train_rloo(
        Path(a["policy_dir"]),
        Path(a["reward_dir"]),
        list(a["prompts"]),
        Path(a["out_dir"]),
        TrainSettings(**a["settings"]),
    )


def _sft(a: dict[str, Any]) -> Any:
    from progalign.training.sft import train_sft_pairs

    return train_sft_pairs(
        Path(a["model_dir"]),
        [(p, c) for p, c in a["records"]],
        Path(a["out_dir"]),
        TrainSettings(**a["settings"]),
    )


def _hislm(a: dict[str, Any]) -> Any:
    from progalign.training.config import HislmConfig
    from progalign.training.hislm import train_hislm

    return train_hislm(
        a["base"],
        a["corpus"],
        Path(a["out_dir"]),
        HislmConfig(**a["config"]),
        corpus_files=[Path(p) for p in a["corpus_files"]],
        sft_file=_path(a.get("sft_file")),
    )


#: Stage name -> the call that rebuilds its arguments and trains.
STAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dpo": _dpo,
    "reward": _reward,
    "rloo": _rloo,
    "sft": _sft,
    "hislm": _hislm,
}


def serve(request_file: Path) -> None:
    """Train the stage described in ``request_file`` in this rank.

    Raises:
        ProgalignError: an unreadable request or an unknown stage (and whatever the stage
            raises).
    """
    request = read_json(request_file)
    if not isinstance(request, dict) or request.get("stage") not in STAGES:
        stage = request.get("stage") if isinstance(request, dict) else None
        raise ProgalignError(
            f"{request_file}: not a training request (stage {stage!r}; known: "
            f"{', '.join(sorted(STAGES))})"
        )
    STAGES[request["stage"]](request["arguments"])


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve the request named on the command line."""
    import logging

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m progalign.training.rank REQUEST", file=sys.stderr)
        return 2
    os.environ[RANK_ENV] = args[0]  # never launch again from here; the stage runner reads it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from progalign.training.distributed import deepspeed_model_init, prepare_cpu_deepspeed

    prepare_cpu_deepspeed()  # DeepSpeed on CPU ranks (tests, laptops): one world size
    plugin = deepspeed_model_init()  # ZeRO-3: models load sharded
    try:
        serve(Path(args[0]))
    except ProgalignError as exc:
        rank = os.environ.get("RANK", "0")
        print(f"progalign rank {rank}: error: {exc}", file=sys.stderr)
        return 2
    del plugin
    return 0


if __name__ == "__main__":
    sys.exit(main())
