"""The period report for the district and the province: an administrative workbook with native
charts, and the same workbook as a PDF for sending by email."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from core.settings import local_tz
from outputs.feedback import put

PERCENT = "0.0%"
NUMBER = "#,##0.##"
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_CHART_ROWS = 17  # rows kept free below a table for its chart (7.5 cm high)
MAIN_SHEET = "Báo cáo"
PLAN_TITLE = (
    "Kết quả thực hiện Kế hoạch phát triển khoa học, công nghệ, đổi mới sáng tạo "
    "và chuyển đổi số giai đoạn 2026-2030"
)


class ReportContent(Protocol):
    """What the report shows (`warehouse.report.ReportData` is one): rows as dictionaries."""

    @property
    def label(self) -> str:
        """The period in words, e.g. `quý III năm 2026`."""
        ...

    @property
    def years(self) -> tuple[int, ...]:
        """The plan years the report covers."""
        ...

    @property
    def sections(self) -> Mapping[str, list[dict[str, Any]]]:
        """completeness, missing, values, progress, indicators."""
        ...


@dataclass(frozen=True)
class Heading:
    """The administrative heading and signature of the report."""

    commune: str  # e.g. "Nghĩa Hưng"; a province's name when `level` is "TỈNH"
    signer_title: str = "CHỦ TỊCH"
    level: str = "XÃ"
    today: date | None = None


@dataclass
class _Table:
    first_row: int
    last_row: int  # inclusive, the totals row when there is one


def write_report_workbook(path: Path, data: ReportContent, heading: Heading) -> Path:
    """Write the report: the summary sheet with the heading, three charted tables and the
    signature block, then one sheet per detail table.

    Every text is written as text, so nothing a unit typed can become a formula.
    """
    book = Workbook()
    main = book.active
    assert main is not None
    main.title = MAIN_SHEET
    row = _heading(main, data, heading)
    row = _completeness_summary(main, data, row)
    row = _indicators(main, data, row)
    row = _task_status(main, data, row)
    _signature(main, row + 1, heading)
    _print_setup(main, landscape=False, title_rows=None)
    _completeness_detail(book.create_sheet("Mức đầy đủ"), data)
    _missing(book.create_sheet("Chưa nộp"), data)
    _values(book.create_sheet("Số liệu"), data)
    _narratives(book.create_sheet("Tiến độ"), data)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _heading(sheet: Worksheet, data: ReportContent, heading: Heading) -> int:
    today = heading.today or datetime.now(local_tz()).date()
    widths = (16, 38, 12, 12, 12, 12, 12, 12)
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    lines = (
        ("A1:C1", f"UBND {heading.level} {heading.commune.upper()}", Font(bold=True)),
        ("D1:H1", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", Font(bold=True)),
        ("A2:C2", "Số:      /BC-UBND", Font()),
        ("D2:H2", "Độc lập - Tự do - Hạnh phúc", Font(bold=True, underline="single")),
        (
            "D3:H3",
            f"{heading.commune}, ngày {today.day:02d} tháng {today.month:02d} năm {today.year}",
            Font(italic=True),
        ),
        ("A5:H5", "BÁO CÁO", Font(bold=True, size=14)),
        ("A6:H6", PLAN_TITLE, Font(bold=True)),
        ("A7:H7", f"Kỳ báo cáo: {data.label}", Font(italic=True)),
    )
    for cells, text, font in lines:
        sheet.merge_cells(cells)
        first = sheet[cells.split(":")[0]]
        put(first, text)
        first.font, first.alignment = font, _CENTER
    sheet.row_dimensions[6].height = 32
    return 9


def _section_title(sheet: Worksheet, row: int, text: str) -> int:
    put(sheet.cell(row, 1), text)
    sheet.cell(row, 1).font = _BOLD
    return row + 1


def _table(
    sheet: Worksheet,
    row: int,
    headings: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: dict[int, str] | None = None,
    totals: Sequence[bool] | None = None,
) -> _Table:
    """Headings, then rows; `formats` maps a 1-based column to a number format."""
    for col, text in enumerate(headings, start=1):
        cell = sheet.cell(row, col)
        put(cell, text)
        cell.font, cell.fill, cell.alignment, cell.border = _BOLD, _HEADER_FILL, _CENTER, _BOX
    for r, values in enumerate(rows, start=row + 1):
        is_total = bool(totals and totals[r - row - 1])
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(r, col)
            put(cell, _plain(value))
            cell.border, cell.alignment = _BOX, _WRAP
            if formats and col in formats:
                cell.number_format = formats[col]
            elif isinstance(value, float):
                cell.number_format = NUMBER
            if is_total:
                cell.font, cell.fill = _BOLD, _TOTAL_FILL
        _fit_height(sheet, r, values)
    _fit_height(sheet, row, headings)
    return _Table(row + 1, row + len(rows))


def _fit_height(sheet: Worksheet, row: int, values: Sequence[Any]) -> None:
    # Neither openpyxl nor LibreOffice's converter sizes wrapped rows; estimate the lines.
    lines = 1
    for col, value in enumerate(values, start=1):
        if isinstance(value, str) and value:
            width = sheet.column_dimensions[get_column_letter(col)].width or 10
            per_line = max(1, int(width * 1.2))
            lines = max(lines, sum(-(-len(part) // per_line) or 1 for part in value.split("\n")))
    sheet.row_dimensions[row].height = 13 * min(lines, 30) + 2


def _bar_chart(title: str, y_title: str, *, stacked: bool = False, percent: bool = False) -> Any:
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    chart.height, chart.width = 7.5, 17
    chart.legend.position = "b"
    # openpyxl hides axes unless told; LibreOffice and Excel then draw no labels.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    if percent:
        chart.y_axis.numFmt = "0%"
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 1
    if stacked:
        chart.grouping = "stacked"
        chart.overlap = 100
    return chart


def _completeness_summary(sheet: Worksheet, data: ReportContent, row: int) -> int:
    """I. The share of expected units with an accepted report, by unit type and quarter."""
    rows = data.sections["completeness"]
    periods = list(dict.fromkeys(r["period"] for r in rows))
    types = sorted({r["unit_type"] for r in rows if not r["is_total"]})
    share = {(r["period"], r["unit_type"]): r["accepted_share"] for r in rows}
    row = _section_title(sheet, row, "I. Mức độ đầy đủ báo cáo của các đơn vị")
    put(sheet.cell(row, 1), "Tỷ lệ đơn vị có báo cáo được chấp nhận, theo loại đơn vị và kỳ:")
    row += 1
    # Periods across, so a long plan fits: at most 7 columns of periods per block.
    body = [[t, *(share.get((p, t)) for p in periods[-7:])] for t in [*types, "Tổng cộng"]]
    table = _table(
        sheet,
        row,
        ["Loại đơn vị", *periods[-7:]],
        body,
        formats={c: PERCENT for c in range(2, 9)},
        totals=[False] * len(types) + [True],
    )
    if periods[:-7]:
        put(
            sheet.cell(table.last_row + 1, 1), f"(Các kỳ trước {periods[-7]}: xem sheet Mức đầy đủ)"
        )
    chart = _bar_chart("Tỷ lệ chấp nhận theo loại đơn vị, kỳ", "Tỷ lệ", percent=True)
    values = Reference(
        sheet, min_col=2, max_col=1 + len(periods[-7:]), min_row=row, max_row=table.last_row
    )
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=row + 1, max_row=table.last_row))
    anchor = table.last_row + 2
    sheet.add_chart(chart, f"A{anchor}")
    return anchor + _CHART_ROWS


def _indicators(sheet: Worksheet, data: ReportContent, row: int) -> int:
    """II. Each indicator and year: actual, target, percent of target, met."""
    rows = data.sections["indicators"]
    row = _section_title(sheet, row, "II. Các chỉ số của kế hoạch so với mục tiêu")
    body = [
        [
            f"{r['indicator_code']} ({r['year']})",
            r["indicator_name"],
            r["actual"],
            r["target"],
            r["share_of_target"],
            r["met"],
        ]
        for r in rows
    ]
    headings = ["Chỉ số (năm)", "Tên chỉ số", "Thực hiện", "Mục tiêu", "% mục tiêu", "Đánh giá"]
    table = _table(sheet, row, headings, body, formats={5: PERCENT})
    chart = _bar_chart("Chỉ số: thực hiện so với mục tiêu", "Giá trị")
    values = Reference(sheet, min_col=3, max_col=4, min_row=row, max_row=table.last_row)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=row + 1, max_row=table.last_row))
    anchor = table.last_row + 2
    sheet.add_chart(chart, f"A{anchor}")
    return anchor + _CHART_ROWS


def _task_status(sheet: Worksheet, data: ReportContent, row: int) -> int:
    """III. Units by status per task, the total last."""
    rows = data.sections["progress"]
    sheet.row_breaks.append(Break(id=row - 1))  # the task table and its chart on a fresh page
    row = _section_title(sheet, row, "III. Tình hình thực hiện các nhiệm vụ")
    keys = (
        "units_expected",
        "units_reported",
        "units_not_started",
        "units_in_progress",
        "units_completed",
    )
    # The full wording and the narratives are on sheet Tiến độ; here the table and its chart
    # share one page.
    body: list[list[Any]] = [
        [r["task_code"], _shorten(r["task_content"], 70), *(r[k] for k in keys)] for r in rows
    ]
    body.append(["Tổng cộng", "", *(sum(r[k] or 0 for r in rows) for k in keys)])
    headings = [
        "Nhiệm vụ",
        "Nội dung",
        "Đơn vị phải báo cáo",
        "Đã báo cáo",
        "Chưa triển khai",
        "Đang triển khai",
        "Hoàn thành",
    ]
    table = _table(sheet, row, headings, body, totals=[False] * len(rows) + [True])
    chart = _bar_chart("Trạng thái nhiệm vụ (số đơn vị)", "Số đơn vị", stacked=True)
    values = Reference(sheet, min_col=5, max_col=7, min_row=row, max_row=table.last_row - 1)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=row + 1, max_row=table.last_row - 1))
    anchor = table.last_row + 2
    sheet.add_chart(chart, f"A{anchor}")
    return anchor + _CHART_ROWS


def _shorten(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;.") + "…"


def _signature(sheet: Worksheet, row: int, heading: Heading) -> None:
    lines_left = (
        "Nơi nhận:",
        "- UBND tỉnh (Sở Khoa học và Công nghệ);",
        "- Thường trực Đảng ủy, HĐND xã;",
        "- Lưu: VT.",
    )
    for offset, text in enumerate(lines_left):
        cell = sheet.cell(row + offset, 1)
        put(cell, text)
        cell.font = Font(bold=offset == 0, italic=offset == 0, size=10)
    right = (
        ("TM. ỦY BAN NHÂN DÂN", _BOLD),
        (heading.signer_title, _BOLD),
        ("(Ký, ghi rõ họ tên, đóng dấu)", Font(italic=True)),
    )
    for offset, (text, font) in enumerate(right):
        sheet.merge_cells(
            start_row=row + offset, end_row=row + offset, start_column=5, end_column=8
        )
        cell = sheet.cell(row + offset, 5)
        put(cell, text)
        cell.font, cell.alignment = font, _CENTER


def _detail_sheet(sheet: Worksheet, title: str, widths: Sequence[int]) -> int:
    put(sheet.cell(1, 1), title)
    sheet.cell(1, 1).font = Font(bold=True, size=12)
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    return 3


def _completeness_detail(sheet: Worksheet, data: ReportContent) -> None:
    row = _detail_sheet(
        sheet, "Mức độ đầy đủ theo kỳ và loại đơn vị", (10, 18, 10, 10, 12, 10, 12, 12)
    )
    rows = data.sections["completeness"]
    body = [
        [
            r["period"],
            r["unit_type"],
            r["expected"],
            r["received"],
            r["accepted"],
            r["on_time"],
            r["accepted_share"],
            r["on_time_share"],
        ]
        for r in rows
    ]
    headings = [
        "Kỳ",
        "Loại đơn vị",
        "Phải nộp",
        "Đã nộp",
        "Được chấp nhận",
        "Đúng hạn",
        "Tỷ lệ chấp nhận",
        "Tỷ lệ đúng hạn",
    ]
    _table(sheet, row, headings, body, {7: PERCENT, 8: PERCENT}, [r["is_total"] for r in rows])
    _print_setup(sheet, landscape=False, title_rows=f"{row}:{row}")


def _missing(sheet: Worksheet, data: ReportContent) -> None:
    row = _detail_sheet(
        sheet, "Đơn vị chưa có báo cáo được chấp nhận", (10, 14, 34, 16, 10, 24, 18)
    )
    rows = data.sections["missing"]
    body: list[list[Any]] = [
        [
            r["period"],
            r["unit_code"],
            r["unit_name"],
            r["unit_type"],
            r["sent"],
            r["last_result"],
            r["last_received_at"],
        ]
        for r in rows
    ]
    body.append(["Tổng cộng", f"{len(rows)} lượt đơn vị", "", "", "", "", None])
    headings = [
        "Kỳ",
        "Mã đơn vị",
        "Tên đơn vị",
        "Loại đơn vị",
        "Đã gửi tệp",
        "Kết quả tệp cuối",
        "Nhận lúc",
    ]
    table = _table(sheet, row, headings, body, totals=[False] * len(rows) + [True])
    for r in range(table.first_row, table.last_row + 1):
        sheet.cell(r, 7).number_format = "dd/mm/yyyy hh:mm"
    _print_setup(sheet, landscape=True, title_rows=f"{row}:{row}")


def _values(sheet: Worksheet, data: ReportContent) -> None:
    row = _detail_sheet(
        sheet, "Số liệu các chỉ tiêu so với mục tiêu năm", (10, 40, 12, 8, 10, 12, 12, 12, 11, 16)
    )
    rows = data.sections["values"]
    one_year = len(data.years) == 1
    body = [
        [
            r["element_code"],
            r["element_name"],
            r["measure"],
            r["year"],
            r["units_reporting"],
            r["period_total"] if one_year else None,
            r["actual"],
            r["target"],
            r["share_of_target"],
            r["met"],
        ]
        for r in rows
    ]
    headings = [
        "Mã chỉ tiêu",
        "Tên chỉ tiêu",
        "Đơn vị tính",
        "Năm",
        "Số đơn vị báo cáo",
        "Trong kỳ",
        "Lũy kế năm",
        "Mục tiêu năm",
        "% mục tiêu",
        "Đánh giá",
    ]
    _table(sheet, row, headings, body, {9: PERCENT})
    _print_setup(sheet, landscape=True, title_rows=f"{row}:{row}")


def _narratives(sheet: Worksheet, data: ReportContent) -> None:
    row = _detail_sheet(
        sheet, "Kết quả, khó khăn và đề xuất của các đơn vị theo nhiệm vụ", (9, 34, 9, 40, 34, 34)
    )
    rows = data.sections["progress"]
    body = [
        [
            r["task_code"],
            r["task_content"],
            r["period"],
            r["results"],
            r["difficulties"],
            r["proposals"],
        ]
        for r in rows
    ]
    headings = [
        "Nhiệm vụ",
        "Nội dung",
        "Kỳ",
        "Kết quả đạt được",
        "Khó khăn, vướng mắc",
        "Đề xuất, kiến nghị",
    ]
    _table(sheet, row, headings, body)
    _print_setup(sheet, landscape=True, title_rows=f"{row}:{row}")


def _print_setup(sheet: Worksheet, *, landscape: bool, title_rows: str | None) -> None:
    """A4, one page wide, margins of an administrative document, page numbers in the footer."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left, sheet.page_margins.right = 0.8, 0.6
    sheet.page_margins.top, sheet.page_margins.bottom = 0.8, 0.8
    sheet.print_options.horizontalCentered = True
    sheet.oddFooter.center.text = "Trang &P/&N"
    if title_rows:
        sheet.print_title_rows = title_rows


def _plain(value: Any) -> Any:
    # Excel keeps no time zone; the report shows Vietnam's wall-clock time.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(local_tz()).replace(tzinfo=None)
    if isinstance(value, bool):
        return "có" if value else "không"
    return value


def workbook_to_pdf(workbook: Path, soffice: str = "soffice", timeout: float = 180) -> Path:
    """The workbook as a PDF beside it, printed by LibreOffice headless with its charts.

    Raises:
        OSError: LibreOffice is missing or did not produce the PDF (in Vietnamese).
    """
    binary = shutil.which(soffice)
    if binary is None:
        raise OSError("không thấy LibreOffice (soffice) để in báo cáo ra PDF")
    target = workbook.with_suffix(".pdf")
    # A private profile per run: two conversions at once must not share one.
    with tempfile.TemporaryDirectory(prefix="khcn-soffice-") as profile:
        outdir = Path(profile) / "out"
        command = [
            binary,
            f"-env:UserInstallation=file://{profile}/user",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            str(workbook),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            raise OSError(f"LibreOffice quá {timeout:.0f} giây chưa in xong {workbook}") from None
        made = outdir / (workbook.stem + ".pdf")
        if not made.is_file():
            raise OSError(f"LibreOffice không in được {workbook} ra PDF")
        shutil.move(made, target)
    return target
