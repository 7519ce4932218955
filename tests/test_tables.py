"""Finding tables in grids and matching headers."""

from __future__ import annotations

import unicodedata

import pytest

from sources.tables import Grid, find_labels, find_tables, match_header

VALUE_HEADER = ["Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("Mã chỉ tiêu", "element_code"),
        ("Ma chi tieu", "element_code"),
        ("MÃ CHỈ TIÊU", "element_code"),
        (unicodedata.normalize("NFD", "Mã chỉ tiêu"), "element_code"),
        ("  Mã   chỉ\ntiêu: ", "element_code"),
        ("Giá trị (số)", "value"),
        ("Khó khăn,vướng mắc", "difficulties"),
        ("Khó khăn – vướng mắc", "difficulties"),
        ("Đề xuất/kiến nghị", "proposals"),
        ("ĐVT", "measure"),
        ("Kỳ báo cáo", "period"),
        ("STT", ""),
        ("TT", ""),
        ("Người phụ trách", None),
    ],
)
def test_match_header(text: str, field: str | None) -> None:
    assert match_header(text) == field


def test_non_text_is_no_header() -> None:
    assert match_header(5.0) is None
    assert match_header(None) is None


def grid(rows: list[list[object]], top: int = 0, left: int = 0) -> Grid:
    return Grid("f.xlsx", "S", rows, top, left)


def test_table_with_offset_gives_excel_addresses() -> None:
    g = grid([VALUE_HEADER, ["1.1", "1.1.1", "x", "cuộc", 3, None]], top=4, left=2)
    (table,) = find_tables(g)
    assert table.columns["value"] == 4
    assert g.ref(table.data_rows[0], table.columns["value"]).address == "G6"


def test_title_rows_total_and_signature_are_not_data() -> None:
    rows: list[list[object]] = [
        ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
        ["Mã đơn vị", "THON-01"],
        VALUE_HEADER,
        ["1.1", "1.1.1", "Số khó khăn được tổng hợp, kiến nghị", "cuộc", 3],
        [],
        ["1.1", "1.1.2", "Chủ tịch chỉ đạo ngày 5 tháng 7 năm 2026", "lượt", 4],
        ["Cộng", None, None, None, 7],
        ["Người lập biểu", None, None, "Thủ trưởng đơn vị"],
        ["1.1", "9.9.9", None, None, 99],  # below the signature: not part of the table
    ]
    (table,) = find_tables(grid(rows))
    assert table.data_rows == [3, 5]


def test_two_tables_in_one_sheet() -> None:
    progress = ["Mã nhiệm vụ", "Tình trạng", "Kết quả đạt được"]
    rows: list[list[object]] = [
        VALUE_HEADER,
        ["1.1", "1.1.1", "x", "cuộc", 3],
        [],
        progress,
        ["1.1", "Hoàn thành", "Xong"],
    ]
    first, second = find_tables(grid(rows))
    assert first.gives_values and not first.gives_progress
    assert second.gives_progress and second.data_rows == [4]


def test_unknown_and_duplicate_columns() -> None:
    rows: list[list[object]] = [
        ["STT", "Mã chỉ tiêu", "Giá trị", "Người phụ trách", "Giá trị"],
        [1, "1.1.1", 3, "An", 4],
    ]
    (table,) = find_tables(grid(rows))
    assert table.columns == {"element_code": 1, "value": 2}
    assert table.unknown == [(3, "Người phụ trách")]
    assert table.duplicates == [(4, "value")]


def test_label_cells() -> None:
    rows: list[list[object]] = [
        ["Mã đơn vị", None, "THON-01"],
        ["Kỳ báo cáo:  Quý III/2026"],
        ["Mã đơn vị", None, "Kỳ báo cáo", "2026Q3"],  # empty unit value: not the next label
    ]
    found = [
        (name, value, ref.address)
        for name, value, ref in find_labels(grid(rows), ("unit_code", "period"))
    ]
    assert found == [
        ("unit_code", "THON-01", "C1"),
        ("period", "Quý III/2026", "A2"),
        ("period", "2026Q3", "D3"),
    ]
