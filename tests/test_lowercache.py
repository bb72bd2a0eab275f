"""Scoring from cached lower-layer activations equals full forwards, and the cache is shared
exactly by models whose lower layers are equal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from progalign.backends.base import LLRequest
from progalign.backends.hf import HFBackend
from progalign.lowerlayers import fingerprint

REQUESTS = [
    LLRequest("The weather today is", (" sunny", " very cold and wet")),
    LLRequest("Which do you prefer? A. tea B. coffee. Answer:", (" A. tea", " B. coffee")),
    LLRequest("One two three", (" four", " five six", " seven", " eight nine ten")),
]


def _scores(backend: HFBackend) -> list[list[float]]:
    return [[s.logprob for s in row] for row in backend.loglikelihood(REQUESTS)]


def _naive(backend: HFBackend) -> list[list[float]]:
    return [[s.logprob for s in row] for row in backend.loglikelihood_naive(REQUESTS)]


def _with_new_top(src: Path, dst: Path, seed: int) -> Path:
    """A copy of ``src`` whose top decoder layer is re-randomised (lower layers unchanged)."""
    from transformers import AutoModelForCausalLM

    shutil.copytree(src, dst)
    model = AutoModelForCausalLM.from_pretrained(dst)
    torch.manual_seed(seed)
    for p in model.model.layers[-1].parameters():
        p.data.normal_(0, 0.05)
    model.save_pretrained(dst)
    return dst


def test_cached_scores_equal_full_forward_and_are_reused(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    cached = HFBackend(str(tiny_model), lower_cache_layers=2, batch_size=2)
    first = _scores(cached)
    reference = _naive(cached)
    for row, ref in zip(first, reference, strict=True):
        assert row == pytest.approx(ref, abs=1e-4)
    store = tmp_path / "cache" / "lower-activations"
    entries = sorted(store.rglob("*.safetensors"))
    assert len(entries) == len(REQUESTS)  # one packed row per prompt and its options
    mtimes = [p.stat().st_mtime_ns for p in entries]
    # same batch size as the first backend, so the padded shapes (and floats) are the same
    assert _scores(HFBackend(str(tiny_model), lower_cache_layers=2, batch_size=2)) == first
    assert [p.stat().st_mtime_ns for p in entries] == mtimes


def test_models_sharing_lower_layers_share_the_cache(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    other = _with_new_top(tiny_model, tmp_path / "other", seed=1)
    base = HFBackend(str(tiny_model), lower_cache_layers=3)
    variant = HFBackend(str(other), lower_cache_layers=3)
    assert fingerprint(base.model, 3) == fingerprint(variant.model, 3)
    # depth 4 would include the changed layer: another fingerprint, never a wrong reuse
    with pytest.raises(ValueError):
        fingerprint(base.model, 4)
    _scores(base)
    got = _scores(variant)
    for row, ref in zip(got, _naive(variant), strict=True):
        assert row == pytest.approx(ref, abs=1e-4)
    assert got != _scores(base)


def test_damaged_entry_is_recomputed(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    backend = HFBackend(str(tiny_model), lower_cache_layers=2)
    first = _scores(backend)
    for entry in (tmp_path / "cache").rglob("*.safetensors"):
        entry.write_bytes(b"garbage")
    assert _scores(HFBackend(str(tiny_model), lower_cache_layers=2)) == first


def test_packed_rows_equal_one_piece_rows(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    from progalign.lowerlayers import lower_packed, lower_row

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float64).eval()
    cpu = torch.device("cpu")
    context, conts = [5, 9, 2, 7, 11, 3], [[4], [8, 1, 6], [12, 13]]
    packed = lower_packed(model, context, conts, 2, cpu)
    assert packed.shape[0] == len(context) + sum(map(len, conts))
    offset = len(context)
    for cont in conts:
        whole = lower_row(model, [*context, *cont], 2, cpu)
        assert torch.allclose(packed[: len(context)], whole[: len(context)], atol=1e-10)
        got = packed[offset : offset + len(cont)]
        assert torch.allclose(got, whole[len(context) :], atol=1e-10)  # float64: exact split
        offset += len(cont)
    assert torch.equal(lower_packed(model, context, conts, 2, cpu), packed)  # deterministic


def test_concurrent_writers_of_one_entry_all_succeed(tmp_path: Path) -> None:
    import threading

    from progalign.lowerlayers import LowerStore

    store, key = LowerStore(tmp_path / "store"), (1, 2, 3)
    value = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(20):
                store.put(key, value)
        except BaseException as exc:  # collected: the test fails below, naming it
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    got = store.get(key)
    assert got is not None and torch.equal(got, value)
    assert [p.name for p in (tmp_path / "store").rglob("*") if p.is_file()] == [
        store.path(key).name
    ]  # no temporary file left


SHARED = "System: answer the question below honestly and briefly. Question: which is better,"
PREFIXED = [
    LLRequest(f"{SHARED} A. tea or B. coffee? Answer:", (" A. tea", " B. coffee")),
    LLRequest(f"{SHARED} A. coffee or B. tea? Answer:", (" A. coffee", " B. tea", " neither")),
    LLRequest(f"{SHARED} walking or running? Answer:", (" walking",)),
    LLRequest("An unrelated context", (" one", " two three")),
]


def test_shared_prefix_in_upper_layers_equals_full_forward(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's common prefix goes through the upper layers once; every score still equals
    one full forward per (context, option), in float64 to 1e-9, with and without sharing."""
    from progalign.backends import lowercache

    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    passes: list[int] = []
    original = lowercache.upper_prefix_kv

    def counting(model: object, hidden: torch.Tensor, depth: int, device: torch.device) -> object:
        passes.append(hidden.shape[0])
        return original(model, hidden, depth, device)  # type: ignore[arg-type]

    monkeypatch.setattr(lowercache, "upper_prefix_kv", counting)
    shared = HFBackend(str(tiny_model), lower_cache_layers=2, batch_size=3, dtype="float64")
    questions = PREFIXED[:3]
    got = [[s.logprob for s in row] for row in shared.loglikelihood(questions)]
    contexts = [shared.tokenize_request(r).context for r in questions]
    common = next(i for i, (a, b, c) in enumerate(zip(*contexts, strict=False)) if not a == b == c)
    assert passes == [common]  # one batch, one pass over exactly the common prefix
    naive = [[s.logprob for s in row] for row in shared.loglikelihood_naive(questions)]
    for row, ref in zip(got, naive, strict=True):
        assert row == pytest.approx(ref, abs=1e-9)

    # Mixed batches (with and without a long common prefix), and sharing turned off.
    for share in (True, False):
        passes.clear()
        backend = HFBackend(
            str(tiny_model), lower_cache_layers=2, batch_size=2, dtype="float64", share_prefix=share
        )
        got = [[s.logprob for s in row] for row in backend.loglikelihood(PREFIXED)]
        naive = [[s.logprob for s in row] for row in backend.loglikelihood_naive(PREFIXED)]
        for row, ref in zip(got, naive, strict=True):
            assert row == pytest.approx(ref, abs=1e-9)
        assert bool(passes) == share
