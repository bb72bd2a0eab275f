"""Offline round trip of the GGUF conversion: tiny HF model → GGUF (F32) → convert_gguf → equal.

The GGUF is written here the way llama.cpp's converter writes a Llama model (q/k rows permuted,
GPT-2 style BPE vocabulary and merges, chat template), so the conversion code of the embedded
model is exercised in seconds without downloading the real SmolLM2 file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from progalign.errors import InputError
from progalign.models import PROVENANCE_FILE, SMOLLM2_CHAT_TEMPLATE, SPECIAL_TOKENS
from progalign.models.embedded import convert_gguf, model_dir_problem
from progalign.models.tiny import build_tiny_model

gguf = pytest.importorskip("gguf")


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row permutation (transformers' GGUF loader reverses it)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _write_gguf(model_dir: Path, path: Path, chat_template: str | None) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    state = load_file(str(model_dir / "model.safetensors"))
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda item: item[1])
    assert [i for _, i in vocab] == list(range(config["vocab_size"]))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list([t for t, _ in vocab])
    writer.add_token_types([3 if t in SPECIAL_TOKENS else 1 for t, _ in vocab])
    merges = tok["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    names = {
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
    }
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"].numpy())
    writer.add_tensor("output_norm.weight", state["model.norm.weight"].numpy())
    for layer in range(config["num_hidden_layers"]):
        for hf, short in names.items():
            array = state[f"model.layers.{layer}.{hf}.weight"].numpy()
            if short in ("attn_q", "attn_k"):
                array = _permute(array, heads if short == "attn_q" else kv_heads)
            writer.add_tensor(f"blk.{layer}.{short}.weight", np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gguf")
    model_dir = build_tiny_model(root / "tiny", seed=7)
    _write_gguf(model_dir, root / "tiny.gguf", chat_template=None)
    return model_dir, root / "tiny.gguf"


def test_round_trip_is_exact(tiny_gguf: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, path = tiny_gguf
    out = convert_gguf(path, tmp_path / "converted", source={"test": True})
    original, converted = (load_file(str(d / "model.safetensors")) for d in (model_dir, out))
    assert original.keys() == converted.keys()
    assert all(torch.equal(original[k], converted[k]) for k in original)
    record = json.loads((out / PROVENANCE_FILE).read_text())
    assert record["source"] == {"test": True}
    assert model_dir_problem(out, full=True) is not None  # not the pinned SmolLM2 GGUF...
    assert "another" in (model_dir_problem(out) or "")  # ...and says so
    assert {p.name for p in out.iterdir()} - {PROVENANCE_FILE} == set(record["files"])

    tokenizer = AutoTokenizer.from_pretrained(out)
    reference = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE  # absent from the GGUF: set
    text = "A judge must choose at the royal court: obey the law or break the law. Ünïcødé 1611!"
    assert tokenizer(text).input_ids == reference(text).input_ids
    messages = [{"role": "user", "content": "Is it right to tell a lie?"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == reference.apply_chat_template(
        messages, tokenize=False
    )
    ids = torch.tensor([reference(text).input_ids])
    with torch.no_grad():
        a = AutoModelForCausalLM.from_pretrained(model_dir)(ids).logits
        b = AutoModelForCausalLM.from_pretrained(out)(ids).logits
    assert torch.equal(a, b)


def test_foreign_chat_template_is_rejected(tiny_gguf: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, _ = tiny_gguf
    path = tmp_path / "other.gguf"
    _write_gguf(model_dir, path, chat_template="{{ messages[0]['content'] }}")
    with pytest.raises(InputError, match="chat template"):
        convert_gguf(path, tmp_path / "out", source={})
    assert not (tmp_path / "out").exists()
