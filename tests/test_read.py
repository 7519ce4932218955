"""Reading whole files: every format, unit and period sources, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from filemakers import (
    VALUE_HEADER,
    csv_rows,
    head,
    template,
    value_rows,
    write,
    write_csv,
    xlsx_bytes,
)

from sources.inbox import InboxEntry
from sources.read import read_bytes, read_many, read_path

GOOD = [("1.1", "1.1.1", 3), ("1.1", "1.1.2", 120), ("3.1", "3.1.1", 1234.5)]


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm", ".xls", ".ods"])
def test_the_template_in_every_workbook_format(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"bao-cao{suffix}", template())
    sub = read_path(path)
    assert [(v.task_code, v.element_code, v.value) for v in sub.values] == GOOD
    assert (sub.unit_code, sub.period, sub.template_version) == ("THON-01", "2026Q3", "2026.1")
    assert [p.task_code for p in sub.progress] == ["1.1", "3.1"]
    assert sub.progress[0].evidence == "Số 15/KH-UBND ngày 20/7/2026"
    assert sub.progress[1].proposals == "Bổ sung dự toán"
    assert sub.issues == []
    value = sub.values[2]
    assert (value.ref.file, value.ref.sheet, value.ref.address) == (str(path), "Chỉ tiêu", "E11")
    assert value.refs["measure"].address == "D11"
    assert sub.progress[1].refs["difficulties"].address == "E10"
    assert sub.size == path.stat().st_size and len(sub.sha256) == 64


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("utf-16", "\t"), ("cp1258", ";"), ("cp1258", ",")],
)
def test_csv_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    path = write_csv(tmp_path / "x.csv", csv_rows(), encoding=encoding, delimiter=delimiter)
    sub = read_path(path)
    assert [(v.task_code, v.element_code, v.value) for v in sub.values] == GOOD
    assert [p.status for p in sub.progress] == ["Hoàn thành", "Đang triển khai"]
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_csv_unit_conflict_between_rows(tmp_path: Path) -> None:
    rows = csv_rows()
    rows[2][0] = "THON-09"
    sub = read_path(write_csv(tmp_path / "x.csv", rows))
    assert [(i.code, i.ref.address if i.ref else None) for i in sub.issues] == [
        ("R-UNIT-CONFLICT", "A3")
    ]


def test_unit_and_period_from_file_name_then_folder() -> None:
    data = write_bytes({"Chỉ tiêu": [VALUE_HEADER, *value_rows()]})
    by_name = read_bytes(data, "inbox/THON-01_Quy3-2026.xlsx")
    assert (by_name.unit_code, by_name.period, by_name.issues) == ("THON-01", "2026Q3", [])
    by_folder = read_bytes(data, "inbox/THON-02/bao-cao.xlsx", unit_folder="THON-02")
    assert by_folder.unit_code == "THON-02"
    assert [i.code for i in by_folder.issues] == ["R-PERIOD-MISSING"]
    both = read_bytes(data, "inbox/THON-02/THON-01_2026Q3.xlsx", unit_folder="THON-02")
    assert [i.code for i in both.issues] == ["R-UNIT-CONFLICT"]
    assert "THON-01" in both.issues[0].message and "THON-02" in both.issues[0].message


def test_visible_cell_contradicting_the_template_names_the_cell() -> None:
    sheets = dict(template())
    sheets["_khcn"] = [["unit_code", "THON-01"], ["period", "2026Q2"]]
    sub = read_bytes(write_bytes(sheets), "x.xlsx")
    # Filed under the period the commune issued the workbook for, not the one typed over it.
    assert sub.period == "2026Q2"
    # Each sheet's period cell is named: both are to be fixed.
    assert {i.code for i in sub.issues} == {"R-PERIOD-TEMPLATE"}
    for found in sub.issues:
        assert found.ref is not None
        assert f"Trang tính '{found.ref.sheet}', ô {found.ref.address}" in found.message
        assert "_khcn" not in found.message and "Ghi lại '2026Q2' vào ô này" in found.message


def test_visible_unit_contradicting_the_template_names_the_cell() -> None:
    sheets = dict(template())
    sheets["_khcn"] = [["unit_code", "THON-02"], ["period", "2026Q3"]]
    sub = read_bytes(write_bytes(sheets), "x.xlsx")
    assert sub.unit_code == "THON-02"
    assert sub.issues and {i.code for i in sub.issues} == {"R-UNIT-TEMPLATE"}
    assert all("Ghi lại 'THON-02' vào ô này" in i.message for i in sub.issues)


def test_missing_value_column_is_reported() -> None:
    rows = [["Mã chỉ tiêu", "Tên chỉ tiêu"], ["1.1.1", "x"]]
    sub = read_bytes(write_bytes({"S": [*head(), *rows]}), "x.xlsx")
    assert [i.code for i in sub.issues] == ["R-COLUMN-MISSING"]
    assert sub.values[0].value is None


def test_value_without_element_code() -> None:
    rows = [VALUE_HEADER, ["1.1", None, "x", "cuộc", 5]]
    sub = read_bytes(write_bytes({"S": [*head(), *rows]}), "x.xlsx")
    assert [(i.code, i.ref.address if i.ref else None) for i in sub.issues] == [
        ("R-CODE-MISSING", "B9")
    ]


def test_read_many_keeps_order_and_reads_in_workers(tmp_path: Path) -> None:
    paths = [
        write(tmp_path / f"THON-{k:02d}_2026Q3.xlsx", template(f"THON-{k:02d}")) for k in range(5)
    ]
    paths.insert(2, tmp_path / "broken.xlsx")
    paths[2].write_bytes(b"not a workbook")
    entries = [InboxEntry(str(p), p.name, p.stat().st_size, None) for p in paths]
    subs = read_many(entries, workers=2, chunk_size=2)
    assert [s.name for s in subs] == [p.name for p in paths]
    assert [s.unit_code for s in subs] == [
        "THON-00",
        "THON-01",
        None,
        "THON-02",
        "THON-03",
        "THON-04",
    ]
    assert [s.unreadable for s in subs] == [False, False, True, False, False, False]


def write_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    return xlsx_bytes(sheets)
