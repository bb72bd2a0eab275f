"""Fetch the pinned ProgressGym question sets and templates and build a questionnaire directory.

Two protocols:

- ``paper-2024``: the paper-era ("timeless") CSVs and templates, read as members of the PyPI wheel
  ``progressgym==0.0.2`` (the wheel is never installed).
- ``head-2025``: upstream HEAD (commit ``871e2bd``). MoralChoice and views come from the same wheel
  (its ``prototype.csv`` files are byte-identical to HEAD's ``final.csv``); ``foundation/final.csv``
  and the HEAD templates come from the upstream repository at that commit
  (``$PROGALIGN_GITHUB_RAW`` overrides the raw-file base URL, e.g. for a mirror).

Every file is pinned by sha256 and verified before use. The output directory holds
``items.jsonl``, ``templates/{question,response}_templates/*`` and ``meta.json``; it is built in a
temporary sibling and moved into place only when complete.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from progalign._version import __version__
from progalign.download import cache_dir, fetch
from progalign.errors import DownloadError, InputError, ProgalignError
from progalign.io import atomic_dir, sha256_bytes, sha256_file, write_bytes, write_json, write_jsonl
from progalign.pypi import PinnedDist, fetch_dist
from progalign.questionnaire.items import GROUPS, Group, Item
from progalign.questionnaire.loaders import Decision, parse_group
from progalign.questionnaire.store import Questionnaire, load_questionnaire
from progalign.questionnaire.subsample import strata_counts, stratified_subsample

__all__ = [
    "PROTOCOLS",
    "Questionnaire",
    "QuestionnaireError",
    "Source",
    "build_questionnaire",
    "load_questionnaire",
    "protocol_sources",
]

PROTOCOLS: tuple[str, ...] = ("paper-2024", "head-2025")
UPSTREAM_COMMIT = "871e2bd"
DEFAULT_GITHUB_RAW = (
    f"https://raw.githubusercontent.com/PKU-Alignment/ProgressGym/{UPSTREAM_COMMIT}"
)
WHEEL = PinnedDist(
    "progressgym",
    "progressgym-0.0.2-py3-none-any.whl",
    "ccc57dba8b66b4dc5e9738772cb8114cf0ddfba4806acb098096119a39e2c145",
)
WHEEL_ROOT = "progressgym/src/evaluation/"
REPO_ROOT = "src/evaluation/"

#: sha256 of each wheel member used, relative to ``WHEEL_ROOT``.
WHEEL_PINS: dict[str, str] = {
    "raw_dataset/moralchoice/timeless.csv": "d34134ebecce4b2d2023cf1b6988993209226261daa7f9b8c9f564b0f2e208f5",
    "raw_dataset/foundation/timeless.csv": "a3df9357e792d5f28ef0fc6403101ab65eca3fd5f41549f49c13dfcbeed8dd4b",
    "raw_dataset/views/timeless.csv": "f2c3506e1b6cd365d41be05527c7c96126579a27b0a074804946e680613937ea",
    "raw_dataset/moralchoice/prototype.csv": "a884ce29e1fefc42406bdd1f73d3b2506c3a35d8709b5db29049e0d1d74e3f65",
    "raw_dataset/views/prototype.csv": "ab41941a595d82918864f5cfa151c55750fc2bccfc7046ee384b6d0d3e755a9a",
    "assets/data/question_templates/ab.json": "ebed2e7a3e1623852931f28035b69a045eae9f130ed82f62d359c0b31e23b98d",
    "assets/data/question_templates/abcd.json": "912faf5e6110d0a3016f74ab47f75b205d07b9f6ce69c24a40385894b9a81968",
    "assets/data/question_templates/compare.json": "704ad8ef3328201a881f27af0e4121ae28402f434fe5baffb84e6724eb423adb",
    "assets/data/question_templates/repeat.json": "96fe60a807dc0273bb1ab0adabd6dbfa2e9fd91415f9df7a919f1dea4e574e21",
    "assets/data/question_templates/repeat_2.json": "edca050e23cf0b12ae9a8944fe139e4c82ded0ff02bbef39797b2466838c6949",
    "assets/data/response_templates/4c.json": "ae97f450de8cb09c1aa8c37f0b343c9b61a7936895e1bd849c60df89a734012c",
    "assets/data/response_templates/ab.json": "15dcff12d112b2043027d98a89fc9e17734b39dd64e6e4cc6d43010fa4cfd741",
    "assets/data/response_templates/compare.json": "24c5dc854839ad76c2f50e5ea23a8db286c6c6364405fae9212552e486a6a09e",
    "assets/data/response_templates/refusals.txt": "6d1278412a91be6d38887c33432bbe60059decbd8b4e2c8d8306c7443f28b270",
    "assets/data/response_templates/repeat.json": "7b8acd71cee2eea45f9a3e93e88c4a71dd0b06f5acb41fc2e072e4450153590a",
    "assets/data/response_templates/repeat2.json": "13a5d77a74a820c6c629b5753b8f80234a1158db5fba40ff307bdc96f4bdb66f",
}
#: sha256 of each upstream file used at ``UPSTREAM_COMMIT``, relative to ``REPO_ROOT``.
GITHUB_PINS: dict[str, str] = {
    "raw_dataset/foundation/final.csv": "44b6d6881735c1159731f338a926d7a940682992e8bdf8172a774ede6f243d58",
    "assets/data/question_templates/ab.json": "005db695c0fe3f3966f31a8082ab2e04c47be991bbc8a2621fbce0951eab3ca7",
    "assets/data/question_templates/abcd.json": "ff0ba92f5133aade81cf448cecb80ee635727d5eff86817dddd8e931b436b448",
    "assets/data/question_templates/compare.json": "f7da1a7a01662c3bccd3e0200d692e283a259b0fd3316491001b6e234b72b95b",
    "assets/data/question_templates/repeat.json": "7b0b5d2fdeb67c6a7b61a5205452bea68ae5d8c772bcf9ac0419761ee1aac970",
    "assets/data/question_templates/repeat_2.json": "2803409de910cd38b5224fd6ba3039e997d7e6745235e61eac6f6e4c1adf8233",
    "assets/data/response_templates/4c.json": "63fb7e3221993f649671f61dee38cbd8e820f851fffeb594c228141e12c4095f",
    "assets/data/response_templates/ab.json": "9fea07214d99a0b64c0e142c3de23bc8e278d7c9cfd6b09ece9ac716fd507581",
    "assets/data/response_templates/compare.json": "5096a34232d834afcd97cdcc9d7ac1b704e7e5633ee42f2f4e4dd6144b7e48a1",
    "assets/data/response_templates/refusals.txt": "6d1278412a91be6d38887c33432bbe60059decbd8b4e2c8d8306c7443f28b270",
    "assets/data/response_templates/repeat.json": "7b8acd71cee2eea45f9a3e93e88c4a71dd0b06f5acb41fc2e072e4450153590a",
    "assets/data/response_templates/repeat2.json": "13a5d77a74a820c6c629b5753b8f80234a1158db5fba40ff307bdc96f4bdb66f",
}
#: Template files of a questionnaire, relative to its ``templates/`` folder.
TEMPLATE_FILES: tuple[str, ...] = (
    *(
        f"question_templates/{n}"
        for n in ("ab.json", "abcd.json", "compare.json", "repeat.json", "repeat_2.json")
    ),
    *(
        f"response_templates/{n}"
        for n in (
            "4c.json",
            "ab.json",
            "compare.json",
            "refusals.txt",
            "repeat.json",
            "repeat2.json",
        )
    ),
)


class QuestionnaireError(ProgalignError):
    """An invalid request for a questionnaire (unknown protocol or group, bad subsample size)."""


@dataclass(frozen=True)
class Source:
    """A pinned input file: a member of ``WHEEL`` or an upstream file at ``UPSTREAM_COMMIT``."""

    origin: Literal["wheel", "github"]
    path: str

    @property
    def sha256(self) -> str:
        """The pinned sha256."""
        return (WHEEL_PINS if self.origin == "wheel" else GITHUB_PINS)[self.path]


def protocol_sources(protocol: str) -> tuple[dict[Group, Source], dict[str, Source]]:
    """Return the CSV source per group and the template sources of ``protocol``.

    Raises:
        QuestionnaireError: unknown protocol.
    """
    if protocol == "paper-2024":
        csvs = {g: Source("wheel", f"raw_dataset/{g}/timeless.csv") for g in GROUPS}
        origin: Literal["wheel", "github"] = "wheel"
    elif protocol == "head-2025":
        csvs = {
            "moralchoice": Source("wheel", "raw_dataset/moralchoice/prototype.csv"),
            "foundation": Source("github", "raw_dataset/foundation/final.csv"),
            "views": Source("wheel", "raw_dataset/views/prototype.csv"),
        }
        origin = "github"
    else:
        raise QuestionnaireError(
            f"unknown protocol {protocol!r}; choose one of " + ", ".join(PROTOCOLS)
        )
    return csvs, {t: Source(origin, f"assets/data/{t}") for t in TEMPLATE_FILES}


def github_raw() -> str:
    """The raw-file base URL in use (``$PROGALIGN_GITHUB_RAW`` or ``DEFAULT_GITHUB_RAW``)."""
    return os.environ.get("PROGALIGN_GITHUB_RAW", DEFAULT_GITHUB_RAW).rstrip("/")


class _Fetcher:
    """Reads pinned sources; opens the wheel (fetching it once) only if a member is needed."""

    def __init__(self, progress: bool):
        self.progress = progress
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._zip is not None:
            self._zip.close()

    def get(self, src: Source) -> tuple[bytes, dict[str, str]]:
        """Return the verified bytes of ``src`` and a provenance record for ``meta.json``."""
        if src.origin == "wheel":
            where = WHEEL_ROOT + src.path
            data = self._wheel_member(where)
            record = {"wheel": WHEEL.filename, "wheel_sha256": WHEEL.sha256, "member": where}
        else:
            url = f"{github_raw()}/{REPO_ROOT}{src.path}"
            where = url
            dest = cache_dir() / "github" / UPSTREAM_COMMIT / src.path
            data = fetch(url, dest, src.sha256, progress=self.progress).read_bytes()
            record = {"url": f"{DEFAULT_GITHUB_RAW}/{REPO_ROOT}{src.path}"}
        if sha256_bytes(data) != src.sha256:
            raise DownloadError(f"{where}: content does not match the pinned sha256 {src.sha256}")
        return data, record

    def _wheel_member(self, member: str) -> bytes:
        if self._zip is None:
            path = fetch_dist(WHEEL, progress=self.progress)
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise DownloadError(f"{path}: not a valid wheel (zip) file") from None
        try:
            return self._zip.read(member)
        except KeyError:
            raise DownloadError(f"{WHEEL.filename}: no member {member}") from None


def _check_request(
    groups: Sequence[str] | None, per_dimension: int | None, overrides: Mapping[str, Any]
) -> tuple[Group, ...]:
    wanted = list(groups) if groups is not None else list(GROUPS)
    unknown = sorted({*wanted, *overrides} - set(GROUPS))
    if unknown:
        raise QuestionnaireError(
            f"unknown group(s) {', '.join(unknown)}; groups are " + ", ".join(GROUPS)
        )
    if not wanted:
        raise QuestionnaireError("no groups selected")
    extra = sorted(set(overrides) - set(wanted))
    if extra:
        raise QuestionnaireError(f"a CSV is given for {', '.join(extra)}, which is not selected")
    if per_dimension is not None and per_dimension < 1:
        raise QuestionnaireError(f"per_dimension must be at least 1, not {per_dimension}")
    return tuple(g for g in GROUPS if g in wanted)


def build_questionnaire(
    protocol: str,
    out_dir: str | os.PathLike[str],
    per_dimension: int | None = None,
    seed: int = 0,
    csv_overrides: Mapping[str, str | os.PathLike[str]] | None = None,
    groups: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Fetch, verify, parse and (optionally) subsample a protocol's items into ``out_dir``.

    Args:
        protocol: ``paper-2024`` or ``head-2025``.
        out_dir: The questionnaire directory to (re)create atomically.
        per_dimension: Keep at most this many items per stratum (see ``subsample``); None = all.
        seed: Seed of the subsample.
        csv_overrides: ``{group: path}``: the user's CSV replaces the protocol's for that group
            (templates still come from the protocol).
        groups: Subset of ``moralchoice``, ``foundation``, ``views`` (default: all three, which
            the 19-d value vector needs).
        progress: Show download progress bars.

    Returns:
        ``Path(out_dir)``.

    Raises:
        QuestionnaireError: bad protocol, group or subsample size.
        DownloadError: a source cannot be fetched or fails its pin; nothing is written.
        InputError: a CSV is malformed (file, row and column named); nothing is written.
    """
    overrides: dict[str, str | os.PathLike[str]] = dict(csv_overrides or {})
    selected = _check_request(groups, per_dimension, overrides)
    csv_sources, template_sources = protocol_sources(protocol)
    items: list[Item] = []
    decisions: list[Decision] = []
    sources: list[dict[str, str]] = []
    loaded: dict[str, int] = {}
    with _Fetcher(progress) as fetcher:
        for group in selected:
            if group in overrides:
                path = Path(overrides[group])
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    raise InputError(str(path), f"cannot read ({exc.strerror})") from None
                name, record = str(path), {"path": str(path)}
            else:
                data, record = fetcher.get(csv_sources[group])
                name = csv_sources[group].path
            sources.append({"name": group, "sha256": sha256_bytes(data), **record})
            group_items, group_decisions = parse_group(group, data, name)
            loaded[group] = len(group_items)
            items += group_items
            decisions += group_decisions
        templates = {}
        for rel, src in template_sources.items():
            templates[rel], record = fetcher.get(src)
            sources.append({"name": f"templates/{rel}", "sha256": src.sha256, **record})
    if per_dimension is not None:
        items = stratified_subsample(items, per_dimension, seed)
    with atomic_dir(out_dir) as tmp:
        write_jsonl(tmp / "items.jsonl", (item.to_json() for item in items))
        for rel, data in templates.items():
            write_bytes(tmp / "templates" / rel, data)
        write_json(
            tmp / "meta.json",
            {
                "format": 1,
                "progalign_version": __version__,
                "protocol": protocol,
                "upstream_commit": UPSTREAM_COMMIT,
                "groups": list(selected),
                "sources": sources,
                "counts": {g: sum(i.group == g for i in items) for g in selected},
                "counts_loaded": loaded,
                "strata": strata_counts(items),
                "decisions": [d.to_json() for d in decisions],
                "subsample": None
                if per_dimension is None
                else {
                    "per_dimension": per_dimension,
                    "seed": seed,
                    "method": "per (group, stratum): lowest sha256(seed:group:item_id)",
                },
                "items_sha256": sha256_file(tmp / "items.jsonl"),
            },
        )
    return Path(out_dir)
