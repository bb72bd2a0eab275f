"""Small synthetic repositories in the layout of the published ProgressGym artefacts.

For :class:`fakehub.FakeHub`: a HistText-like dataset repo (century folders of
``Y0yyyy.json`` lists) and a HistLlama3-like model repo (config, tokenizer files, sharded
safetensors-named blobs). The content is synthetic; only the layout and metadata are faithful.
"""

from __future__ import annotations

import hashlib
import json
import random

from fakehub import FakeRepo


def fake_commit(seed: str) -> str:
    """A deterministic 40-hex commit id."""
    return hashlib.sha1(seed.encode()).hexdigest()


def histtext_files(
    years: dict[str, list[int]], records_per_year: int = 3, words: int = 200, seed: int = 0
) -> dict[str, bytes]:
    """Year files ``C0cc/Y0yyyy.json`` (JSON lists of records) plus a README.

    Args:
        years: Century label -> years to create (e.g. ``{"C017": [1605, 1650]}``).
        records_per_year: Records per year file.
        words: Words per record (controls file sizes).
        seed: Seed of the text generator.
    """
    rng = random.Random(seed)
    vocab = [
        "thee",
        "kingdom",
        "reason",
        "virtue",
        "liberty",
        "church",
        "trade",
        "law",
        "mercy",
        "honour",
        "nation",
        "science",
        "duty",
        "grace",
        "commerce",
        "right",
    ]
    files: dict[str, bytes] = {"README.md": b"---\nlicense: cc-by-4.0\n---\n# HistText (fake)\n"}
    for century, ys in years.items():
        for year in ys:
            records = [
                {
                    "content": " ".join(rng.choice(vocab) for _ in range(words)),
                    "creation_year": year,
                    "source_dataset": rng.choice(["EEBO", "gutenberg"]),
                    "source_dataset_detailed": "fake",
                    "culture": "English",
                }
                for _ in range(records_per_year)
            ]
            files[f"{century}/Y{year:05d}.json"] = json.dumps(records, indent=1).encode()
    return files


def fake_histtext(
    commit: str,
    years: dict[str, list[int]] | None = None,
    repo_id: str = "PKU-Alignment/ProgressGym-HistText",
    **kwargs: int,
) -> FakeRepo:
    """A HistText-like dataset repo (default: two years in each of C016, C017, C018)."""
    years = years or {"C016": [1520, 1580], "C017": [1605, 1650, 1690], "C018": [1711, 1776]}
    return FakeRepo(repo_id, "dataset", commit, histtext_files(years, **kwargs))


def fake_model(
    repo_id: str, commit: str, shard_bytes: int = 300_000, shards: int = 2, seed: int = 0
) -> FakeRepo:
    """A HistLlama3-like model repo with sharded weights (random bytes) and small configs."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {
        "config.json": json.dumps(
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
        ).encode(),
        "generation_config.json": b'{"do_sample": true}',
        "tokenizer.json": json.dumps({"version": "1.0", "pad": "x" * 2000}).encode(),
        "tokenizer_config.json": b'{"model_max_length": 8192}',
        "special_tokens_map.json": b"{}",
        "README.md": b"---\nbase_model: meta-llama/Meta-Llama-3-8B\n---\n",
        "training_args.bin": b"\x00" * 64,
        "checkpoint-100/optimizer.pt": b"\x01" * 64,
    }
    weight_map: dict[str, str] = {}
    for i in range(1, shards + 1):
        name = f"model-{i:05d}-of-{shards:05d}.safetensors"
        files[name] = rng.randbytes(shard_bytes)
        weight_map[f"layer.{i}"] = name
    index = {"metadata": {"total_size": shard_bytes * shards}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    return FakeRepo(repo_id, "model", commit, files)
