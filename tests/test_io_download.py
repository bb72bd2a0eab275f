"""Atomic writes, resumable verified downloads and the simple-index resolver, on loopback."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from progalign.download import fetch
from progalign.errors import DownloadError
from progalign.io import atomic_dir, read_json, write_json
from progalign.pypi import PinnedDist, fetch_dist, resolve

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    ranges: ClassVar[list[str | None]] = []
    cut_after: int | None = None  # drop the connection after N bytes (first request only)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        header = self.headers.get("Range")
        type(self).ranges.append(header)
        start = int(header.split("=")[1].rstrip("-")) if header else 0
        self.send_response(206 if header else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[start : start + cut])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body[start:])


@pytest.fixture()
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"files": {}, "ranges": [], "cut_after": None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_atomic_write_failure_keeps_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        write_json(target, {"v": object()})  # not serialisable: fails mid-write
    assert read_json(target) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_dir_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_fetch_resumes_after_a_dropped_connection(server, tmp_path: Path) -> None:
    url, handler = server
    handler.files["/f.bin"] = PAYLOAD
    handler.cut_after = 30_000
    dest = tmp_path / "f.bin"
    fetch(f"{url}/f.bin", dest, SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and not dest.with_name("f.bin.part").exists()
    assert handler.ranges == [None, "bytes=30000-"]  # the second request resumed


def test_fetch_resumes_a_part_left_by_a_killed_process(server, tmp_path: Path) -> None:
    url, handler = server
    handler.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(PAYLOAD[:50_000])
    fetch(f"{url}/f.bin", dest, SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and handler.ranges == ["bytes=50000-"]


def test_corrupted_file_is_refetched_then_rejected_and_never_used(server, tmp_path: Path) -> None:
    url, handler = server
    handler.files["/f.bin"] = PAYLOAD[:-1] + b"\x00"  # one bit-flipped byte
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="does not match the pinned sha256"):
        fetch(f"{url}/f.bin", dest, SHA, progress=False)
    assert not dest.exists() and not dest.with_name("f.bin.part").exists()
    assert handler.ranges == [None, None]  # fetched twice, from scratch


def test_offline_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch("http://127.0.0.1:9/f.bin", tmp_path / "f", SHA, progress=False)


def test_simple_index_resolution_and_pin_mismatch(server, tmp_path, monkeypatch) -> None:
    url, handler = server
    wheel = "demo-1.0-py3-none-any.whl"
    handler.files["/simple/demo-pkg/"] = (
        f'<a href="../../files/{wheel}#sha256={SHA}">{wheel}</a>'.encode()
    )
    handler.files[f"/files/{wheel}"] = PAYLOAD
    monkeypatch.setenv("PROGALIGN_PYPI_INDEX", f"{url}/simple")
    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    dist = PinnedDist("Demo_Pkg", wheel, SHA)
    assert resolve(dist) == f"{url}/files/{wheel}"
    assert fetch_dist(dist, progress=False).read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="advertised with sha256"):
        resolve(PinnedDist("demo-pkg", wheel, "0" * 64))
    with pytest.raises(DownloadError, match="no file"):
        resolve(PinnedDist("demo-pkg", "other.whl", SHA))


def test_sha256_file_is_recomputed_when_the_file_changes(tmp_path: Path) -> None:
    from progalign.io import sha256_file

    path = tmp_path / "weights.bin"
    path.write_bytes(b"first version")
    assert sha256_file(path) == hashlib.sha256(b"first version").hexdigest()
    assert sha256_file(path) == hashlib.sha256(b"first version").hexdigest()  # kept
    path.write_bytes(b"second")  # other size
    assert sha256_file(path) == hashlib.sha256(b"second").hexdigest()
    stat = path.stat()
    path.write_bytes(b"secont")  # same size: the modification time tells
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert sha256_file(path) == hashlib.sha256(b"secont").hexdigest()
    replacement = tmp_path / "new.bin"
    replacement.write_bytes(b"replaced")
    os.replace(replacement, path)  # a new inode under the old name
    assert sha256_file(path) == hashlib.sha256(b"replaced").hexdigest()


def test_remembered_digests_serve_later_processes_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from progalign import io

    monkeypatch.setenv("PROGALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(io, "REMEMBER_MIN_BYTES", 0)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    real = hashlib.sha256(b"weights").hexdigest()
    assert io.sha256_file(path, remember=True) == real
    [record] = (tmp_path / "cache" / "file-digests").rglob("*.json")
    saved = json.loads(record.read_text())
    saved["sha256"] = "0" * 64  # what a later process would read instead of hashing
    record.write_text(json.dumps(saved))
    io._FILE_DIGESTS.clear()  # a new process
    assert io.sha256_file(path, remember=True) == "0" * 64
    assert io.sha256_file(path) == "0" * 64  # same process: kept in memory
    io._FILE_DIGESTS.clear()
    assert io.sha256_file(path) == real  # without remember: always hashed
    io._FILE_DIGESTS.clear()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # "rewritten"
    assert io.sha256_file(path, remember=True) == real
