"""Pre-filled submission workbooks: the contract with the units."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from schemas.model import STATUSES, Unit
from schemas.periods import Period, parse_period
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


def write_template(schema: Schema, unit: Unit, period: Period | str, path: Path) -> Path:
    """Write one unit's workbook for a period, pre-filled with what it must report.

    Args:
        schema: the task schema.
        unit: the reporting unit.
        period: the reporting period, e.g. `2026Q3`.
        path: the file to write, or a folder to write `<UNIT>_<PERIOD>.xlsx` into.

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
    guide.column_dimensions["A"].width = 100

    values = book.create_sheet(VALUES_SHEET)
    _heading(values, unit, period, "BÁO CÁO SỐ LIỆU CHỈ TIÊU", len(VALUE_HEADERS))
    rows = [
        (task.code, element.code, element.name, element.measure)
        for task in tasks
        for element in schema.elements_of(task)
    ]
    _table(values, VALUE_HEADERS, rows, inputs=("Giá trị", "Ghi chú"))
    for row in range(HEADER_ROW + 1, HEADER_ROW + 1 + len(rows)):
        values.cell(row, VALUE_HEADERS.index("Giá trị") + 1).number_format = "#,##0.##"
    _widths(values, (12, 12, 60, 14, 14, 30))

    progress = book.create_sheet(PROGRESS_SHEET)
    _heading(progress, unit, period, "BÁO CÁO TIẾN ĐỘ NHIỆM VỤ", len(PROGRESS_HEADERS))
    _table(
        progress,
        PROGRESS_HEADERS,
        [(task.code, task.content) for task in tasks],
        inputs=PROGRESS_HEADERS[2:],
    )
    _status_dropdown(progress, len(tasks))
    _widths(progress, (12, 60, 18, 40, 30, 30, 30))

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


def _heading(sheet: Worksheet, unit: Unit, period: Period, title: str, width: int) -> None:
    last = get_column_letter(width)
    for row, text in enumerate(
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", title), start=1
    ):
        sheet.cell(row, 1, text).font = _BOLD
        sheet.cell(row, 1).alignment = Alignment(horizontal="center")
        sheet.merge_cells(f"A{row}:{last}{row}")
    for label, row in LABEL_ROWS.items():
        sheet.cell(row, 1, label).font = _BOLD
        value = {"Mã đơn vị": unit.code, "Tên đơn vị": unit.name, "Kỳ báo cáo": str(period)}[label]
        cell = sheet.cell(row, 2, value)
        cell.number_format = "@"
    sheet.cell(LABEL_ROWS["Kỳ báo cáo"], 3, f"({period.start:%d/%m/%Y} - {period.end:%d/%m/%Y})")


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
