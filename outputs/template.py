"""Pre-filled submission workbooks: the contract with the units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from core.periods import Period, parse_period
from schemas.model import STATUSES, Unit
from schemas.schema import Schema

TEMPLATE_VERSION = "2026.1"
META_SHEET = "_khcn"
VALUES_SHEET = "Chỉ tiêu"
PROGRESS_SHEET = "Tiến độ"
GUIDE_SHEET = "Hướng dẫn"
VALUE_HEADERS = ("Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú")
PROGRESS_HEADERS = (
    "Mã nhiệm vụ",
    "Nội dung nhiệm vụ",
    "Tình trạng",
    "Kết quả đạt được",
    "Khó khăn, vướng mắc",
    "Đề xuất, kiến nghị",
    "Minh chứng",
)
# Where the tables start: motto, title, unit and period above them.
LABEL_ROWS = {"Mã đơn vị": 5, "Tên đơn vị": 6, "Kỳ báo cáo": 7}
HEADER_ROW = 9

_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_OPEN = Protection(locked=False)
_FIXED_FILL = PatternFill("solid", fgColor="EDEDED")
# Element types reported as whole numbers (the V-VALUE-WHOLE check), the rest as amounts.
_WHOLE_TYPES = ("count", "stock")

GUIDE = [
    "HƯỚNG DẪN ĐIỀN BÁO CÁO",
    "",
    "1. Trang «Chỉ tiêu»: ghi số liệu của kỳ báo cáo vào cột «Giá trị» (ô nền vàng).",
    "   - Chỉ ghi con số, ví dụ 12 hoặc 1.234,5. Không ghi chữ vào cột «Giá trị».",
    "   - Chưa có số liệu thì để trống; đã làm nhưng bằng 0 thì ghi 0.",
    "   - Kinh phí ghi theo đơn vị triệu đồng (ví dụ 150 là 150 triệu đồng).",
    "   - Giải thích, nếu có, ghi vào cột «Ghi chú».",
    "2. Trang «Tiến độ»: với mỗi nhiệm vụ, chọn «Tình trạng» trong danh sách và ghi kết quả,",
    "   khó khăn, đề xuất; cột «Minh chứng» ghi số, tên, ngày văn bản",
    "   (ví dụ: Số 15/KH-UBND ngày 20/7/2026).",
    "3. Không sửa mã đơn vị, kỳ báo cáo, mã nhiệm vụ, mã chỉ tiêu; không thêm, xoá cột.",
    "4. Lưu tệp (giữ dạng .xlsx, giữ tên tệp) và gửi lại cho cán bộ tổng hợp của xã.",
    "5. Nếu báo cáo có lỗi, xã gửi lại tệp phản hồi: trang «Lỗi cần sửa» chỉ rõ trang, ô",
    "   và cách sửa; sửa trên tệp của đơn vị rồi gửi lại.",
]


def template_name(unit: Unit, period: Period) -> str:
    return f"{unit.code}_{period}.xlsx"


def write_template(
    schema: Schema,
    unit: Unit,
    period: Period | str,
    path: Path,
    commune: str = "Nghĩa Hưng",
) -> Path:
    """Write one unit's workbook for a period, pre-filled with what it must report.

    Value cells accept only numbers ≥ 0 (whole numbers for counts), with a Vietnamese message;
    the unit and period cells are locked; every sheet prints on A4, fitted to its width, under
    the commune's heading and above a signature block.

    Args:
        schema: the task schema.
        unit: the reporting unit.
        period: the reporting period, e.g. `2026Q3`.
        path: the file to write, or a folder to write `<UNIT>_<PERIOD>.xlsx` into.
        commune: the commune's name, for the heading.

    Returns:
        The path written.
    """
    period = parse_period(period) if isinstance(period, str) else period
    if path.is_dir():
        path = path / template_name(unit, period)
    tasks = schema.tasks_due(unit, period)
    book = Workbook()
    guide = book.active
    assert guide is not None
    guide.title = GUIDE_SHEET
    for line in GUIDE:
        guide.append([line])
    guide["A1"].font = Font(bold=True, size=13)
    guide.column_dimensions["A"].width = 95
    _print_setup(guide, commune, landscape=False)

    values = book.create_sheet(VALUES_SHEET)
    _heading(values, unit, period, "BÁO CÁO SỐ LIỆU CHỈ TIÊU", len(VALUE_HEADERS), commune)
    elements = [(task, element) for task in tasks for element in schema.elements_of(task)]
    rows = [(t.code, e.code, e.name, e.measure) for t, e in elements]
    _table(values, VALUE_HEADERS, rows, inputs=("Giá trị", "Ghi chú"))
    for row in range(HEADER_ROW + 1, HEADER_ROW + 1 + len(rows)):
        values.cell(row, VALUE_HEADERS.index("Giá trị") + 1).number_format = "#,##0.##"
    _value_validation(values, [e.type in _WHOLE_TYPES for _, e in elements])
    _widths(values, (12, 12, 60, 14, 14, 30))
    _signature(values, HEADER_ROW + len(rows) + 2, len(VALUE_HEADERS), commune)
    _print_setup(values, commune, landscape=True)

    progress = book.create_sheet(PROGRESS_SHEET)
    _heading(progress, unit, period, "BÁO CÁO TIẾN ĐỘ NHIỆM VỤ", len(PROGRESS_HEADERS), commune)
    _table(
        progress,
        PROGRESS_HEADERS,
        [(task.code, task.content) for task in tasks],
        inputs=PROGRESS_HEADERS[2:],
    )
    _status_dropdown(progress, len(tasks))
    _widths(progress, (12, 60, 18, 40, 30, 30, 30))
    _signature(progress, HEADER_ROW + len(tasks) + 2, len(PROGRESS_HEADERS), commune)
    _print_setup(progress, commune, landscape=True)

    meta = book.create_sheet(META_SHEET)
    for key, value in (
        ("template_version", TEMPLATE_VERSION),
        ("unit_code", unit.code),
        ("period", str(period)),
    ):
        meta.append([key, value])
    meta.sheet_state = "veryHidden"
    book.active = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _heading(
    sheet: Worksheet, unit: Unit, period: Period, title: str, width: int, commune: str
) -> None:
    """The official heading: the commune and unit on the left, the national motto on the
    right, the title below; then the unit and period, shown but locked."""
    last = get_column_letter(width)
    left = (f"UBND XÃ {commune.upper()}", unit.name.upper())
    right = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
    for row in (1, 2):
        sheet.cell(row, 1, left[row - 1]).font = _BOLD
        sheet.cell(row, 1).alignment = Alignment(horizontal="center", wrap_text=True)
        sheet.merge_cells(f"A{row}:B{row}")
        sheet.cell(row, 3, right[row - 1]).font = _BOLD
        sheet.cell(row, 3).alignment = Alignment(horizontal="center")
        sheet.merge_cells(f"C{row}:{last}{row}")
    sheet.cell(3, 1, title).font = Font(bold=True, size=13)
    sheet.cell(3, 1).alignment = Alignment(horizontal="center")
    sheet.merge_cells(f"A3:{last}3")
    for label, row in LABEL_ROWS.items():
        sheet.cell(row, 1, label).font = _BOLD
        value = {"Mã đơn vị": unit.code, "Tên đơn vị": unit.name, "Kỳ báo cáo": str(period)}[label]
        cell = sheet.cell(row, 2, value)
        # Filled in by the commune: the sheet protection keeps them as issued (the hidden
        # `_khcn` sheet holds the same values, and wins if they are typed over anyway).
        cell.number_format = "@"
        cell.fill = _FIXED_FILL
        cell.protection = Protection(locked=True)
    sheet.cell(LABEL_ROWS["Kỳ báo cáo"], 3, f"({period.start:%d/%m/%Y} - {period.end:%d/%m/%Y})")
    sheet.cell(LABEL_ROWS["Mã đơn vị"], 3, "(xã điền sẵn, không sửa)").font = Font(italic=True)


def _value_validation(sheet: Worksheet, whole: list[bool]) -> None:
    """Excel refuses, with a Vietnamese message, anything but a number ≥ 0 in a value cell."""
    column = get_column_letter(VALUE_HEADERS.index("Giá trị") + 1)
    for is_whole, kind, what in (
        (True, "whole", "một số nguyên không âm (0, 1, 2…)"),
        (False, "decimal", "một số không âm, ví dụ 12 hoặc 1234,5"),
    ):
        rows = [HEADER_ROW + 1 + i for i, w in enumerate(whole) if w == is_whole]
        if not rows:
            continue
        rule = DataValidation(
            type=kind,
            operator="greaterThanOrEqual",
            formula1="0",
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop",
            errorTitle="Giá trị không hợp lệ",
            error=f"Ô này chỉ nhận {what}. Không ghi chữ hay đơn vị tính; "
            "giải thích ghi vào cột «Ghi chú».",
            showInputMessage=True,
            promptTitle="Giá trị",
            prompt=f"Ghi {what}; chưa có số liệu thì để trống.",
        )
        for row in rows:
            rule.add(f"{column}{row}")
        sheet.add_data_validation(rule)


def _signature(sheet: Worksheet, row: int, width: int, commune: str) -> None:
    """The signature block under the table: place and date, who made it, the head of the unit.

    It opens with the place, as official documents do; the reader ends the table there.
    """
    last = get_column_letter(width)
    right = f"{get_column_letter(width - 1)}{{row}}:{last}{{row}}"
    sheet.cell(row, width - 1, f"{commune}, ngày ..... tháng ..... năm ........")
    sheet.cell(row, width - 1).alignment = Alignment(horizontal="center")
    sheet.merge_cells(right.format(row=row))
    for offset, (who, how) in enumerate(
        (("NGƯỜI LẬP BIỂU", "THỦ TRƯỞNG ĐƠN VỊ"), ("(Ký, ghi rõ họ tên)", "(Ký tên, đóng dấu)")),
        start=1,
    ):
        style = _BOLD if offset == 1 else Font(italic=True)
        sheet.cell(row + offset, 2, who).font = style
        sheet.cell(row + offset, 2).alignment = Alignment(horizontal="center")
        sheet.cell(row + offset, width - 1, how).font = style
        sheet.cell(row + offset, width - 1).alignment = Alignment(horizontal="center")
        sheet.merge_cells(right.format(row=row + offset))


def _print_setup(sheet: Worksheet, commune: str, landscape: bool) -> None:
    """A4, fitted to the page width, the table's header repeated on every page."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = landscape
    sheet.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    if sheet.title != GUIDE_SHEET:
        sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.oddFooter.center.text = f"UBND xã {commune} - Trang &P/&N"


def _table(
    sheet: Worksheet,
    headers: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    inputs: tuple[str, ...],
) -> None:
    for col, header in enumerate(headers, start=1):
        cell = sheet.cell(HEADER_ROW, col, header)
        cell.font, cell.fill, cell.border, cell.alignment = _BOLD, _HEADER_FILL, _BOX, _WRAP
    open_cols = {headers.index(name) + 1 for name in inputs}
    for offset, values in enumerate(rows, start=1):
        row = HEADER_ROW + offset
        for col in range(1, len(headers) + 1):
            cell = sheet.cell(row, col, values[col - 1] if col <= len(values) else None)
            cell.border, cell.alignment = _BOX, _WRAP
            if col in open_cols:
                cell.protection, cell.fill = _OPEN, _INPUT_FILL
            else:
                # Codes stay text, so Excel never turns 1.10 into 1.1 or 1.2 into a date.
                cell.number_format = "@"
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 1)
    # Units fill the yellow cells; everything that identifies a row is locked.
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False


def _status_dropdown(sheet: Worksheet, count: int) -> None:
    if not count:
        return
    column = get_column_letter(PROGRESS_HEADERS.index("Tình trạng") + 1)
    rule = DataValidation(
        type="list",
        formula1='"' + ",".join(STATUSES) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Tình trạng",
        error="Chọn một trong: " + ", ".join(STATUSES),
    )
    rule.add(f"{column}{HEADER_ROW + 1}:{column}{HEADER_ROW + count}")
    sheet.add_data_validation(rule)
    sheet.cell(HEADER_ROW, PROGRESS_HEADERS.index("Tình trạng") + 1).comment = Comment(
        "Chọn trong danh sách: " + ", ".join(STATUSES), "khcn"
    )


def _widths(sheet: Worksheet, widths: tuple[int, ...]) -> None:
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    # Office suites do not grow a row for wrapped text written by another program: rows whose
    # pre-filled text wraps get the height of its lines (the heading's two merged blocks too).
    for row in (1, 2, *range(HEADER_ROW, sheet.max_row + 1)):
        lines = 1
        for col, width in enumerate(widths, start=1):
            value = sheet.cell(row, col).value
            room = sum(widths[:2]) if row in (1, 2) and col == 1 else width
            if isinstance(value, str) and room > 2:
                lines = max(lines, math.ceil(len(value) / (room - 1)))
        if lines > 1:
            sheet.row_dimensions[row].height = 13 * lines + 3
