"""Prompt rendering and tokenisation shared by the transformers and vLLM backends."""

from __future__ import annotations

from typing import Any

from progalign.backends.base import LLRequest, PromptFormat, alpaca_prompt
from progalign.backends.kv import Tokenized


class PromptTokenizer:
    """Wraps a Hugging Face tokenizer: renders prompts, splits context/continuation tokens."""

    def __init__(self, tokenizer: Any, model_id: str) -> None:
        self.tokenizer = tokenizer
        self.model_id = model_id
        bos = tokenizer.bos_token_id
        probe = tokenizer("a").input_ids
        self._prepend_bos = bos is not None and len(probe) > 0 and probe[0] == bos

    def format_prompt(self, instruction: str, input_text: str, fmt: PromptFormat) -> str:
        """``chat``: the model's chat template on one user turn (instruction, then input);
        ``alpaca``: the alpaca template."""
        if fmt == "alpaca":
            return alpaca_prompt(instruction, input_text)
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{self.model_id} has no chat template; use prompt format 'alpaca'")
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction + input_text}],
            tokenize=False,
            add_generation_prompt=True,
        )
        return str(text)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (BOS prepended when the tokenizer would add one)."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False).input_ids
        bos = self.tokenizer.bos_token_id
        if self._prepend_bos and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def tokenize_request(self, request: LLRequest) -> Tokenized:
        """Context ids and per-continuation ids, split as lm-eval does (tail of enc(ctx+cont))."""
        ctx = self.encode(request.context)
        conts = []
        for cont in request.continuations:
            whole = self.encode(request.context + cont)
            tail = whole[len(ctx) :] if whole[: len(ctx)] == ctx else []
            if not tail:
                tail = self.tokenizer(cont, add_special_tokens=False).input_ids
            if not tail:
                raise ValueError(f"continuation {cont!r} encodes to no tokens")
            conts.append(tail)
        return Tokenized(ctx, conts)
