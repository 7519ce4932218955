"""Feedback workbooks: the unit's own workbook with every finding marked, for the unit officer.

For each rejected or warned submission, `write_feedback` writes
`<outbox>/<UNIT>/<original stem>_phan-hoi.xlsx`: a copy of what the unit sent where each
offending cell is filled (red for an error, yellow for a warning) and carries a comment, and a
first sheet `Lỗi cần sửa` listing sheet, cell, code, what is wrong and how to fix it.

.xlsx/.xlsm originals are opened with openpyxl, without macros or external links, and saved as
.xlsx. Formulas are not carried over: a formula cell keeps its last computed value, or shows its
formula as text when Excel never computed it, so the feedback file holds no formula at all.
.xls, .ods and .csv originals are rebuilt cell by cell (python-calamine, or the CSV text) into an
.xlsx with the same sheets and addresses. An unreadable original is never opened again (it may
be a zip or XML bomb): its feedback is the `Lỗi cần sửa` sheet alone.

Every string is written as a string cell, never a formula, whatever it starts with; strings that
spreadsheet programs would take for a formula when retyped or exported to CSV (`=`, `+`, `-`,
`@`, tab, CR, also after leading spaces, per OWASP's CSV-injection guidance) are additionally
marked with Excel's quote prefix. Numbers, dates and booleans are written as such.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from khcn.text import canonical, decode_text, fold
from schemas.suites import PERIOD_CODES, UNIT_CODES, split_message
from schemas.verdict import Finding, Verdict

FEEDBACK_SHEET = "Lỗi cần sửa"
FEEDBACK_HEADERS = ("STT", "Trang tính", "Ô", "Mã lỗi", "Lỗi", "Cách sửa")
UNKNOWN_UNIT_FOLDER = "khong-ro-don-vi"
SUFFIX = "_phan-hoi.xlsx"
COMMENT_AUTHOR = "Tổng hợp KHCN xã"

# First characters that make a spreadsheet program evaluate typed or imported text (OWASP),
# with their full-width forms, which some programs fold to the ASCII ones.
_RISKY_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP = Alignment(wrap_text=True, vertical="top")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_PLAIN_INTEGER = re.compile(r"^-?(?:0|[1-9]\d{0,14})$")
_LABELS = {"unit_code": "Mã đơn vị", "period": "Kỳ báo cáo"}
_LABEL_SCAN_ROWS = 40


def is_risky(text: str) -> bool:
    """Whether a spreadsheet program could take this text for a formula (OWASP CSV injection)."""
    stripped = text.lstrip(" \u00a0")
    return bool(stripped) and stripped[0] in _RISKY_START


def put(cell: Cell, value: object) -> None:
    """Writes a value that can never become a formula; numbers, dates and booleans stay so."""
    if isinstance(value, str):
        cell.value = value
        # openpyxl makes any string starting with "=" a formula; force a string cell.
        cell.data_type = "s"
        if is_risky(value):
            cell.quotePrefix = True
    elif value is None or isinstance(value, bool | int | float | dt.datetime | dt.date | dt.time):
        cell.value = value
    else:
        put(cell, str(value))


def _folder(unit_code: str | None) -> str:
    """A folder name from a unit code that may be anything a unit typed (no `..`, no `/`)."""
    name = _SAFE_NAME.sub("-", unit_code or "").strip(".-")
    return name or UNKNOWN_UNIT_FOLDER


def _sheet_title(name: str, taken: set[str]) -> str:
    title = _SHEET_FORBIDDEN.sub("_", name).strip("'")[:31] or "Sheet"
    base, n = title, 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


# ---------------------------------------------------------------------------------------------
# The copy of the unit's workbook


def _open_xlsx(path: Path) -> tuple[Workbook, dict[str, str]]:
    """The workbook with cached values in place of formulas (formula text when never computed)."""
    book = load_workbook(path, data_only=True, keep_vba=False, keep_links=False)
    formulas = load_workbook(path, data_only=False, keep_vba=False, keep_links=False)
    for sheet in book.worksheets:
        source = formulas[sheet.title]
        for row in source.iter_rows():
            for original in row:
                target = sheet.cell(original.row, original.column)
                if original.data_type == "f" and target.value is None:
                    text = getattr(original.value, "text", original.value)
                    put(target, str(text))
                elif isinstance(target.value, str) and is_risky(target.value):
                    target.quotePrefix = True
    return book, {name: name for name in book.sheetnames}


def _rebuild(
    sheets: list[tuple[str, list[list[Any]], int, int, bool]],
) -> tuple[Workbook, dict[str, str]]:
    """An .xlsx with the given grids at their original addresses."""
    book = Workbook()
    book.remove(book.worksheets[0])
    names: dict[str, str] = {}
    taken: set[str] = {FEEDBACK_SHEET.lower()}
    for name, rows, top, left, visible in sheets:
        sheet = book.create_sheet(_sheet_title(name, taken))
        names[name] = sheet.title
        if not visible:
            sheet.sheet_state = "hidden"
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is None or value == "":
                    continue
                put(sheet.cell(top + i + 1, left + j + 1), value)
    return book, names


def _calamine_sheets(path: Path) -> list[tuple[str, list[list[Any]], int, int, bool]]:
    sheets = []
    with CalamineWorkbook.from_path(str(path)) as book:
        for meta in book.sheets_metadata:
            sheet = book.get_sheet_by_name(meta.name)
            top, left = sheet.start or (0, 0)
            visible = meta.visible == SheetVisibleEnum.Visible
            rows = [[_grid_value(v) for v in row] for row in sheet.to_python()]
            sheets.append((meta.name, rows, top, left, visible))
    return sheets


def _grid_value(value: object) -> object:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


def _csv_sheets(path: Path, name: str) -> list[tuple[str, list[list[Any]], int, int, bool]]:
    text = decode_text(path.read_bytes())
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        dialect = type("Sniffed", (csv.excel,), {"delimiter": max(",;\t", key=first.count)})
    rows: list[list[Any]] = []
    for record in csv.reader(io.StringIO(text, newline=""), dialect):
        rows.append([_csv_value(canonical(cell)) for cell in record])
    # The reader names a CSV's only sheet after the file.
    return [(PurePosixPath(name).stem, rows, 0, 0, True)]


def _csv_value(text: str) -> object:
    # Only unambiguous whole numbers become numbers: "1.234" is 1234 to a Vietnamese officer.
    return int(text) if _PLAIN_INTEGER.match(text) else text


def _copy(path: Path, name: str) -> tuple[Workbook, dict[str, str]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _open_xlsx(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return _rebuild(_csv_sheets(path, name))
        if suffix not in (".xls", ".ods"):
            # A Word report (or anything else) has no sheets to copy: the findings sheet alone.
            return _rebuild([])
        return _rebuild(_calamine_sheets(path))
    except (CalamineError, OSError, ValueError, KeyError, UnicodeError, csv.Error):
        # The reader opened this file, so this is rare; the findings sheet alone still helps.
        return _rebuild([])


# ---------------------------------------------------------------------------------------------
# Marking the cells


def _target(sheet: Worksheet, address: str) -> Cell:
    cell = sheet[address]
    if isinstance(cell, MergedCell):
        for merged in sheet.merged_cells.ranges:
            if cell.coordinate in merged:
                return sheet.cell(merged.min_row, merged.min_col)
    return cell


def _label_cell(book: Workbook, label: str) -> tuple[str, str] | None:
    """(sheet, address) of the value beside a label such as `Mã đơn vị`, if there is one."""
    key = fold(label)
    for sheet in book.worksheets:
        if sheet.title == FEEDBACK_SHEET:
            continue
        for row in sheet.iter_rows(max_row=_LABEL_SCAN_ROWS):
            for cell in row:
                if isinstance(cell.value, str) and fold(cell.value).rstrip(" :") == key:
                    for column in range(cell.column + 1, cell.column + 4):
                        beside = sheet.cell(cell.row, column)
                        if beside.value not in (None, ""):
                            return sheet.title, beside.coordinate
                    return sheet.title, sheet.cell(cell.row, cell.column + 1).coordinate
    return None


def _locations(
    book: Workbook, names: dict[str, str], findings: list[Finding]
) -> list[tuple[str, str] | None]:
    """Where each finding sits in the feedback workbook, if anywhere."""
    found: list[tuple[str, str] | None] = []
    for item in findings:
        if item.ref is not None and item.ref.sheet in names:
            found.append((names[item.ref.sheet], item.ref.address))
        elif item.ref is None and item.code in UNIT_CODES:
            found.append(_label_cell(book, _LABELS["unit_code"]))
        elif item.ref is None and item.code in PERIOD_CODES:
            found.append(_label_cell(book, _LABELS["period"]))
        else:
            found.append(None)
    return found


def _mark(
    book: Workbook, findings: list[Finding], places: list[tuple[str, str] | None]
) -> list[tuple[str, str] | None]:
    """Fills and comments the offending cells; returns where each mark landed."""
    by_cell: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    landed: list[tuple[str, str] | None] = []
    for item, place in zip(findings, places, strict=True):
        if place is None:
            landed.append(None)
            continue
        cell = _target(book[place[0]], place[1])
        key = (place[0], cell.coordinate)
        by_cell[key].append(item)
        landed.append(key)
    for (sheet_name, address), items in by_cell.items():
        cell = book[sheet_name][address]
        errors = any(i.severity == "error" for i in items)
        cell.fill = _ERROR_FILL if errors else _WARNING_FILL
        text = "\n\n".join(f"[{i.code}] {i.message}" for i in items)
        if cell.comment is not None and cell.comment.text:
            text = f"{cell.comment.text}\n\n{text}"
        comment = Comment(text, COMMENT_AUTHOR)
        comment.width, comment.height = 420, min(60 + 18 * len(text) // 40, 600)
        cell.comment = comment
    return landed


def _summary(book: Workbook, verdict: Verdict, landed: list[tuple[str, str] | None]) -> Worksheet:
    if FEEDBACK_SHEET in book.sheetnames:
        book.remove(book[FEEDBACK_SHEET])
    sheet = book.create_sheet(FEEDBACK_SHEET, 0)
    sub = verdict.submission
    errors, warnings = len(verdict.errors), len(verdict.warnings)
    if verdict.status == "rejected":
        outcome = (
            f"Báo cáo CHƯA ĐƯỢC NHẬN: có {errors} lỗi phải sửa"
            + (f" và {warnings} cảnh báo" if warnings else "")
            + ". Sửa trên tệp của đơn vị theo từng dòng dưới đây rồi gửi lại cả tệp."
        )
    else:
        outcome = (
            f"Báo cáo ĐÃ ĐƯỢC NHẬN, kèm {warnings} cảnh báo: kiểm tra lại các ô dưới đây; "
            "nếu số liệu đúng thì không cần gửi lại."
        )
    put(
        sheet.cell(1, 1),
        f"Tệp: {sub.name}   Đơn vị: {sub.unit_code or '?'}   Kỳ: {sub.period or '?'}",
    )
    put(sheet.cell(2, 1), outcome)
    sheet.cell(1, 1).font = Font(bold=True)
    sheet.cell(2, 1).font = Font(bold=True, color="C00000" if errors else "7F6000")
    header_row = 4
    for j, header in enumerate(FEEDBACK_HEADERS, start=1):
        cell = sheet.cell(header_row, j)
        put(cell, header)
        cell.font, cell.fill = Font(bold=True), _HEADER_FILL
    order = sorted(
        range(len(verdict.findings)),
        key=lambda k: (verdict.findings[k].severity != "error", k),
    )
    for n, k in enumerate(order, start=1):
        item, place = verdict.findings[k], landed[k]
        what, how = split_message(item)
        row = header_row + n
        values = (n, place[0] if place else "", place[1] if place else "", item.code, what, how)
        for j, value in enumerate(values, start=1):
            cell = sheet.cell(row, j)
            put(cell, value)
            cell.alignment = _WRAP
        if place:
            target = sheet.cell(row, 3)
            quoted = place[0].replace("'", "''")
            target.hyperlink = Hyperlink(ref=target.coordinate, location=f"'{quoted}'!{place[1]}")
            target.font = Font(color="0563C1", underline="single")
        sheet.cell(row, 4).fill = _ERROR_FILL if item.severity == "error" else _WARNING_FILL
    for letter, width in zip("ABCDEF", (5, 16, 7, 22, 70, 55), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = sheet.cell(header_row + 1, 1)
    return sheet


def feedback_path(verdict: Verdict, outbox_dir: Path) -> Path:
    """`<outbox>/<UNIT or khong-ro-don-vi>/<original stem>_phan-hoi.xlsx`."""
    stem = _SAFE_NAME.sub("_", PurePosixPath(verdict.submission.name).stem).strip("._")
    return Path(outbox_dir) / _folder(verdict.submission.unit_code) / f"{stem or 'bao-cao'}{SUFFIX}"


def write_feedback(verdict: Verdict, original_path: Path | str, outbox_dir: Path) -> Path | None:
    """Writes the feedback workbook of a rejected or warned submission.

    Args:
        verdict: the submission's verdict.
        original_path: the file the unit sent (a local copy).
        outbox_dir: the outbox; a folder per unit is made in it.

    Returns:
        The file written, or None for a submission accepted without warnings.
    """
    if verdict.status == "accepted":
        return None
    sub = verdict.submission
    if sub.unreadable:
        book, names = _rebuild([])
    else:
        book, names = _copy(Path(original_path), sub.name)
    places = _locations(book, names, verdict.findings)
    landed = _mark(book, verdict.findings, places)
    summary = _summary(book, verdict, landed)
    for sheet in book.worksheets:
        sheet.sheet_view.tabSelected = sheet is summary
    book.active = 0
    path = feedback_path(verdict, outbox_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
