"""Atomic file writes and small JSON/JSONL helpers.

Every output of progalign goes through these functions: content is written to a temporary file
in the target's own directory and moved into place with ``os.replace``, so a killed process never
leaves a file that looks complete, and a failed write keeps the target's old content.

Folders are built in a hidden sibling, ``.<name>.<id>.tmp`` (:func:`atomic_dir`), next to an
optional private scratch folder ``.<name>.<id>.scratch`` (:func:`scratch_dir`). Each is owned by
the process that holds a lock on ``.<name>.<id>.owner`` beside it. A killed job leaves them
behind; the next job for the same target removes every one whose owner lock is free before it
starts (:func:`remove_stale_siblings`), and never touches those of a live job or of another target.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Return the download cache root (``$PROGALIGN_CACHE`` or ``$XDG_CACHE_HOME/progalign``).

    Also importable from :mod:`progalign.download`; it lives here so that ``io`` (the lowest
    layer) needs nothing from ``download``.
    """
    if env := os.environ.get("PROGALIGN_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "progalign"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; move it onto ``path`` on success.

    Args:
        path: The final file path.
        mode: ``"w"`` (text, UTF-8) or ``"wb"``.

    Yields:
        A writable file object. On any exception the temporary file is removed and ``path`` is
        left untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', not {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented, key-sorted JSON (stable bytes for equal content)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write one compact JSON object per line. Returns the number of rows."""
    count = 0
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file into a list of dicts (blank lines ignored).

    Raises:
        InputError: naming the file and line when a line is not a JSON object.
    """
    from progalign.errors import InputError

    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(str(path), f"invalid JSON: {exc.msg}", row=number) from None
            if not isinstance(row, dict):
                raise InputError(str(path), "expected a JSON object", row=number)
            rows.append(row)
    return rows


#: Owner files this process holds (POSIX-lock file systems such as NFS, where ``flock`` is
#: emulated with ``fcntl`` locks, do not make a process's own locks conflict with each other).
_HELD: set[str] = set()
_KINDS = ("tmp", "scratch", "old")


def _sibling_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(target.name)}\.([0-9a-f]{{12}})\.(tmp|scratch|old|owner)$")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_siblings(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the hidden build and scratch folders that killed jobs left beside ``target``.

    A folder ``.<name>.<id>.{tmp,scratch,old}`` is stale when nobody holds the lock on its
    ``.<name>.<id>.owner`` (a process's locks go when it dies, however it dies). Folders of live
    jobs, of this process, and of other targets (other names) are left alone, and so are
    ``atomic_open``'s temporary files (a concurrent writer of the same file may own one) and the
    ``mkdtemp`` folders of earlier versions (``.<name>.<8 characters>.tmp``, no owner file).
    Errors only mean less is cleaned.

    Returns:
        The paths removed.
    """
    target = Path(target)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no owner locks to test
        return []
    pattern = _sibling_pattern(target)
    try:
        names = [entry.name for entry in os.scandir(target.parent)]
    except OSError:
        return []
    ids = {m[1] for name in names if (m := pattern.match(name))}
    removed: list[Path] = []
    for ident in sorted(ids):
        owner = target.with_name(f".{target.name}.{ident}.owner")
        if str(owner) in _HELD:
            continue
        try:
            fd = os.open(owner, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(owner).st_ino != os.fstat(fd).st_ino:  # replaced meanwhile: not ours
                continue
            for kind in _KINDS:
                path = target.with_name(f".{target.name}.{ident}.{kind}")
                if path.exists() or path.is_symlink():
                    _remove(path)
                    removed.append(path)
            os.unlink(owner)
        except OSError:  # held by a live job (or no locks here): leave it
            continue
        finally:
            os.close(fd)
    if removed:
        log.info(
            "removed %d folder(s) left by a killed job for %s: %s",
            len(removed),
            target,
            ", ".join(p.name for p in removed),
        )
    return removed


@contextlib.contextmanager
def _owned_sibling(target: Path) -> Iterator[str]:
    """Create and lock ``.<name>.<id>.owner`` beside ``target``; yield ``<id>``; release it.

    Stale siblings of ``target`` are removed first. The caller creates and removes its
    ``.<name>.<id>.<kind>`` folders while this is held, so a folder never lacks its owner file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        fcntl = None  # type: ignore[assignment]
    while True:
        ident = secrets.token_hex(6)
        owner = target.with_name(f".{target.name}.{ident}.owner")
        fd = os.open(owner, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            if fcntl is not None:
                with contextlib.suppress(OSError):  # no locks on this file system: still works
                    fcntl.flock(fd, fcntl.LOCK_EX)
            # another job may have judged the file stale before we locked it and removed it
            if os.stat(owner).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(owner)
            raise
        os.close(fd)
    _HELD.add(str(owner))
    try:
        yield ident
    finally:
        _HELD.discard(str(owner))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(owner)
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it onto ``path`` on success.

    An existing ``path`` is replaced only after the new content is complete. The sibling is
    ``.<name>.<id>.tmp``; what a killed job left there for the same ``path`` is removed first
    (:func:`remove_stale_siblings`).
    """
    target = Path(path)
    with _owned_sibling(target) as ident:
        tmp = target.with_name(f".{target.name}.{ident}.tmp")
        os.mkdir(tmp, 0o777)  # the umask applies, as for any new folder
        try:
            yield tmp
            _move_dir_into_place(tmp, target, target.with_name(f".{target.name}.{ident}.old"))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def scratch_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A private scratch folder ``.<name>.<id>.scratch`` beside ``target``, removed on exit.

    For intermediate files of the job that produces ``target`` (a trainer's checkpoints): on the
    same file system as the output, and removed by the next job for ``target`` if this one is
    killed (:func:`remove_stale_siblings`), unlike a ``tempfile`` folder with a fixed prefix.
    """
    target = Path(target)
    with _owned_sibling(target) as ident:
        scratch = target.with_name(f".{target.name}.{ident}.scratch")
        os.mkdir(scratch, 0o777)
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _move_dir_into_place(tmp: Path, target: Path, old: Path) -> None:
    """``os.replace`` a finished folder onto ``target``, which may exist (or appear meanwhile).

    An existing ``target`` is moved aside to ``old`` first and put back if the second move
    fails, so a failed replace never loses the old content.
    """
    if not (target.exists() or target.is_symlink()):
        try:
            os.replace(tmp, target)
            return
        except OSError as exc:  # another process created target since the check
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


#: sha256 of files already hashed by this process, keyed by what changes when a file does.
_FILE_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}
#: Files at least this large have their digest remembered across processes when asked.
REMEMBER_MIN_BYTES = 16 << 20


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20, remember: bool = False) -> str:
    """Return the hex sha256 of a file.

    A process hashes a file once: the digest is kept under the file's real path, device,
    inode, size and modification time (ns), so a rewritten or replaced file is hashed again.
    With ``remember`` (provenance of model weights, which every job of a run reads), large
    files' digests are also kept under that key in the cache folder (``file-digests/``) for
    later processes; downloads are always verified by hashing.
    """
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if (known := _FILE_DIGESTS.get(key)) is not None:
        return known
    record = _digest_record(key[0]) if remember and stat.st_size >= REMEMBER_MIN_BYTES else None
    if record is not None:
        try:
            saved = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if isinstance(saved, dict) and saved.get("key") == list(key):
            _FILE_DIGESTS[key] = str(saved["sha256"])
            return _FILE_DIGESTS[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    _FILE_DIGESTS[key] = digest.hexdigest()
    if record is not None:
        try:
            with atomic_open(record, "w") as handle:
                json.dump({"key": list(key), "sha256": _FILE_DIGESTS[key]}, handle)
        except OSError:  # a read-only cache only costs the next process a hash
            pass
    return _FILE_DIGESTS[key]


def _digest_record(real_path: str) -> Path:
    name = hashlib.sha256(real_path.encode()).hexdigest()
    return cache_dir() / "file-digests" / name[:2] / f"{name}.json"


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def file_lock(target: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``target`` (other processes that
    produce the same file wait); without POSIX locks only the atomic writes protect it."""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
