"""Cell values: Vietnamese numbers, periods, codes mangled by Excel."""

from __future__ import annotations

import datetime as dt

import pytest

from sources.values import from_file_name, parse_code, parse_number, parse_period


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (5.0, 5),
        (12.5, 12.5),
        ("1.234.567", 1234567),
        ("12,5", 12.5),
        ("1.234,5", 1234.5),
        ("1.234", 1234),  # Vietnamese thousands, by rule
        ("1,234", 1.234),  # Vietnamese decimal comma
        ("12.5", 12.5),  # cannot be thousands
        ("0.123", 0.123),
        ("1,234,567", 1234567),
        ("1,234.5", 1234.5),
        (" 1 234 567 ", 1234567),
        ("\u00a01\u00a0234\u202f567", 1234567),
        ("-5", -5),
        ("0", 0),
    ],
)
def test_numbers(cell: object, expected: float) -> None:
    parsed = parse_number(cell)
    assert parsed.problem is None
    assert parsed.value == expected
    assert type(parsed.value) is type(expected)


@pytest.mark.parametrize("cell", [None, "", "   ", "\u00a0"])
def test_empty_is_missing_not_zero(cell: object) -> None:
    assert parse_number(cell).value is None
    assert parse_number(cell).problem is None


@pytest.mark.parametrize(
    ("cell", "measure", "expected"),
    [
        ("1.234 triệu đồng", "triệu đồng", 1234),
        ("5 cuộc", "cuộc", 5),
        ("5 cuoc", "cuộc", 5),
        ("12 lượt người", "lượt người", 12),
    ],
)
def test_trailing_unit_of_the_row(cell: str, measure: str, expected: int) -> None:
    assert parse_number(cell, measure).value == expected


@pytest.mark.parametrize(
    ("cell", "measure", "problem"),
    [
        ("không có", None, "R-VALUE-NOT-NUMBER"),
        ("khoảng 5", "cuộc", "R-VALUE-NOT-NUMBER"),
        ("5 người", "cuộc", "R-VALUE-NOT-NUMBER"),
        ("5 cuộc", None, "R-VALUE-NOT-NUMBER"),
        ("1.2.3", None, "R-VALUE-NOT-NUMBER"),
        ("12.", None, "R-VALUE-NOT-NUMBER"),
        (True, None, "R-VALUE-NOT-NUMBER"),
        (float("nan"), None, "R-VALUE-NOT-NUMBER"),
        (dt.date(2026, 7, 1), None, "R-VALUE-DATE"),
        ("#DIV/0!", None, "R-CELL-ERROR"),
    ],
)
def test_not_numbers(cell: object, measure: str | None, problem: str) -> None:
    parsed = parse_number(cell, measure)
    assert (parsed.value, parsed.problem) == (None, problem)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026Q3", "2026Q3"),
        ("2026-Q3", "2026Q3"),
        ("Q3-2026", "2026Q3"),
        ("Q3/2026", "2026Q3"),
        ("Quý III/2026", "2026Q3"),
        ("Quý IV / 2026", "2026Q4"),
        ("QUÝ I NĂM 2027", "2027Q1"),
        ("Quý 3 năm 2026", "2026Q3"),
        ("quy 3/2026", "2026Q3"),
        ("Quy3-2026", "2026Q3"),
        ("Quý III/2026".replace("ý", "y\u0301"), "2026Q3"),
        ("2026", "2026"),
        (2026, "2026"),
        (2026.0, "2026"),
        ("Năm 2026", "2026"),
        ("2026S1", "2026S1"),
        ("S2/2026", "2026S2"),
        ("6 tháng đầu năm 2026", "2026S1"),
        ("202607", "202607"),
        (202607, "202607"),
        ("Tháng 7/2026", "202607"),
        ("07/2026", "202607"),
        ("2026-07", "202607"),
    ],
)
def test_periods(cell: object, expected: str) -> None:
    assert parse_period(cell) == expected


@pytest.mark.parametrize(
    "cell", ["Quý 5/2026", "Q3", "2026Q5", "quý ba", "khoảng quý 3", None, "", 2026.5, True]
)
def test_unparseable_periods(cell: object) -> None:
    assert parse_period(cell) is None


def test_task_code_float_recovered_only_where_exact() -> None:
    assert parse_code(1.1, "task").value == "1.1"
    assert parse_code(7.2, "task").value == "7.2"
    assert parse_code(2.0, "task").problem == "R-CODE-NUMBER"
    assert parse_code(1.1, "element").problem == "R-CODE-NUMBER"
    assert parse_code(" 1.1.1 ", "element").value == "1.1.1"


def test_codes_turned_into_dates_are_reported_not_guessed() -> None:
    parsed = parse_code(dt.datetime(2026, 2, 1), "task")  # noqa: DTZ001 - as calamine returns it
    assert (parsed.value, parsed.problem, parsed.shown) == (None, "R-CODE-DATE", "01/02/2026")


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("THON-01_2026Q3", ("THON-01", "2026Q3")),
        ("TH-NH_Quy3-2026", ("TH-NH", "2026Q3")),
        ("TH-NH_Quý III-2026", ("TH-NH", "2026Q3")),
        ("bao_cao", None),
        ("THON-01", None),
    ],
)
def test_file_names(stem: str, expected: tuple[str, str] | None) -> None:
    assert from_file_name(stem) == expected
