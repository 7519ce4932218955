"""Every file of tests/data, read through `read_many` as the flow reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.model import Submission
from sources.inbox import InboxEntry
from sources.read import read_many

DATA = Path(__file__).parent / "data"
GOOD_VALUES = [("1.1", "1.1.1", 3), ("1.1", "1.1.2", 120), ("3.1", "3.1.1", 1234.5)]


@pytest.fixture(scope="module")
def read() -> dict[str, Submission]:
    # Archives are unpacked before reading, as the flow does: tests/test_formats.py.
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix not in (".py", ".zip"))
    entries = [InboxEntry(str(p), p.name, p.stat().st_size, None) for p in files]
    return {
        p.relative_to(DATA).as_posix(): s for p, s in zip(files, read_many(entries), strict=True)
    }


def values(sub: Submission) -> list[tuple[object, ...]]:
    return [(v.task_code, v.element_code, v.value) for v in sub.values]


def addresses(sub: Submission) -> list[str]:
    return [v.ref.address for v in sub.values]


def codes(sub: Submission) -> list[tuple[str, str | None]]:
    return [(i.code, i.ref.address if i.ref else None) for i in sub.issues]


def test_there_are_at_least_20_defect_files(read: dict[str, Submission]) -> None:
    assert len(read) >= 20


@pytest.mark.parametrize(
    ("name", "first_value_row"),
    [
        ("header_two_rows_merged.xlsx", 10),
        ("header_two_rows_unmerged.xlsx", 10),
        ("header_with_column_numbers.xlsx", 10),
        ("total_row_and_signature.xlsx", 9),
        ("code_merged_over_rows.xlsx", 9),
        ("nfd_headers.xlsx", 9),
        ("macro_enabled.xlsm", 9),
        ("opendocument.ods", 9),
        ("period_roman_quarter.xlsx", 9),
    ],
)
def test_clean_read(read: dict[str, Submission], name: str, first_value_row: int) -> None:
    sub = read[name]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == [f"E{first_value_row + k}" for k in range(3)]
    assert (sub.unit_code, sub.period) == ("THON-01", "2026Q3")
    assert sub.issues == []


def test_two_row_header_refs_every_field(read: dict[str, Submission]) -> None:
    row = read["header_two_rows_merged.xlsx"].values[0]
    assert {k: r.address for k, r in row.refs.items()} == {
        "task_code": "A10",
        "element_code": "B10",
        "element_name": "C10",
        "measure": "D10",
        "value": "E10",
        "note": "F10",
    }


def test_merged_task_code_points_at_the_merged_cell(read: dict[str, Submission]) -> None:
    second = read["code_merged_over_rows.xlsx"].values[1]
    assert second.task_code == "1.1"
    assert second.refs["task_code"].address == "A9"


def test_code_as_date(read: dict[str, Submission]) -> None:
    sub = read["code_as_date.xlsx"]
    assert values(sub) == [("1.1", "1.1.1", 3), (None, "1.1.2", 120), ("3.1", None, 1234.5)]
    assert codes(sub) == [("R-CODE-DATE", "A10"), ("R-CODE-DATE", "B11")]
    assert "01/02/2026" in sub.issues[0].message
    assert "Chỉ tiêu" in sub.issues[0].message


def test_code_as_float(read: dict[str, Submission]) -> None:
    sub = read["code_as_float.xlsx"]
    assert values(sub) == [("1.1", "1.1.1", 3), ("1.1", None, 120), ("3.1", "3.1.1", 1234.5)]
    assert codes(sub) == [("R-CODE-NUMBER", "B10")]


def test_columns_reordered_unknown_column(read: dict[str, Submission]) -> None:
    sub = read["columns_reordered_unknown_column.xlsx"]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == ["A9", "A10", "A11"]
    assert sub.values[0].refs["element_code"].address == "B9"
    assert codes(sub) == [("R-COLUMN-UNKNOWN", "C8")]
    assert sub.issues[0].severity == "warning"
    assert "Người phụ trách" in sub.issues[0].message


def test_no_diacritics_headers(read: dict[str, Submission]) -> None:
    sub = read["no_diacritics_headers.xlsx"]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == ["E5", "E6", "E7"]
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_nfd_headers_read_progress_too(read: dict[str, Submission]) -> None:
    sub = read["nfd_headers.xlsx"]
    assert [(p.task_code, p.status) for p in sub.progress] == [("1.1", "Hoàn thành")]
    assert "difficulties" in sub.progress[0].refs


def test_vietnamese_number_text(read: dict[str, Submission]) -> None:
    sub = read["vietnamese_number_text.xlsx"]
    assert [v.value for v in sub.values] == [
        1234567, 12.5, 1234.5, 1234, 5, 1234, 1234, None, None, None
    ]  # fmt: skip
    assert sub.values[7].raw == "không có"
    # `1.234 triệu đồng` and `5 cuộc` are read past the row's unit, and the unit is told so.
    assert codes(sub) == [
        ("R-VALUE-READ-PAST-UNIT", "E12"),
        ("R-VALUE-READ-PAST-UNIT", "E13"),
        ("R-VALUE-NOT-NUMBER", "E16"),
        ("R-VALUE-NOT-NUMBER", "E17"),
        ("R-VALUE-NOT-NUMBER", "E18"),
    ]
    told = [i.message for i in sub.issues if i.code == "R-VALUE-READ-PAST-UNIT"]
    assert "đã đọc là 1234" in told[0] and "'5 cuộc'" in told[1] and "đã đọc là 5" in told[1]


def test_empty_value_is_missing_not_zero(read: dict[str, Submission]) -> None:
    sub = read["empty_value_not_zero.xlsx"]
    assert [v.value for v in sub.values] == [None, 0, None]
    assert sub.issues == []


def test_formula_without_cached_value(read: dict[str, Submission]) -> None:
    sub = read["formula_without_cached_value.xlsx"]
    assert [v.value for v in sub.values] == [3, 120, None]
    assert codes(sub) == [("R-FORMULA-NO-VALUE", "E11")]


def test_error_value_cell(read: dict[str, Submission]) -> None:
    sub = read["error_value_cell.xlsx"]
    assert [v.value for v in sub.values] == [3, None, 1234.5]
    assert codes(sub) == [("R-CELL-ERROR", "E10")]
    assert "#DIV/0!" in sub.issues[0].message


def test_unit_conflict_filename_vs_cell(read: dict[str, Submission]) -> None:
    sub = read["unit_conflict_filename_vs_cell/THON-02_2026Q3.xlsx"]
    assert codes(sub) == [("R-UNIT-CONFLICT", "B4")]
    assert sub.issues[0].severity == "error"
    assert "THON-01" in sub.issues[0].message and "THON-02" in sub.issues[0].message
    assert not sub.unreadable


def test_period_invalid(read: dict[str, Submission]) -> None:
    sub = read["period_invalid.xlsx"]
    assert sub.period is None
    assert codes(sub) == [("R-PERIOD-INVALID", "B6"), ("R-PERIOD-MISSING", None)]


@pytest.mark.parametrize(
    "name", ["csv_windows1258_semicolon.csv", "csv_utf16_tab.csv", "csv_utf8_bom.csv"]
)
def test_csv(read: dict[str, Submission], name: str) -> None:
    sub = read[name]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == ["G2", "G3", "G4"]
    assert sub.values[0].ref.sheet == Path(name).stem
    assert [(p.task_code, p.status, p.difficulties) for p in sub.progress] == [
        ("1.1", "Hoàn thành", None),
        ("3.1", "Đang triển khai", "Thiếu kinh phí"),
    ]
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_legacy_xls_with_a_date_code(read: dict[str, Submission]) -> None:
    sub = read["legacy_format.xls"]
    assert values(sub) == [(None, "1.1.1", 3), ("1.1", "1.1.2", 120), ("3.1", "3.1.1", 1234.5)]
    assert codes(sub) == [("R-CODE-DATE", "A9")]
    assert sub.template_version == "2026.1"
    assert len(sub.progress) == 2


def test_table_starts_at_c5(read: dict[str, Submission]) -> None:
    sub = read["table_starts_at_c5.xlsx"]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == ["G6", "G7", "G8"]
    assert sub.values[0].refs["task_code"].address == "C6"
    assert (sub.unit_code, sub.period) == ("THON-01", "2026Q3")


def test_blank_rows_inside_table(read: dict[str, Submission]) -> None:
    sub = read["blank_rows_inside_table.xlsx"]
    assert values(sub) == GOOD_VALUES
    assert addresses(sub) == ["E9", "E12", "E14"]


def test_no_table(read: dict[str, Submission]) -> None:
    sub = read["no_table.xlsx"]
    assert [c for c, _ in codes(sub)] == ["R-TABLE-NOT-FOUND", "R-UNIT-MISSING", "R-PERIOD-MISSING"]
    assert not sub.unreadable


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("not_a_spreadsheet.xlsx", "R-FILE-CORRUPT"),
        ("html_saved_as_xls.xls", "R-FILE-CORRUPT"),
        ("truncated_zip.xlsx", "R-FILE-CORRUPT"),
        ("unsupported_format.pdf", "R-FILE-FORMAT"),
        ("zip_bomb.xlsx", "R-FILE-UNPACKED-TOO-BIG"),
        ("absurd_dimension.xlsx", "R-FILE-TOO-MANY-CELLS"),
        ("xml_bomb.xlsx", "R-FILE-UNSAFE"),
        ("path_trick_dotdot_entry.xlsx", "R-FILE-UNSAFE"),
        ("dimension_lies_cell_at_xfd1048576.xlsx", "R-FILE-CRASH"),
    ],
)
def test_unreadable(read: dict[str, Submission], name: str, code: str) -> None:
    sub = read[name]
    assert sub.unreadable
    assert codes(sub) == [(code, None)]
    assert (sub.values, sub.progress) == ([], [])
    assert name in sub.issues[0].message
    assert len(sub.sha256) == 64
