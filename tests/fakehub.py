"""A local stand-in for the Hugging Face Hub, for the tests (imported as ``fakehub``).

It serves, on ``127.0.0.1`` with a random port, the endpoints that ``huggingface_hub`` (and
``progalign.hub``) use to list and fetch the files of a repository at a commit:

- ``GET /api/{models,datasets}/{ns}/{name}[/revision/{rev}][?blobs=true]``: repo info with ``sha``
  and ``siblings`` (``rfilename``, ``size``, ``blobId``, and ``lfs`` {``sha256``, ``size``,
  ``pointerSize``} for LFS files). Unknown repos and revisions answer 404 with the
  ``X-Error-Code`` (``RepoNotFound``/``RevisionNotFound``) the Hub sends.
- ``HEAD``/``GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}``: a small (git) file answers 200 with
  ``X-Repo-Commit``, ``ETag`` (git blob sha1) and ``Content-Length``; an LFS file answers 302 with
  ``X-Repo-Commit``, ``X-Linked-Etag`` (its sha256), ``X-Linked-Size`` and a ``Location`` on a
  second origin (the "CDN", another port), as the Hub does.
- ``HEAD``/``GET /cdn/{sha256}`` on the CDN origin, with ``Range`` support (206 and
  ``Content-Range``).

Faults can be injected per file path: drop the connection after N bytes, stall after N bytes until
:meth:`FakeHub.release`, or serve corrupted bytes (same length) a number of times. Every request is
logged in :attr:`FakeHub.log` with its ``Range`` and ``Authorization`` headers and the number of
body bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+?)(?:/revision/([^/]+))?$")
_RESOLVE = re.compile(r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_CDN = re.compile(r"^/cdn/([0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def git_blob_sha1(data: bytes) -> str:
    """Return the git object id of a blob with content ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeRepo:
    """One repository served by :class:`FakeHub`.

    Attributes:
        repo_id: ``namespace/name``.
        repo_type: ``"model"`` or ``"dataset"``.
        commit: The 40-hex commit every file belongs to.
        files: Repo path -> content.
        lfs: Paths stored with Git LFS (others are plain git blobs). ``None``: every file of at
            least 1 KiB, like the Hub's default ``.gitattributes``.
        branches: Branch or tag name -> commit (``main`` -> ``commit`` by default).
    """

    repo_id: str
    repo_type: str
    commit: str
    files: dict[str, bytes]
    lfs: set[str] | None = None
    branches: dict[str, str] = field(default_factory=dict)

    def is_lfs(self, path: str) -> bool:
        """Whether ``path`` is served as an LFS file."""
        return len(self.files[path]) >= 1024 if self.lfs is None else path in self.lfs

    def resolve(self, revision: str) -> str | None:
        """Map a revision (commit, branch or tag) to the commit, or None if unknown."""
        branches = {"main": self.commit, **self.branches}
        return self.commit if revision == self.commit else branches.get(revision)

    def info(self, revision: str) -> dict[str, Any]:
        """The JSON of ``GET /api/{type}s/{repo}/revision/{rev}?blobs=true``."""
        siblings = []
        for path in sorted(self.files):
            data = self.files[path]
            entry: dict[str, Any] = {"rfilename": path, "size": len(data)}
            entry["blobId"] = git_blob_sha1(data)
            if self.is_lfs(path):
                sha = hashlib.sha256(data).hexdigest()
                entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
            siblings.append(entry)
        return {
            "id": self.repo_id,
            "sha": self.resolve(revision),
            "private": False,
            "siblings": siblings,
        }


@dataclass
class Faults:
    """Faults injected per repo path (counts are decremented as they fire)."""

    drop_after: dict[str, int] = field(default_factory=dict)
    drop_times: dict[str, int] = field(default_factory=dict)
    stall_after: dict[str, int] = field(default_factory=dict)
    corrupt_times: dict[str, int] = field(default_factory=dict)


class FakeHub:
    """A threaded local HTTP server emulating the Hub (see the module docstring).

    Use as a context manager; :attr:`endpoint` is the value for ``HF_ENDPOINT``/``endpoint=``.
    """

    def __init__(self, repos: list[FakeRepo]) -> None:
        self.repos = {(r.repo_type, r.repo_id): r for r in repos}
        self.blobs = {
            hashlib.sha256(data).hexdigest(): (repo, path)
            for repo in repos
            for path, data in repo.files.items()
        }
        self.faults = Faults()
        self.log: list[dict[str, Any]] = []
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        """Base URL of the Hub origin."""
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        """Base URL of the CDN origin that LFS files redirect to."""
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> FakeHub:
        """Start serving in background threads."""
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close the listening sockets (the port then refuses connections)."""
        self._released.set()
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def release(self) -> None:
        """Let stalled responses finish (they drop the connection)."""
        self._released.set()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        """Logged requests, filtered by method and a substring of the path."""
        return [
            r
            for r in self.log
            if (method is None or r["method"] == method) and contains in r["path"]
        ]

    def take(self, table: dict[str, int], path: str) -> bool:
        """Consume one occurrence of a counted fault for ``path``."""
        with self._lock:
            left = table.get(path, 0)
            if left > 0:
                table[path] = left - 1
                return True
            return False


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_HEAD(self) -> None:
            self._route(body=False)

        def do_GET(self) -> None:
            self._route(body=True)

        def _route(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            entry = {
                "method": self.command,
                "path": path,
                "port": getattr(self.server, "server_port", None),
                "range": self.headers.get("Range"),
                "authorization": self.headers.get("Authorization"),
                "sent": 0,
                "status": None,
            }
            hub.log.append(entry)
            if (m := _API.match(path)) and body:
                self._api(entry, m.group(1)[:-1], m.group(2), m.group(3) or "main")
            elif m := _RESOLVE.match(path):
                kind = "dataset" if m.group(1) else "model"
                self._resolve(entry, kind, m.group(2), m.group(3), m.group(4), body)
            elif m := _CDN.match(path):
                self._cdn(entry, m.group(1), body)
            else:
                self._reply(entry, 404, {"X-Error-Code": "EntryNotFound"})

        def _reply(
            self,
            entry: dict[str, Any],
            status: int,
            headers: dict[str, str],
            data: bytes = b"",
            body: bool = True,
        ) -> None:
            entry["status"] = status
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and data:
                self.wfile.write(data)
                entry["sent"] = len(data)

        def _api(self, entry: dict[str, Any], kind: str, repo_id: str, rev: str) -> None:
            repo = hub.repos.get((kind, repo_id))
            if repo is None:
                self._reply(entry, 404, {"X-Error-Code": "RepoNotFound"}, b'{"error":"nope"}')
            elif repo.resolve(rev) is None:
                self._reply(
                    entry, 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error":"Invalid rev id"}'
                )
            else:
                data = json.dumps(repo.info(rev)).encode()
                self._reply(entry, 200, {"Content-Type": "application/json"}, data)

        def _resolve(
            self, entry: dict[str, Any], kind: str, repo_id: str, rev: str, path: str, body: bool
        ) -> None:
            repo = hub.repos.get((kind, repo_id))
            commit = repo.resolve(rev) if repo else None
            if repo is None:
                self._reply(entry, 404, {"X-Error-Code": "RepoNotFound"}, body=body)
            elif commit is None:
                self._reply(entry, 404, {"X-Error-Code": "RevisionNotFound"}, body=body)
            elif path not in repo.files:
                self._reply(
                    entry,
                    404,
                    {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit},
                    body=body,
                )
            elif repo.is_lfs(path):
                data = repo.files[path]
                sha = hashlib.sha256(data).hexdigest()
                self._reply(
                    entry,
                    302,
                    {
                        "X-Repo-Commit": commit,
                        "X-Linked-Etag": f'"{sha}"',
                        "X-Linked-Size": str(len(data)),
                        "Location": f"{hub.cdn}/cdn/{sha}",
                        "Content-Length": "0",
                    },
                    body=body,
                )
            else:
                extra = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(repo.files[path])}"'}
                self._content(entry, path, repo.files[path], extra, body)

        def _cdn(self, entry: dict[str, Any], sha: str, body: bool) -> None:
            if sha not in hub.blobs:
                self._reply(entry, 404, {}, body=body)
                return
            repo, path = hub.blobs[sha]
            self._content(entry, path, repo.files[path], {"ETag": f'"{sha}"'}, body)

        def _content(
            self, entry: dict[str, Any], path: str, data: bytes, headers: dict[str, str], body: bool
        ) -> None:
            start, status = 0, 200
            if (rng := self.headers.get("Range")) and (m := _RANGE.match(rng)):
                start, status = int(m.group(1)), 206
                if start >= len(data):
                    self._reply(entry, 416, {"Content-Range": f"bytes */{len(data)}"})
                    return
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            headers = {
                **headers,
                "Accept-Ranges": "bytes",
                "Content-Length": str(len(data) - start),
                "Content-Type": "application/octet-stream",
            }
            if not body:
                self._reply(entry, status, headers, body=False)
                return
            if hub.take(hub.faults.corrupt_times, path):
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            payload = data[start:]
            cut = None
            if path in hub.faults.drop_after and hub.take(hub.faults.drop_times, path):
                cut = hub.faults.drop_after[path]
            stall = hub.faults.stall_after.pop(path, None)
            if stall is not None:
                cut = stall
            self._reply(entry, status, headers, body=False)
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            entry["sent"] = len(payload[:cut])
            if stall is not None:
                hub._released.wait(60)
            if cut is not None:
                self.close_connection = True

    return Handler
