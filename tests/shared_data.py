"""Where the read-only ProgressGym item files are (``../shared/data`` beside the checkout)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def _data_dir() -> Path | None:
    here = Path(__file__).resolve()
    for base in (here.parents[1], here.parents[2]):
        candidate = base / "shared" / "data" / "progressgym-moral-evals"
        if candidate.is_dir():
            return candidate
    return None


DATA = _data_dir()
needs_data = pytest.mark.skipif(
    DATA is None,
    reason="../shared/data/progressgym-moral-evals (the real upstream items) is absent",
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def mirror_tree(root: Path) -> Path:
    """Lay out the upstream files of ../shared/data as in the repository at 871e2bd."""
    from progalign.questionnaire.fetch import GITHUB_PINS

    assert DATA is not None
    evaluation = root / "src" / "evaluation"
    for rel in GITHUB_PINS:
        target = evaluation / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / rel.removeprefix("assets/data/"), target)
    return root
