"""Architecture adapters: where a decoder keeps its embeddings, layers, rotary position
embeddings, final norm, causal mask and key/value cache.

Everything in :mod:`progalign.lowerlayers` that runs part of a model goes through the adapter of
its architecture, so the engine never guesses at another model's internals: an architecture
without an adapter gets a :class:`~progalign.errors.SettingError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from progalign.errors import SettingError


class LlamaAdapter:
    """Llama-style decoders (``LlamaModel`` backbones: causal LMs and sequence classifiers).

    The backbone holds ``embed_tokens``, ``layers``, ``rotary_emb`` (RoPE, rotate-half
    convention) and ``norm``; each decoder layer takes ``position_embeddings``, an attention
    mask (boolean or additive) and optionally a ``DynamicCache``.
    """

    model_types = ("llama",)

    def __init__(self, model: Any) -> None:
        self.model = model
        self.base = model.base_model
        layers = getattr(self.base, "layers", None)
        if layers is None:
            raise SettingError(f"{type(model).__name__} has no decoder layer list")
        self.layers = layers

    @property
    def backbone(self) -> str:
        """Name of the backbone class (shared by a causal LM and a reward model made from it)."""
        return type(self.base).__name__

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of a (batch × length) tensor of token ids."""
        return self.model.get_input_embeddings()(ids)

    def embed_row(self, tokens: Sequence[int], device: torch.device) -> torch.Tensor:
        """Input embeddings of one row of token ids (1 × length × hidden)."""
        return self.embed(torch.tensor([list(tokens)], device=device))

    def rotary(self, hidden: torch.Tensor, positions: torch.Tensor) -> Any:
        """The rotary position embeddings (cos, sin) at ``positions``."""
        return self.base.rotary_emb(hidden, position_ids=positions)

    def causal_mask(
        self,
        hidden: torch.Tensor,
        positions: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> Any:
        """The library's causal mask over ``hidden`` (with ``attention_mask``'s padding)."""
        from transformers.masking_utils import create_causal_mask

        return create_causal_mask(
            config=self.base.config,
            inputs_embeds=hidden,
            attention_mask=attention_mask,
            cache=None,
            position_ids=positions,
        )

    def run(
        self,
        hidden: torch.Tensor,
        layers: slice,
        mask: Any,
        rotary: Any,
        positions: torch.Tensor,
        cache: Any = None,
    ) -> torch.Tensor:
        """Decoder layers ``layers`` on ``hidden``; with ``cache`` their keys and values are
        appended to it."""
        extra = {} if cache is None else {"cache": cache, "use_cache": True}
        for layer in self.layers[layers]:
            hidden = layer(
                hidden,
                attention_mask=mask,
                position_embeddings=rotary,
                position_ids=positions,
                **extra,
            )
        return hidden

    def norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """The final norm."""
        return self.base.norm(hidden)

    def output(self, hidden: torch.Tensor) -> Any:
        """What the backbone's own forward returns for final hidden states ``hidden``."""
        from transformers.modeling_outputs import BaseModelOutputWithPast

        return BaseModelOutputWithPast(last_hidden_state=hidden)

    def new_cache(self, kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> Any:
        """An empty ``DynamicCache``, or one holding ``kv`` in its first ``len(kv)`` layers
        (new keys and values are concatenated into new tensors, never written into ``kv``)."""
        from transformers import DynamicCache

        if kv is None:
            return DynamicCache(config=self.model.config)
        return DynamicCache(ddp_cache_data=kv, config=self.model.config)

    @staticmethod
    def cache_kv(cache: Any, layers: slice) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (keys, values) tensors a cache holds for ``layers``."""
        return [(layer.keys, layer.values) for layer in cache.layers[layers]]

    def shift_keys(
        self, kv: list[tuple[torch.Tensor, torch.Tensor]], offset: int
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys computed at positions ``0..`` moved to ``offset..`` (values do not move):
        RoPE rotations compose, so this is exact in real arithmetic."""
        if offset == 0:
            return kv
        keys = kv[0][0]
        probe = torch.zeros((1, 1, keys.shape[-1]), dtype=keys.dtype, device=keys.device)
        cos, sin = self.base.rotary_emb(
            probe, position_ids=torch.tensor([[offset]], device=keys.device)
        )
        cos, sin = cos[:, None], sin[:, None]  # broadcast over heads and positions
        return [(k * cos + _rotate_half(k) * sin, v) for k, v in kv]

    def lower_tensors(self, depth: int) -> list[torch.Tensor]:
        """The embeddings and the first ``depth`` decoder layers' parameters, in order."""
        return [
            self.model.get_input_embeddings().weight,
            *(p for layer in self.layers[:depth] for p in layer.parameters()),
        ]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


#: One adapter per supported ``config.model_type``.
ADAPTERS: dict[str, type[LlamaAdapter]] = {t: LlamaAdapter for t in LlamaAdapter.model_types}


def model_type(model: Any) -> str | None:
    """``model.config.model_type`` (None if the model has no such field)."""
    return getattr(getattr(model, "config", None), "model_type", None)


def supported(model: Any) -> bool:
    """Whether the lower-layer engine has an adapter for ``model``'s architecture."""
    return model_type(model) in ADAPTERS


def adapter_for(model: Any) -> LlamaAdapter:
    """The adapter of ``model``'s architecture.

    Raises:
        SettingError: no adapter for it (naming the architecture and the supported ones).
    """
    kind = model_type(model)
    adapter = ADAPTERS.get(kind or "")
    if adapter is None:
        raise SettingError(
            f"shared lower layers (lower_cache_layers, top_k_layers reuse) support "
            f"{', '.join(sorted(ADAPTERS))} models; {type(model).__name__} is a {kind!r} model"
        )
    return adapter(model)
