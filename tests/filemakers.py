"""Small writers of real spreadsheet files for the tests: one grid of rows, every format.

A sheet is a list of rows, each a list of cells (None for blank). `write(path, sheets)` picks
the format from the suffix: .xlsx/.xlsm (openpyxl), .xls (xlwt), .ods (odfpy), .csv (first
sheet only; `encoding` and `delimiter` choose the dialect).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import openpyxl
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from outputs.template import PROGRESS_HEADERS, VALUE_HEADERS

Rows = Sequence[Sequence[object]]

MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO2 = "Độc lập - Tự do - Hạnh phúc"
TITLE = "BÁO CÁO KẾT QUẢ THỰC HIỆN NHIỆM VỤ KHCN, ĐMST VÀ CĐS"
VALUE_HEADER = list(VALUE_HEADERS)
PROGRESS_HEADER = list(PROGRESS_HEADERS)
ELEMENTS = [
    ("1.1", "1.1.1", "Số hội nghị quán triệt, tập huấn", "cuộc"),
    ("1.1", "1.1.2", "Số lượt người tham dự hội nghị, tập huấn", "lượt người"),
    ("3.1", "3.1.1", "Chi ngân sách cho KHCN, ĐMST và chuyển đổi số", "triệu đồng"),
]
VALUES: list[object] = [3, 120, 1234.5]
PROGRESS = [
    ["1.1", "Quán triệt Nghị quyết 57", "Hoàn thành", "Tổ chức 3 hội nghị", None, None,
     "Số 15/KH-UBND ngày 20/7/2026"],
    ["3.1", "Bố trí ngân sách", "Đang triển khai", None, "Thiếu kinh phí", "Bổ sung dự toán",
     None],
]  # fmt: skip


def value_rows(values: Sequence[object] = VALUES) -> list[list[object]]:
    """The element rows of the `Chỉ tiêu` table with the given values."""
    return [[*element, value, None] for element, value in zip(ELEMENTS, values, strict=True)]


def head(unit: object = "THON-01", period: object = "2026Q3") -> list[list[object]]:
    """Motto, title and the label rows of the template, then a blank row (7 rows)."""
    return [
        [MOTTO],
        [MOTTO2],
        [TITLE],
        ["Mã đơn vị", unit],
        ["Tên đơn vị", "Thôn 1"],
        ["Kỳ báo cáo", period],
        [],
    ]


def template(
    unit: str = "THON-01", period: str = "2026Q3", values: Sequence[object] = VALUES
) -> dict[str, Rows]:
    """The sheets of the workbook the service hands out, filled in."""
    return {
        "Hướng dẫn": [["Điền số liệu vào cột Giá trị."], ["Mã chỉ tiêu", "Ý nghĩa"]],
        "Chỉ tiêu": [*head(unit, period), VALUE_HEADER, *value_rows(values)],
        "Tiến độ": [*head(unit, period), PROGRESS_HEADER, *PROGRESS],
        "_khcn": [["template_version", "2026.1"], ["unit_code", unit], ["period", period]],
    }


def csv_rows(unit: str = "THON-01", period: str = "2026Q3") -> list[list[object]]:
    """The template's CSV copy: one long table of value rows then progress rows."""
    header = ["Mã đơn vị", "Kỳ báo cáo", *VALUE_HEADER, *PROGRESS_HEADER[2:]]
    rows: list[list[object]] = [header]
    for element, value in zip(ELEMENTS, VALUES, strict=True):
        rows.append([unit, period, *element, value, None, None, None, None, None, None])
    for row in PROGRESS:
        rows.append([unit, period, row[0], None, None, None, None, None, *row[2:]])
    return rows


def write(
    path: Path,
    sheets: Mapping[str, Rows],
    *,
    hidden: Sequence[str] = ("_khcn",),
    merges: Mapping[str, Sequence[str]] | None = None,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    """Writes the sheets to `path` in the format of its suffix; returns `path`."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv(path, next(iter(sheets.values())), encoding=encoding, delimiter=delimiter)
    elif suffix == ".xls":
        path.write_bytes(xls_bytes(sheets))
    elif suffix == ".ods":
        path.write_bytes(ods_bytes(sheets))
    elif suffix == ".xlsm":
        path.write_bytes(xlsm_bytes(xlsx_bytes(sheets, hidden=hidden, merges=merges)))
    else:
        path.write_bytes(xlsx_bytes(sheets, hidden=hidden, merges=merges))
    return path


def xlsx_bytes(
    sheets: Mapping[str, Rows],
    *,
    hidden: Sequence[str] = ("_khcn",),
    merges: Mapping[str, Sequence[str]] | None = None,
    text_codes: bool = True,
) -> bytes:
    """An .xlsx of the sheets; code-like strings are stored as text, as the template does."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        for cells in (merges or {}).get(name, ()):
            sheet.merge_cells(cells)
        if name in hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xls_bytes(sheets: Mapping[str, Rows]) -> bytes:
    """A legacy .xls (BIFF8) of the sheets."""
    book = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        if name == "_khcn":
            sheet.visibility = 1
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                if cell is None:
                    continue
                if isinstance(cell, dt.date):
                    sheet.write(i, j, cell, date_style)
                else:
                    sheet.write(i, j, cell)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def ods_bytes(sheets: Mapping[str, Rows]) -> bytes:
    """An OpenDocument spreadsheet of the sheets."""
    doc = OpenDocumentSpreadsheet()
    for name, rows in sheets.items():
        table = Table(name=name)
        for row in rows:
            table_row = TableRow()
            for cell in row:
                if cell is None:
                    table_row.addElement(TableCell())
                elif isinstance(cell, int | float) and not isinstance(cell, bool):
                    table_row.addElement(TableCell(valuetype="float", value=cell))
                else:
                    element = TableCell(valuetype="string")
                    element.addElement(P(text=str(cell)))
                    table_row.addElement(element)
            table.addElement(table_row)
        doc.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    doc.write(buffer)
    return buffer.getvalue()


def write_csv(path: Path, rows: Rows, *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    """A CSV of the rows in the given encoding (`utf-8-sig`, `utf-16`, `cp1258`…)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    text = buffer.getvalue()
    if encoding == "cp1258":
        text = to_cp1258_form(text)
    path.write_bytes(text.encode(encoding))
    return path


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258_form(text: str) -> str:
    """Text as Windows-1258 holds it: base letters plus combining tone marks.

    Windows-1258 has precomposed letters only for the vowel shapes (â, ê, ô, ơ, ư, ă, đ) and a
    few toned letters; tones are separate combining marks.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            ch.encode("cp1258")
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", ch)
        tones = "".join(m for m in decomposed[1:] if m in _TONES)
        shape = "".join(m for m in decomposed[1:] if m not in _TONES)
        out.append(unicodedata.normalize("NFC", decomposed[0] + shape) + tones)
    return "".join(out)


def patch_zip(data: bytes, changes: Mapping[str, bytes | Callable[[bytes], bytes] | None]) -> bytes:
    """A copy of a zip with some parts replaced (bytes), rewritten (function) or added.

    A part mapped to None is dropped; parts not in the zip are appended.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        names = source.namelist()
        for name in names:
            content = source.read(name)
            if name in changes:
                change = changes[name]
                if change is None:
                    continue
                content = change(content) if callable(change) else change
            out.writestr(name, content)
        for name, change in changes.items():
            if name not in names and isinstance(change, bytes):
                out.writestr(name, change)
    return buffer.getvalue()


def xlsm_bytes(xlsx: bytes) -> bytes:
    """The .xlsx made macro-enabled: the macro content type and a VBA project part."""

    def content_types(xml: bytes) -> bytes:
        xml = xml.replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        )
        return xml.replace(
            b"</Types>",
            b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            b"</Types>",
        )

    def rels(xml: bytes) -> bytes:
        return xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdVba" '
            b'Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
            b'Target="vbaProject.bin"/></Relationships>',
        )

    # Not a working VBA project: a reader must never need one, let alone run it.
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Sub AutoOpen(): Shell "calc": End Sub' * 8
    return patch_zip(
        xlsx,
        {
            "[Content_Types].xml": content_types,
            "xl/_rels/workbook.xml.rels": rels,
            "xl/vbaProject.bin": vba,
        },
    )
