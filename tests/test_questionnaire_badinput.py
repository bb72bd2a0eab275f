"""Loaders on synthetic bad input: errors name file, row and column; odd rows become decisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from progalign.errors import InputError
from progalign.questionnaire._csv import clean_text
from progalign.questionnaire.items import RULES
from progalign.questionnaire.loaders import (
    load_foundation,
    load_moralchoice,
    load_views,
    load_wvs,
)

MC_HEADER = [
    "scenario_id",
    "context",
    "action1",
    "action2",
    "generation_rule",
    *(f"a1_{r}" for r in RULES),
    *(f"a2_{r}" for r in RULES),
]


def mc_row(
    sid: str,
    context: str = "ctx",
    a1: str = "x",
    a2: str = "y",
    rule: str = "Do not kill",
    label: str = "No",
) -> list[str]:
    return [sid, context, a1, a2, rule, *([label] * 20)]


def write_csv(path: Path, rows: list[list[str]], sep: str = ",") -> Path:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value

    path.write_text("".join(sep.join(cell(v) for v in row) + "\n" for row in rows), "utf-8")
    return path


def test_minimal_moralchoice_and_duplicate_rule(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "mc.csv",
        [MC_HEADER, mc_row("A"), mc_row("A"), mc_row("A", context="other"), mc_row("A", a1="z")],
    )
    items, decisions = load_moralchoice(path)
    assert [it.item_id for it in items] == ["A", "A#2", "A#3"]
    assert [(d.row, d.action) for d in decisions] == [
        (3, "dropped"),
        (4, "renamed"),
        (5, "renamed"),
    ]
    assert "exact duplicate of row 2" in decisions[0].reason


@pytest.mark.parametrize(
    "mutate,row,column,message",
    [
        (lambda rows: rows[2].__setitem__(7, "Maybe"), 3, "a1_disable", "label 'Maybe'"),
        (lambda rows: rows[1].__setitem__(1, "  "), 2, "context", "empty context"),
        (lambda rows: rows[2].__setitem__(3, '""'), 3, "action2", "empty action"),
        (lambda rows: rows[1].__setitem__(4, "Do not lie"), 2, "generation_rule", "unknown rule"),
        (lambda rows: rows[1].__setitem__(0, ""), 2, "scenario_id", "empty scenario_id"),
    ],
)
def test_bad_cells_name_file_row_column(
    tmp_path: Path, mutate: Callable[[list[list[str]]], None], row: int, column: str, message: str
) -> None:
    rows = [MC_HEADER, mc_row("A"), mc_row("B")]
    mutate(rows)
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError) as info:
        load_moralchoice(path)
    assert (info.value.row, info.value.column) == (row, column)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "f.csv",
        [["scenario_id", "context", "action1", "action2"], ["F_1", "c", "a", "b"]],
    )
    with pytest.raises(InputError) as info:
        load_foundation(path)
    assert (info.value.row, info.value.column) == (1, "generation_theme")


def test_unknown_theme_and_multiline_row_numbers(tmp_path: Path) -> None:
    header = ["scenario_id", "generation_theme", "context", "action1", "action2"]
    path = write_csv(
        tmp_path / "f.csv",
        [header, ["F_1", "Harm_Care", "two\nlines", "a", "b"], ["F_2", "Liberty", "c", "a", "b"]],
    )
    with pytest.raises(InputError) as info:
        load_foundation(path)
    assert (info.value.row, info.value.column) == (4, "generation_theme")  # F_1 spans lines 2-3


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"scenario_id,context,action1,action2,action3,action4\n", "no data rows"),
    ],
)
def test_empty_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_views(path)
    assert info.value.row == 1


def test_non_utf8_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(
        b"scenario_id,context,action1,action2,action3,action4\n"
        b"V_1,fine,a,b,c,d\nV_2,caf\xe9,a,b,c,d\n"
    )
    with pytest.raises(InputError, match="UTF-8") as info:
        load_views(path)
    assert (info.value.row, info.value.column) == (3, "context")


def test_field_count_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("scenario_id,context,action1,action2,action3,action4\nV_1,c,a,b,c\n")
    with pytest.raises(InputError, match="5 fields") as info:
        load_views(path)
    assert info.value.row == 2


def test_views_header_variants_bom_and_stray_header(tmp_path: Path) -> None:
    for kind in ("generation_type", "generaton_type"):
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(
            "\ufeff".encode()
            + (
                f"scenario_id,{kind},context,action1,action2,action3,action4\n"
                "V_1, generated,Q?,a,b,c,d\n"
                "V_2,generation_type,context,choice1,choice2,choice3,choice4\n"
            ).encode()
        )
        items, decisions = load_views(path)
        assert [it.item_id for it in items] == ["V_1"] and items[0].theme is None
        assert items[0].source["generation_type"] == "generated"
        assert [(d.row, d.action) for d in decisions] == [(2, "cleaned"), (3, "dropped")]


@pytest.mark.parametrize(
    "cell,expected",
    [
        (' "I will step in"', "I will step in"),
        ('("Invest it")', "Invest it"),
        ("'\"Maintain it.\"'", "Maintain it."),
        (' "Use it for me";', "Use it for me"),
        (', Challenge it"', "Challenge it"),
        ('I say "no" to him', 'I say "no" to him'),
        ("I consider 'fairness'", "I consider 'fairness'"),
        ("'Tis the season", "'Tis the season"),
    ],
)
def test_clean_text(cell: str, expected: str) -> None:
    assert clean_text(cell) == expected


def test_unbalanced_quote_drops_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "mc.csv", [MC_HEADER, mc_row("A", a1='I go, "then I stay'), mc_row("B")]
    )
    items, decisions = load_moralchoice(path)
    assert [it.item_id for it in items] == ["B"]
    assert decisions[0].action == "dropped" and "action1" in decisions[0].reason


def test_wvs_never_crashes_on_odd_rows(tmp_path: Path) -> None:
    header = [
        "scenario_id",
        "generaton_type",
        "evaluation_type",
        "generation_theme",
        "context",
        "choice_list",
        "dimension_range_a",
        "dimension_range_b",
    ]
    path = write_csv(
        tmp_path / "w.csv",
        [
            header,
            ["W_1", "original", "aggregate", "t", "q", "[a,b]", "x", "1"],
            ["W_2", "original", "q"],
            ["W_3", "o", "a", "t", "q", "a,b", "0", "1"],
            ["W_4", "o", "a", "t", "q", "[a,b,c]", "2", "0"],
        ],
        sep=";",
    )
    protos, decisions = load_wvs(path)
    assert [p.item_id for p in protos] == ["W_1", "W_4"]
    assert protos[0].dimension_range is None
    assert [(d.item_id, d.action) for d in decisions] == [
        ("W_1", "flagged"),
        ("W_2", "dropped"),
        ("W_3", "dropped"),
        ("W_4", "flagged"),
    ]
