"""English Bible translations from the ``pythonbible-*`` wheels, as whole, dated works.

Each wheel stores the whole text of its translation as one string literal in
``pythonbible_<key>/plain_text_bible.py`` (verses numbered ``"1. … 2. …"``, chapters run
together). The verse-offset tables next to it are wrong in some versions (Douay-Rheims, BBE), so
they are not used: the text is split at its own verse numbers instead. A number is taken as a verse
marker when it is ``1`` (a new chapter) or a little above the previous verse number (verses are
sometimes missing); any other ``N.`` stays in the text. The markers are removed; chapters become
lines of a document, verses the points where documents may be cut.

Normalisation per version: BBE's ``\\43:1\\`` references are removed; square brackets (words
supplied by the translators, KJV/ASV/YLT) are removed, their words kept; backticks are apostrophes
in WEB/YLT/Wesley and editorial marks in Wycliffe (removed); whitespace is collapsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from progalign.corpus.archives import PINS, Archive, module_call_string
from progalign.corpus.chunking import Work
from progalign.corpus.cleaning import CleaningReport, clean_text

_VERSE = re.compile(r"(?<!\w)(\d{1,3})\.(?!\d)")
_BBE_REFERENCE = re.compile(r"\\\d+:\d+\\")
_SPACE = re.compile(r"\s+")
#: How far a verse number may jump (missing verses) and still count as a marker.
_MAX_VERSE_GAP = 10


@dataclass(frozen=True)
class Translation:
    """A dated Bible translation.

    Attributes:
        key: pythonbible suffix (``kjv``).
        title: Name of the translation.
        year: Year used for binning.
        earliest: Earliest plausible date of the text.
        latest: Latest plausible date of the text.
        date_note: What the dates refer to, and their source.
    """

    key: str
    title: str
    year: int
    earliest: int
    latest: int
    date_note: str

    @property
    def project(self) -> str:
        """The PyPI project name."""
        return f"pythonbible-{self.key}"

    @property
    def member(self) -> str:
        """Path of the module holding the text inside the wheel."""
        return f"pythonbible_{self.key}/plain_text_bible.py"


_STD = "standard publication dates (title pages; e.g. F. F. Bruce, History of the Bible in English)"

#: The translations used (``pythonbible-gb`` is deliberately absent: it is partly KJV).
TRANSLATIONS: tuple[Translation, ...] = (
    Translation(
        "wyc",
        "Wycliffe Bible (later version)",
        1390,
        1382,
        1395,
        f"Wycliffite versions c.1382 (early) and c.1395 (later); {_STD}",
    ),
    Translation(
        "tyn",
        "Tyndale Bible",
        1530,
        1526,
        1535,
        f"NT 1526 (rev. 1534), Pentateuch 1530, Jonah 1531; {_STD}",
    ),
    Translation(
        "kjv",
        "King James Version",
        1611,
        1611,
        1611,
        f"first edition 1611 (this text uses the 1769 standard spelling); {_STD}",
    ),
    Translation(
        "dr",
        "Douay-Rheims Bible (Challoner revision)",
        1750,
        1749,
        1752,
        f"Challoner's revision 1749-1752; {_STD}",
    ),
    Translation(
        "wesley",
        "Wesley's New Testament",
        1755,
        1755,
        1755,
        f"John Wesley, Explanatory Notes upon the New Testament, 1755; {_STD}",
    ),
    Translation(
        "ylt",
        "Young's Literal Translation",
        1862,
        1862,
        1898,
        f"first edition 1862, revised 1887 and 1898; {_STD}",
    ),
    Translation("asv", "American Standard Version", 1901, 1901, 1901, f"published 1901; {_STD}"),
    Translation(
        "bbe",
        "Bible in Basic English",
        1949,
        1941,
        1965,
        f"NT 1941, whole Bible 1949, revised 1965; {_STD}",
    ),
    Translation(
        "web",
        "World English Bible",
        2000,
        2000,
        2020,
        "first complete public-domain edition 2000, revised since (ebible.org)",
    ),
)


def _normalise(text: str, key: str) -> str:
    if key == "bbe":
        text = _BBE_REFERENCE.sub(" ", text)
    text = text.replace("[", "").replace("]", "")
    text = text.replace("`", "" if key == "wyc" else "'")
    return _SPACE.sub(" ", text)


def split_chapters(text: str, key: str = "") -> list[list[str]]:
    """Split a numbered Bible text into chapters of verses (markers removed).

    Args:
        text: The ``"1. … 2. …"`` text.
        key: Translation key, for per-version normalisation.

    Returns:
        Chapters, each a list of non-empty verse texts.
    """
    text = _normalise(text, key)
    markers: list[tuple[int, int, int]] = []
    previous = 0
    for match in _VERSE.finditer(text):
        number = int(match.group(1))
        if number == 1 or previous < number <= previous + _MAX_VERSE_GAP:
            markers.append((match.start(), match.end(), number))
            previous = number
    chapters: list[list[str]] = []
    head = text[: markers[0][0]] if markers else text
    for index, (_, end, number) in enumerate(markers):
        stop = markers[index + 1][0] if index + 1 < len(markers) else len(text)
        if number == 1 or not chapters:
            chapters.append([])
        chapters[-1].append(text[end:stop])
    if head.strip():
        if chapters:
            chapters[0].insert(0, head)
        else:
            chapters.append([head])
    stripped = [[verse.strip() for verse in chapter] for chapter in chapters]
    return [[verse for verse in chapter if verse] for chapter in stripped if any(chapter)]


def read_translation(
    archive: Archive, translation: Translation, report: CleaningReport | None = None
) -> Work:
    """Read one translation from its wheel as a :class:`Work` (chapters of verses).

    The cleaning line rules are applied with each chapter as one line.
    """
    where = archive.where(translation.member)
    _, text = module_call_string(archive.text(translation.member), where, "bible", "Bible")
    chapters = split_chapters(text, translation.key)
    kept = []
    for chapter in chapters:
        if clean_text(" ".join(chapter), report):
            kept.append(tuple(chapter))
    pin = PINS[translation.project]
    return Work(
        title=f"{translation.title} ({translation.year})",
        source=pin.spec,
        source_dataset="pythonbible",
        member=translation.member,
        license="public-domain",
        genre="scripture",
        creation_year=translation.year,
        blocks=tuple(kept),
        inner=" ",
        outer="\n",
    )
