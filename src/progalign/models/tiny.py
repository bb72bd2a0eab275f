"""Tiny random Llama models with a tokenizer trained on the fly, for tests and CI.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a small built-in English sample
(templated moral-dilemma sentences) and a randomly initialised ``LlamaForCausalLM`` is built from
a ``LlamaConfig``. The special tokens, their ids (0, 1, 2) and the chat template are SmolLM2's, so
a tiny model is a drop-in stand-in for the embedded base model.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from progalign.io import atomic_dir, write_json
from progalign.models import PROVENANCE_FILE, SMOLLM2_CHAT_TEMPLATE, SPECIAL_TOKENS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

_AGENTS = (
    "A doctor",
    "A farmer",
    "A merchant",
    "A soldier",
    "A teacher",
    "A judge",
    "A priest",
    "A sailor",
    "A mother",
    "A king",
    "A servant",
    "A student",
)
_ACTIONS = (
    ("tell the truth", "tell a lie"),
    ("keep the promise", "break the promise"),
    ("share the bread", "keep the bread"),
    ("help the stranger", "ignore the stranger"),
    ("return the money", "keep the money"),
    ("obey the law", "break the law"),
    ("forgive the thief", "punish the thief"),
    ("protect the child", "leave the child"),
)
_CONTEXTS = (
    "during a long winter",
    "in a time of war",
    "at the market",
    "after a storm",
    "before the harvest",
    "in a small village",
    "on a crowded ship",
    "at the royal court",
)
_REASONS = (
    "because honesty matters",
    "because the family is hungry",
    "because the elders demand it",
    "because God commands it",
    "because it is fair",
    "because everyone else does it",
)
_QUESTIONS = (
    "Is it right to {a}?",
    "Should one {b} to save a friend?",
    "What would a good person do?",
    "Is it ever wrong to {a}?",
    "Would you {b} if nobody would know?",
)


def builtin_sentences() -> list[str]:
    """Return the built-in English training sample (a few hundred sentences, deterministic)."""
    sentences: list[str] = []
    combos = itertools.product(_AGENTS, _ACTIONS, _CONTEXTS)
    for i, (agent, (good, bad), context) in enumerate(combos):
        if i % 3:  # every third combination keeps the sample small but varied
            continue
        reason = _REASONS[i % len(_REASONS)]
        sentences.append(f"{agent} must choose {context}: {good} or {bad}.")
        sentences.append(f"{agent} decided to {good if i % 2 else bad}, {reason}.")
    for question, (good, bad) in itertools.product(_QUESTIONS, _ACTIONS):
        sentences.append(question.format(a=good, b=bad))
    sentences += [
        "Option A: I would tell the truth. Option B: I would stay silent.",
        "[A] Yes. [B] No. Answer with one letter.",
        "The year is 1611, and the people of the town gather to hear the news.",
        "Thou shalt not steal; love thy neighbour as thyself.",
        "We hold these truths to be self-evident, that all men are created equal.",
        "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000; dates: 1390, 1526, 1862, 1949, 2024.",
    ]
    return sentences


def train_tokenizer(corpus: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast``.

    Args:
        corpus: Training sentences.
        vocab_size: Target vocabulary size (at least 256 bytes + 3 special tokens).

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` with SmolLM2's special tokens (ids 0, 1, 2:
        ``<|endoftext|>`` unk, ``<|im_start|>`` bos, ``<|im_end|>`` eos and pad) and chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = 256 + len(SPECIAL_TOKENS)
    if vocab_size < minimum:
        raise ValueError(f"vocab_size={vocab_size} is below bytes + special tokens ({minimum})")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    unk, bos, eos = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        pad_token=eos,
        unk_token=unk,
        chat_template=SMOLLM2_CHAT_TEMPLATE,
        model_max_length=1024,
    )


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    corpus: list[str] | None = None,
) -> Path:
    """Build a tiny random Llama model and its tokenizer, and save both into ``out_dir``.

    The result is an ordinary Hugging Face folder (``config.json``, ``model.safetensors``,
    tokenizer files, ``progalign_model.json``) that ``AutoModelForCausalLM.from_pretrained`` and
    ``AutoTokenizer.from_pretrained`` load. The folder is written atomically; an existing one is
    replaced. The same arguments give identical weights and tokenizer. Building takes well under
    a second (plus the one-off import of torch and transformers).

    Like SmolLM2 it uses grouped-query attention (half as many key/value heads when
    ``num_heads`` is even), tied input/output embeddings, and a tokenizer that adds no special
    tokens by itself (the chat template adds them).

    Tests should build it once per session in a fixture and treat it as read-only, e.g.::

        @pytest.fixture(scope="session")
        def tiny_model_dir(tmp_path_factory):
            from progalign.models.tiny import build_tiny_model
            return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)

    A test that trains or modifies a model should copy the folder or build its own.

    Args:
        out_dir: Destination folder.
        seed: Seed for the random weights.
        vocab_size: Model vocabulary size (the tokenizer may learn fewer tokens from a small
            corpus; the embedding always has ``vocab_size`` rows).
        hidden_size: Hidden size (a multiple of ``num_heads``).
        num_layers: Number of decoder layers.
        num_heads: Number of attention heads.
        corpus: Extra sentences for the tokenizer, added to the built-in sample (e.g. text the
            test will feed the model, so it tokenizes into fewer pieces).

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ValueError: inconsistent sizes.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size={hidden_size} is not a multiple of num_heads={num_heads}")
    tokenizer = train_tokenizer(builtin_sentences() + list(corpus or []), vocab_size)
    kv_heads = num_heads // 2 if num_heads % 2 == 0 else num_heads
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)  # float32: the config sets no other dtype
    target = Path(out_dir)
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(
            tmp / PROVENANCE_FILE,
            {
                "kind": "tiny-random",
                "seed": seed,
                "vocab_size": vocab_size,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "num_heads": num_heads,
                "extra_corpus_sentences": len(corpus or []),
            },
        )
    return target
