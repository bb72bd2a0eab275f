"""Fetch pinned distribution files from a PEP 503 "simple" package index.

Only the simple index is used (it is what pip uses and what mirrors serve). The index URL is
``$PROGALIGN_PYPI_INDEX`` or ``https://pypi.org/simple``; tests point it at a local server.
"""

from __future__ import annotations

import html.parser
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from progalign.download import cache_dir, fetch
from progalign.errors import DownloadError

DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class PinnedDist:
    """A distribution file pinned by project, file name and sha256."""

    project: str
    filename: str
    sha256: str


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def index_url() -> str:
    """Return the simple index in use."""
    return os.environ.get("PROGALIGN_PYPI_INDEX", DEFAULT_INDEX).rstrip("/")


def resolve(dist: PinnedDist) -> str:
    """Find the download URL of ``dist`` on the simple index.

    Raises:
        DownloadError: the project page cannot be read, lacks the file, or advertises a
            different sha256 than the pin.
    """
    from urllib.request import urlopen

    normalized = re.sub(r"[-_.]+", "-", dist.project).lower()
    page = f"{index_url()}/{normalized}/"
    try:
        with urlopen(page, timeout=60) as response:
            text = response.read().decode("utf-8", "replace")
    except OSError as exc:
        raise DownloadError(
            f"{page}: cannot read the package index ({getattr(exc, 'reason', exc)}). "
            "Offline? Set PROGALIGN_PYPI_INDEX to a reachable mirror or PROGALIGN_CACHE to a "
            "cache that already holds " + dist.filename
        ) from None
    parser = _Links()
    parser.feed(text)
    href = parser.links.get(dist.filename)
    if href is None:
        raise DownloadError(f"{page}: no file {dist.filename}")
    url = urllib.parse.urljoin(page, href)
    fragment = urllib.parse.urlparse(url).fragment
    if fragment.startswith("sha256=") and fragment[7:] != dist.sha256:
        raise DownloadError(
            f"{page}: {dist.filename} is advertised with sha256 {fragment[7:]}, "
            f"but progalign pins {dist.sha256}"
        )
    return url.split("#")[0]


def fetch_dist(dist: PinnedDist, progress: bool = True) -> Path:
    """Return a verified local copy of ``dist`` (cached under ``cache_dir()/pypi``)."""
    dest = cache_dir() / "pypi" / dist.filename
    if dest.exists():
        from progalign.io import sha256_file

        if sha256_file(dest) == dist.sha256:
            return dest
    return fetch(resolve(dist), dest, dist.sha256, progress=progress)
