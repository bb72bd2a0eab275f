"""Frozen lower layers computed once per text while the top layers train
(docs/semantics.md#shared-lower-layers).

With ``top_k_layers`` only the top k decoder layers (and the final norm) train; the embeddings
and the layers below are frozen, so their output on a token sequence never changes during a
run, and it is the same in every model of a family that shares those layers (examinee,
reference, reward model, simulated human). Inside :func:`memo_forward` a model's backbone
forward, for a padded batch without a KV cache, takes each row's lower activations from memory,
then from the on-disk :class:`~progalign.lowerlayers.store.LowerStore`, computes only the
missing rows, and runs the upper layers on them. Any other call (generation with a cache,
explicit position ids, holes in the attention mask, ``inputs_embeds``) goes to the original
forward unchanged. Padding is masked out and left-padded rows keep the positions the plain
forward gives them, so the outputs at real tokens equal the plain forward up to float rounding
(tested, with gradients). A row that starts with a prompt whose state the memo holds (RLOO's,
:mod:`progalign.lowerlayers.prefill`) computes only its remaining tokens.
``PROGALIGN_LOWER_MEMO=0`` turns the memo off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from progalign.lowerlayers.adapters import adapter_for, supported
from progalign.lowerlayers.layers import lower_row, run_upper
from progalign.lowerlayers.patches import patched
from progalign.lowerlayers.prefill import PromptState, encode_prompt, extend
from progalign.lowerlayers.store import LowerStore, fingerprint, parse_row_key, row_key, store_of

#: Keyword arguments a backbone call may carry and still use the memo. ``num_items_in_batch``
#: is the loss normaliser that ``transformers.Trainer`` passes down with every batch; the
#: backbone never reads it.
_HARMLESS = {"return_dict", "output_attentions", "output_hidden_states", "num_items_in_batch"}


@dataclass
class LowerMemo:
    """Lower-layer activations of token sequences, in memory and optionally on disk.

    Attributes:
        depth: Number of frozen bottom decoder layers.
        fingerprint: :func:`~progalign.lowerlayers.store.fingerprint` of those layers; a model
            is served only if its own matches.
        store: Disk store (shared across jobs), or None for memory only.
        max_bytes: Memory budget; past it, rows are still served but no longer kept.
    """

    depth: int
    fingerprint: str = ""
    store: LowerStore | None = None
    max_bytes: int = 2 << 30
    memory: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)
    #: Prompt states for rows that extend a known prompt (RLOO's prompts,
    #: :mod:`progalign.lowerlayers.prefill`); never written to ``store``.
    prompts: dict[tuple[int, ...], PromptState] = field(default_factory=dict)
    kept_bytes: int = 0
    #: The frozen tensors the fingerprint was taken of: another model (reference copy, reward
    #: model) is checked against them with ``torch.equal``, far cheaper than hashing it.
    source: list[torch.Tensor] = field(default_factory=list)
    source_backbone: str = ""
    stats: dict[str, int] = field(
        default_factory=lambda: {"memory": 0, "disk": 0, "computed": 0, "bypassed": 0}
    )

    def _keep(self, key: tuple[int, ...], hidden: torch.Tensor) -> None:
        size = hidden.numel() * hidden.element_size()
        if self.kept_bytes + size <= self.max_bytes:
            self.memory[key] = hidden
            self.kept_bytes += size

    def rows(
        self, model: Any, ids: torch.Tensor, spans: list[tuple[int, int]]
    ) -> list[torch.Tensor]:
        """Lower activations of each row's real tokens ``ids[i, start:end]``.

        A left-padded row's tokens sit at positions ``start, start + 1, ...`` (the backbone's
        default position ids), so ``start`` is part of its key.
        """
        keys = [row_key(ids[i, a:b].tolist(), a) for i, (a, b) in enumerate(spans)]
        found: dict[tuple[int, ...], torch.Tensor] = {}
        for key in dict.fromkeys(keys):
            if (hit := self.memory.get(key)) is not None:
                found[key] = hit
                self.stats["memory"] += 1
            elif self.store is not None and (hit := self.store.get(key)) is not None:
                found[key] = hit.to(ids.device)
                self._keep(key, found[key])
                self.stats["disk"] += 1
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            for key in missing:
                hidden, from_prompt = self._compute(model, key, ids.device)
                found[key] = hidden
                self._keep(key, hidden)
                # the store holds one-piece rows only, so its bits never depend on a prompt
                if self.store is not None and not from_prompt:
                    self.store.put(key, hidden.to("cpu"))
            self.stats["computed"] += len(missing)
        return [found[k] for k in keys]

    def _compute(
        self, model: Any, key: tuple[int, ...], device: torch.device
    ) -> tuple[torch.Tensor, bool]:
        """A row's lower activations, and whether they extend a known prompt."""
        start, tokens = parse_row_key(key)
        prompt = (
            max(
                (p for p in self.prompts if len(p) <= len(tokens) and tuple(tokens[: len(p)]) == p),
                key=len,
                default=None,
            )
            if self.prompts
            else None
        )
        if prompt is None:
            return lower_row(model, tokens, self.depth, device, start), False
        self.stats["extended"] = self.stats.get("extended", 0) + 1
        return extend(
            model, self.prompts[prompt], tokens[len(prompt) :], start, self.depth, device
        ), True

    def prompt_state(self, model: Any, tokens: list[int], device: torch.device) -> PromptState:
        """The :class:`~progalign.lowerlayers.prefill.PromptState` of ``tokens`` (kept while
        the memory budget allows)."""
        key = tuple(tokens)
        if (state := self.prompts.get(key)) is not None:
            return state
        state = encode_prompt(model, tokens, self.depth, device)
        size = state.nbytes()
        if self.kept_bytes + size <= self.max_bytes:
            self.prompts[key] = state
            self.kept_bytes += size
        return state


def _spans(ids: torch.Tensor, attention_mask: torch.Tensor | None) -> list[tuple[int, int]] | None:
    """Each row's [start, end) of real tokens if every row is one contiguous run, else None."""
    width = ids.shape[1]
    if attention_mask is None:
        return [(0, width)] * ids.shape[0]
    if attention_mask.dim() != 2 or attention_mask.shape != ids.shape:
        return None
    mask = attention_mask.bool()
    lengths = mask.sum(dim=1)
    if not bool((lengths > 0).all()):
        return None
    starts = mask.int().argmax(dim=1)
    index = torch.arange(width, device=ids.device)[None, :]
    expected = (index >= starts[:, None]) & (index < (starts + lengths)[:, None])
    if not torch.equal(mask, expected):
        return None
    return [(int(a), int(a + n)) for a, n in zip(starts, lengths, strict=True)]


def frozen_depth(model: Any) -> int:
    """Number of bottom decoder layers that are frozen together with the embeddings."""
    if any(p.requires_grad for p in model.get_input_embeddings().parameters()):
        return 0
    depth = 0
    for layer in adapter_for(model).layers:
        if any(p.requires_grad for p in layer.parameters()):
            break
        depth += 1
    return depth


def enabled() -> bool:
    """False when ``PROGALIGN_LOWER_MEMO=0`` (for comparisons and debugging)."""
    return os.environ.get("PROGALIGN_LOWER_MEMO", "1") != "0"


def memo_for(model: Any, depth: int, *, disk: bool) -> LowerMemo:
    """A memo for ``model``'s bottom ``depth`` layers; ``disk`` shares it across jobs (the
    store of :func:`~progalign.lowerlayers.store.store_for`)."""
    adapter = adapter_for(model)
    lower_print = fingerprint(model, depth)  # once: the store is named by it
    return LowerMemo(
        depth=depth,
        fingerprint=lower_print,
        store=store_of(lower_print) if disk else None,
        source=adapter.lower_tensors(depth),
        source_backbone=adapter.backbone,
    )


def training_memo(model: Any, top_k_layers: int | None, *, disk: bool) -> LowerMemo | None:
    """The memo of a model whose top ``top_k_layers`` layers train, or None when there is
    nothing to reuse (all layers train, ``PROGALIGN_LOWER_MEMO=0``, or an architecture
    without an adapter, which then trains with plain forwards)."""
    if top_k_layers is None or not enabled() or not supported(model):
        return None
    n_layers = len(adapter_for(model).layers)
    if top_k_layers >= n_layers:
        return None
    return memo_for(model, n_layers - top_k_layers, disk=disk)


def _same_lower(model: Any, memo: LowerMemo) -> bool:
    """Whether ``model``'s bottom ``memo.depth`` layers hold the weights the memo was made for."""
    if memo.source:
        adapter = adapter_for(model)
        if adapter.backbone != memo.source_backbone:
            return False
        mine = adapter.lower_tensors(memo.depth)
        return len(mine) == len(memo.source) and all(
            a is b or (a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b.to(a.device)))
            for a, b in zip(mine, memo.source, strict=True)
        )
    return not memo.fingerprint or fingerprint(model, memo.depth) == memo.fingerprint


@contextmanager
def memo_forward(model: Any, memo: LowerMemo) -> Iterator[LowerMemo]:
    """Route ``model``'s eligible backbone calls through ``memo`` inside the block.

    Raises:
        ValueError: the model's bottom ``memo.depth`` layers or its embeddings are trainable,
            or their weights are not the ones the memo holds activations of (raised on entry).
        SettingError: the model's architecture has no adapter (a ``ValueError`` too).
    """
    adapter = adapter_for(model)
    base = adapter.base
    if frozen_depth(model) < memo.depth:
        raise ValueError(
            f"the bottom {memo.depth} layers of {type(model).__name__} are not all "
            "frozen; their activations cannot be reused"
        )
    if not _same_lower(model, memo):
        raise ValueError(
            f"the bottom {memo.depth} layers of {type(model).__name__} differ from "
            "those the memo was made for"
        )
    original = base.forward

    def forward(
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        spans = None
        if (
            input_ids is not None
            and inputs_embeds is None
            and cache is None
            and not use_cache
            and position_ids is None
            and set(kwargs) <= _HARMLESS
            and not kwargs.get("output_attentions")
            and not kwargs.get("output_hidden_states")
        ):
            spans = _spans(input_ids, attention_mask)
        if spans is None:
            memo.stats["bypassed"] += 1
            return original(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                inputs_embeds=inputs_embeds,
                use_cache=use_cache,
                **kwargs,
            )
        assert input_ids is not None  # spans are only found for token ids
        rows = memo.rows(model, input_ids, spans)
        hidden = rows[0].new_zeros((input_ids.shape[0], input_ids.shape[1], rows[0].shape[-1]))
        for i, (row, (a, b)) in enumerate(zip(rows, spans, strict=True)):
            hidden[i, a:b] = row
        positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        mask = adapter.causal_mask(hidden, positions, attention_mask)
        return adapter.output(run_upper(model, hidden, memo.depth, mask, positions))

    with patched(base, "forward", forward):
        yield memo
