# Container images (docs/containers.md): each job runs in CPU_IMAGE, or GPU_IMAGE where its
# directive says so. Only pinned references are accepted, never a floating tag:
#   scheme://name@sha256:<64 hex>   (docker://, oras://, ...: apptainer pulls it by digest)
#   path/to/image.sif               with a recorded sha256, checked before a containerised run
# Source, per target (cpu, gpu): config `containers: {cpu: ..., cpu_sha256: ...}`, else the `ref`
# (and `sif_sha256`) that scripts/build-images.sh recorded in containers/images.lock.yaml.
# Without --sdm apptainer the directive is ignored and nothing here is checked beyond the form.
import hashlib
import re
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod

_CONTAINERS = config.get("containers") or {}
_IMAGES_LOCK = Path(workflow.basedir) / (
    _CONTAINERS.get("lock") or "containers/images.lock.yaml"
)
_DIGEST_REF = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]+@sha256:[0-9a-f]{64}$")
_IN_CONTAINERS = (
    DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method
)


def _lock_entries():
    if not _IMAGES_LOCK.is_file():
        return {}
    try:
        return yaml.safe_load(_IMAGES_LOCK.read_text()) or {}
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{_IMAGES_LOCK}: not valid YAML ({exc})") from None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_image(target):
    """The pinned image reference of `target` (cpu or gpu), or None when none is recorded."""
    entry = _lock_entries().get(target) or {}
    ref = _CONTAINERS.get(target) or entry.get("ref")
    where = (
        f"config containers.{target}" if _CONTAINERS.get(target) else str(_IMAGES_LOCK)
    )
    if not ref:
        if _IN_CONTAINERS:
            logger.warning(
                f"No pinned {target} image (config containers.{target} or {_IMAGES_LOCK}): "
                f"rules with container: {target.upper()}_IMAGE run on the host. "
                f"Build one with scripts/build-images.sh {target}."
            )
        return None
    if _DIGEST_REF.match(ref):
        return ref
    if "://" in ref or not ref.endswith(".sif"):
        raise WorkflowError(
            f"{where}: container image {ref!r} is not pinned; use scheme://name@sha256:<digest>"
            " or a .sif file with a recorded sha256 (docs/containers.md)"
        )
    expected = _CONTAINERS.get(f"{target}_sha256") or entry.get("sif_sha256")
    if not expected:
        raise WorkflowError(
            f"{where}: {ref} has no recorded sha256 (containers.{target}_sha256 or sif_sha256)"
        )
    if _IN_CONTAINERS:
        if not Path(ref).is_file():
            raise WorkflowError(
                f"{where}: {ref} does not exist; build it with scripts/build-images.sh --sif"
            )
        if _sha256(ref) != expected:
            raise WorkflowError(
                f"{where}: sha256 of {ref} differs from the recorded {expected}"
            )
    return ref


CPU_IMAGE = pinned_image("cpu")
GPU_IMAGE = pinned_image("gpu")
