"""A model's shape, from ``config.json``-level facts; its parameter count is computed from them.

The Llama-3 and SmolLM2 configurations below are the published ``config.json`` files of those
repositories (docs/resources.md#models); the HistLlama3 models are fine-tunes of Llama-3 and
share its configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progalign.errors import SettingError
from progalign.settings import Settings


@dataclass(frozen=True)
class Architecture:
    """A Llama-style decoder: embedding, ``num_layers`` blocks (GQA attention + SwiGLU MLP +
    two RMSNorms), a final norm and a language-model head (tied to the embedding or not).

    Attributes:
        name: What the numbers describe (a repo id or a folder).
        hidden_size: Width of the residual stream (h).
        num_layers: Decoder blocks (L).
        num_heads: Query heads (a).
        num_kv_heads: Key/value heads (grouped-query attention).
        intermediate_size: Width of the SwiGLU MLP.
        vocab_size: Rows of the embedding (V).
        tied_embeddings: The head reuses the embedding matrix.
        source: Where the facts come from (a URL or a file).
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool
    source: str

    @property
    def head_dim(self) -> int:
        """Width of one attention head (h / a)."""
        return self.hidden_size // self.num_heads

    @property
    def embedding_parameters(self) -> int:
        """V·h."""
        return self.vocab_size * self.hidden_size

    @property
    def layer_parameters(self) -> int:
        """One block: q and o (h·h each), k and v (h·kv·d each), MLP 3·h·I, two norms 2·h."""
        h = self.hidden_size
        kv = self.num_kv_heads * self.head_dim
        return 2 * h * h + 2 * h * kv + 3 * h * self.intermediate_size + 2 * h

    @property
    def parameters(self) -> int:
        """The causal LM: embedding + L blocks + final norm + head (unless tied)."""
        head = 0 if self.tied_embeddings else self.embedding_parameters
        return (
            self.embedding_parameters
            + self.num_layers * self.layer_parameters
            + self.hidden_size
            + head
        )

    @property
    def reward_parameters(self) -> int:
        """The reward model: the same trunk with a one-output score head (h) instead of the
        language-model head."""
        head = 0 if self.tied_embeddings else self.embedding_parameters
        return self.parameters - head + self.hidden_size

    def trainable_parameters(self, top_k_layers: int | None, reward: bool = False) -> int:
        """Parameters that train: all, or the top k blocks + final norm (+ the score head)."""
        total = self.reward_parameters if reward else self.parameters
        if top_k_layers is None:
            return total
        k = min(top_k_layers, self.num_layers)
        return k * self.layer_parameters + self.hidden_size * (2 if reward else 1)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """KV cache per token: 2 (k and v) · L · kv heads · head dim · bytes."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * dtype_bytes


def from_config(config: Mapping[str, Any], name: str, source: str) -> Architecture:
    """Read the facts from a Hugging Face ``config.json`` mapping (Llama naming).

    Raises:
        SettingError: a key is missing.
    """
    try:
        heads = int(config["num_attention_heads"])
        return Architecture(
            name=name,
            hidden_size=int(config["hidden_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
            source=source,
        )
    except KeyError as exc:
        raise SettingError(f"{source}: config has no {exc.args[0]!r}") from None


def _hf(repo: str, **facts: Any) -> Architecture:
    url = f"https://huggingface.co/{repo}/blob/main/config.json"
    return from_config(facts, repo, url)


#: Published configurations (config.json of each repository, as read from the Hub).
LLAMA3_8B = _hf(
    "meta-llama/Meta-Llama-3-8B",
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
    vocab_size=128256,
    tie_word_embeddings=False,
)
LLAMA3_70B = _hf(
    "meta-llama/Meta-Llama-3-70B",
    hidden_size=8192,
    num_hidden_layers=80,
    num_attention_heads=64,
    num_key_value_heads=8,
    intermediate_size=28672,
    vocab_size=128256,
    tie_word_embeddings=False,
)
SMOLLM2_135M = _hf(
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    hidden_size=576,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    intermediate_size=1536,
    vocab_size=49152,
    tie_word_embeddings=True,
)
#: ``progalign model tiny`` with its defaults (tests/test_plan.py reads the built config).
TINY = from_config(
    {
        "hidden_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 512,
        "tie_word_embeddings": True,
    },
    "tiny",
    "src/progalign/models/tiny.py (build_tiny_model defaults)",
)
#: Model names of the settings (models.base, the hub sizes) -> their configuration.
KNOWN: dict[str, Architecture] = {
    "embedded": SMOLLM2_135M,
    "tiny": TINY,
    "8B": LLAMA3_8B,
    "70B": LLAMA3_70B,
    LLAMA3_8B.name: LLAMA3_8B,
    LLAMA3_70B.name: LLAMA3_70B,
    "meta-llama/Meta-Llama-3-8B-Instruct": LLAMA3_8B,
    "meta-llama/Meta-Llama-3-70B-Instruct": LLAMA3_70B,
    SMOLLM2_135M.name: SMOLLM2_135M,
}


def lookup(model: str) -> Architecture | None:
    """The architecture of a known name, or of a folder's ``config.json``; None if neither."""
    if model in KNOWN:
        return KNOWN[model]
    config = Path(model) / "config.json"
    if config.is_file():
        return from_config(json.loads(config.read_text(encoding="utf-8")), model, str(config))
    return None


def base_architecture(settings: Settings) -> Architecture | None:
    """The base model's architecture (``models.base``)."""
    return lookup(settings.models.base)


def family_architecture(settings: Settings) -> Architecture | None:
    """The historical models' (and so the examinees' and simulated humans') architecture:
    the hub size for ``source: hub``, else the base they are trained from."""
    models = settings.models
    if models.source == "hub":
        return KNOWN[models.hub.size]
    return lookup(models.base)
