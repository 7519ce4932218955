"""Cell values: Vietnamese numbers, periods, codes mangled by Excel."""

from __future__ import annotations

import datetime as dt

import pytest

from sources.names import Names
from sources.values import (
    from_file_name,
    parse_code,
    parse_date_range,
    parse_number,
    period_in_text,
    period_of_cell,
)


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
    parsed = parse_number(cell, measure)
    # Read, and the unit is told so: a warning that names the cell's text.
    assert (parsed.value, parsed.problem, parsed.shown) == (
        expected,
        "R-VALUE-READ-PAST-UNIT",
        cell,
    )


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
    assert period_of_cell(cell) == expected


@pytest.mark.parametrize(
    "cell", ["Quý 5/2026", "Q3", "2026Q5", "quý ba", "khoảng quý 3", None, "", 2026.5, True]
)
def test_unparseable_periods(cell: object) -> None:
    assert period_of_cell(cell) is None


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


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("BÁO CÁO KẾT QUẢ THỰC HIỆN NHIỆM VỤ QUÝ III NĂM 2026", "2026Q3"),
        ("Báo cáo quý 4/2026", "2026Q4"),
        ("BAO CAO QUY IV NAM 2027", "2027Q4"),
        ("BÁO CÁO 6 THÁNG ĐẦU NĂM 2026", "2026S1"),
        ("Báo cáo 6 tháng cuối năm 2026", "2026S2"),
        ("Báo cáo tháng 7 năm 2026", "202607"),
        ("BÁO CÁO KẾT QUẢ NĂM 2026", "2026"),
        ("BÁO CÁO GIAI ĐOẠN 2026-2030, QUÝ 2/2027", "2027Q2"),
        ("Báo cáo thực hiện Kế hoạch giai đoạn 2026 - 2030", None),
        ("Nghĩa Hưng, ngày 05 tháng 10 năm 2026", None),
        ("Báo cáo ngày 05/10/2026", None),
    ],
)
def test_period_in_a_title(title: str, expected: str | None) -> None:
    assert period_in_text(title) == expected


@pytest.mark.parametrize(
    ("text", "period", "close"),
    [
        ("Từ ngày 01/7/2026 đến ngày 30/9/2026", "2026Q3", "2026Q3 (01/07/2026 - 30/09/2026)"),
        ("01/07/2026 - 30/09/2026", "2026Q3", "2026Q3 (01/07/2026 - 30/09/2026)"),
        ("(từ 1/1/2026 đến 30/6/2026)", "2026S1", "2026S1 (01/01/2026 - 30/06/2026)"),
        ("01/01/2026 – 31/12/2026", "2026", "2026 (01/01/2026 - 31/12/2026)"),
        ("01/08/2026 - 31/08/2026", "202608", "202608 (01/08/2026 - 31/08/2026)"),
        ("Từ ngày 01/7/2026 đến ngày 15/9/2026", None, "2026Q3 (01/07/2026 - 30/09/2026)"),
        ("15/12/2026 - 14/03/2027", None, "2027Q1 (01/01/2027 - 31/03/2027)"),
    ],
)
def test_date_ranges(text: str, period: str | None, close: str) -> None:
    found = parse_date_range(text)
    assert found is not None
    assert found.period == period
    assert found.close_periods()[0] == close


@pytest.mark.parametrize("text", ["30/9/2026 - 01/7/2026", "31/02/2026 - 30/06/2026", "2026Q3"])
def test_not_date_ranges(text: str) -> None:
    assert parse_date_range(text) is None


def test_names_fold_and_say_when_they_are_ambiguous() -> None:
    names = Names.of(
        [("THON-07", "Thôn Hạ", ()), ("THON-09", "Thôn Hà", ()), ("TH-A", "Trường TH A", ["A"])],
        [("1.1.1", "Số hội nghị quán triệt, tập huấn"), ("1.4.2", "Số hội nghị, hội thảo")],
    )
    assert names.unit_codes("trường th a") == ("TH-A",)
    assert names.unit_codes("TRUONG TH  A") == ("TH-A",)
    assert names.unit_codes("th-a") == ("TH-A",)  # the code itself, any case
    assert names.unit_codes("thôn ha") == ("THON-07", "THON-09")  # fold makes them one
    assert names.unit_codes("Trường") == ()
    assert names.nearest_units("Thôn Hạa")[:2] == ["Thôn Hạ (THON-07)", "Thôn Hà (THON-09)"]
    assert names.element_codes("SỐ HỘI NGHỊ QUÁN TRIỆT, TẬP HUẤN (cuộc)") == ("1.1.1",)
    assert names.nearest_elements("Số hội thảo")[0] == "1.4.2 Số hội nghị, hội thảo"
