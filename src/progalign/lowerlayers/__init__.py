"""The lower-layer engine: shared bottom layers of a model family computed once
(docs/semantics.md#shared-lower-layers, docs/performance.md#the-lower-layer-engine).

Everything outside this package uses the names below and nothing else:

* architectures: :func:`adapter_for` (a :class:`SettingError` naming an unsupported one),
  :func:`supported`, :class:`LlamaAdapter`;
* layers: :func:`lower_hidden`, :func:`upper_hidden`, :func:`lower_row`, :func:`lower_packed`,
  :func:`run_upper`, :func:`upper_prefix_kv`, :func:`upper_prefix_cache`, :func:`shared_depth`,
  :func:`n_layers`;
* masks: :mod:`progalign.lowerlayers.masks`;
* fingerprint and store: :func:`fingerprint`, :func:`row_key`, :func:`packed_key`,
  :class:`LowerStore`, :func:`store_for`;
* the training memo: :class:`LowerMemo`, :func:`memo_for`, :func:`training_memo`,
  :func:`frozen_depth`, :func:`enabled`, and the patch :func:`memo_forward`;
* the prefill: :class:`PromptState`, :func:`encode_prompt`, :func:`extend`, and the patch
  :func:`prefilled_generate`;
* the TRL patch :func:`trl_scores_labelled_positions_only`.

Each patch is a context manager that restores the original on every path out of it.
"""

from __future__ import annotations

import progalign.lowerlayers.masks as masks
from progalign.lowerlayers.adapters import LlamaAdapter, adapter_for, supported
from progalign.lowerlayers.layers import (
    lower_hidden,
    lower_packed,
    lower_row,
    n_layers,
    run_upper,
    shared_depth,
    upper_hidden,
    upper_prefix_cache,
    upper_prefix_kv,
)
from progalign.lowerlayers.memo import (
    LowerMemo,
    enabled,
    frozen_depth,
    memo_for,
    memo_forward,
    training_memo,
)
from progalign.lowerlayers.patches import trl_scores_labelled_positions_only
from progalign.lowerlayers.prefill import PromptState, encode_prompt, extend, prefilled_generate
from progalign.lowerlayers.store import (
    SPLIT,
    LowerStore,
    fingerprint,
    packed_key,
    row_key,
    store_for,
)

__all__ = [
    "SPLIT",
    "LlamaAdapter",
    "LowerMemo",
    "LowerStore",
    "PromptState",
    "adapter_for",
    "enabled",
    "encode_prompt",
    "extend",
    "fingerprint",
    "frozen_depth",
    "lower_hidden",
    "lower_packed",
    "lower_row",
    "masks",
    "memo_for",
    "memo_forward",
    "n_layers",
    "packed_key",
    "prefilled_generate",
    "row_key",
    "run_upper",
    "shared_depth",
    "store_for",
    "supported",
    "training_memo",
    "trl_scores_labelled_positions_only",
    "upper_hidden",
    "upper_prefix_cache",
    "upper_prefix_kv",
]
