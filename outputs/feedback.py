"""Feedback workbooks: the unit's own workbook with every finding marked, for the unit officer.

For each rejected or warned submission, `write_feedback` writes
`<outbox>/<UNIT>/<original stem>_phan-hoi.xlsx`: a copy of what the unit sent where each
offending cell is filled (red for an error, yellow for a warning) and carries a comment, and a
first sheet `Lỗi cần sửa` listing sheet, cell, code, what is wrong and how to fix it.

The unit's own workbook is copied only when openpyxl can copy it safely: by suffix, .xlsx and
.xlsm are opened with openpyxl, .xls/.ods rebuilt through python-calamine and .csv from its text,
and only when the file's declared cell space and merges are small (see `_copyable`). Anything
else (.docx, .txt, zip members, unknown formats, hostile or huge workbooks, a copy that fails or
runs out of time or memory) gets the PLAIN feedback workbook, built from what the reader
returned: the unit's values and progress rows laid out at their original sheets and cells, the
offending cells marked and commented, and the `Lỗi cần sửa` sheet. `write_feedback_many` runs
the copies in worker processes under the reading limits (`sources.pool.run_isolated`).

Every text written (cells, comments, sheet titles) is cleaned of characters Excel forbids
(`core.names.excel_text`); folder and file names are bounded and normalised
(`core.names.safe_name`), and a short hash of where the file was listed keeps two files of the
same name from different folders apart.

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
import hashlib
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from core.codes import PERIOD_CODES, UNIT_CODES
from core.model import FIELD_LABELS, Submission
from core.names import excel_text, safe_name
from core.text import canonical, decode_text, fold
from schemas.verdict import Finding, Verdict
from sources.guard import Limits
from sources.pool import run_isolated

if TYPE_CHECKING:
    from collections.abc import Sequence

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
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_PLAIN_INTEGER = re.compile(r"^-?(?:0|[1-9]\d{0,14})$")
_LABELS = {"unit_code": "Mã đơn vị", "period": "Kỳ báo cáo"}
_LABEL_SCAN_ROWS = 40
# What a copy may hold: past this the copy costs more than the plain workbook is worth (a 9 KB
# workbook can declare a merge over every cell of a sheet).
COPY_MAX_CELLS = 250_000
COPY_MAX_MERGES = 2_000
_MAX_ROW, _MAX_COLUMN = 1_048_576, 16_384
# Suffixes whose originals can be copied, and how.
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_CALAMINE_SUFFIXES = frozenset({".xls", ".ods"})
# A cell's formula element, `<f>` (with a namespace prefix or attributes, or empty).
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,10})"')
_MERGE = re.compile(
    rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]{1,3})([0-9]{1,10}):([A-Z]{1,3})([0-9]{1,10})"'
)
_PLAIN_NOTE = (
    "Không chép được tệp của đơn vị để đánh dấu (định dạng hoặc kích thước không cho phép); "
    "các trang tính dưới đây dựng lại từ số liệu đã đọc được, đúng trang tính và ô như trong tệp."
)


def _invisible(ch: str) -> bool:
    # Whitespace and format characters (zero-width space, BOM, direction marks) show nothing,
    # so `\n=1+1` or `\u200b=3+3` still look like a formula to whoever retypes them.
    return ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc")


def is_risky(text: str) -> bool:
    """Whether a spreadsheet program could take this text for a formula (OWASP CSV injection).

    Leading whitespace of any kind and invisible format characters do not hide a risky start.
    """
    for ch in text:
        if ch in _RISKY_START:
            return True
        if not _invisible(ch):
            return False
    return False


def put(cell: Cell, value: object) -> None:
    """Writes a value that can never become a formula; numbers, dates and booleans stay so."""
    if isinstance(value, str):
        value = excel_text(value)
        cell.value = value
        # openpyxl makes any string starting with "=" a formula; force a string cell.
        cell.data_type = "s"
        if is_risky(value):
            cell.quotePrefix = True
    elif isinstance(value, float) and not (abs(value) < 1e300):
        # inf, nan and numbers Excel cannot hold are shown as the unit wrote them.
        put(cell, repr(value))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        # Excel keeps 15 digits; a longer whole number is shown as text, digits intact.
        try:
            put(cell, str(value))
        except ValueError:  # more digits than Python will print
            put(cell, "(số quá lớn)")
    elif value is None or isinstance(value, bool | int | float | dt.datetime | dt.date | dt.time):
        cell.value = value
    else:
        put(cell, str(value))


def _folder(unit_code: str | None) -> str:
    """A folder name from a unit code that may be anything a unit typed (no `..`, no `/`)."""
    return safe_name(unit_code, fallback=UNKNOWN_UNIT_FOLDER, limit=64)


def _sheet_title(name: str, taken: set[str]) -> str:
    title = _SHEET_FORBIDDEN.sub("_", excel_text(name)).strip("'")[:31] or "Sheet"
    base, n = title, 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


# ---------------------------------------------------------------------------------------------
# The copy of the unit's workbook


def _open_xlsx(path: Path, formulas: bool) -> tuple[Workbook, dict[str, str]]:
    """The workbook with cached values in place of formulas (formula text when never computed);
    opened a second time for the formulas only when it has any (`formulas`): opening is most
    of a feedback workbook's cost."""
    book = load_workbook(path, data_only=True, keep_vba=False, keep_links=False)
    if formulas:
        formulas_of = load_workbook(path, data_only=False, keep_vba=False, keep_links=False)
    else:
        formulas_of = book
    names: dict[str, str] = {}
    for sheet in book.worksheets:
        source = formulas_of[sheet.title]
        for row in source.iter_rows():
            for original in row:
                target = sheet.cell(original.row, original.column)
                if original.data_type == "f" and target.value is None:
                    text = getattr(original.value, "text", original.value)
                    put(target, str(text))
                elif isinstance(target.value, str):
                    # Rewritten through `put`: cleaned of what Excel forbids, quote-prefixed.
                    put(target, target.value)
        original_title = sheet.title
        cleaned = excel_text(original_title)
        if cleaned != original_title:
            sheet.title = _sheet_title(cleaned, {t.lower() for t in book.sheetnames})
        names[original_title] = sheet.title
    return book, names


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


class _TooBigToCopy(Exception):
    """The original is readable but too big to copy cell by cell."""


def _calamine_sheets(path: Path) -> list[tuple[str, list[list[Any]], int, int, bool]]:
    sheets = []
    with CalamineWorkbook.from_path(str(path)) as book:
        for meta in book.sheets_metadata:
            sheet = book.get_sheet_by_name(meta.name)
            if sheet.height * sheet.width > COPY_MAX_CELLS:
                raise _TooBigToCopy
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


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number


def _xlsx_scan(data: bytes) -> tuple[bool, bool]:
    """Whether openpyxl may open this workbook (small cell space, few and small merges), and
    whether any of its sheets holds a formula.

    openpyxl makes an object for every cell up to the last row and column used and for every
    cell of every merge, so a few bytes can declare billions of them.
    """
    formulas = False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.filename.startswith("xl/worksheets/"):
                    continue
                xml = archive.read(info)
                rows = columns = 0
                for match in _REF.finditer(xml):
                    columns = max(columns, _column_number(match.group(1)))
                    rows = max(rows, int(match.group(2)))
                if rows * columns > COPY_MAX_CELLS or rows > _MAX_ROW or columns > _MAX_COLUMN:
                    return False, False
                for merges, match in enumerate(_MERGE.finditer(xml), start=1):
                    height = int(match.group(4)) - int(match.group(2)) + 1
                    width = _column_number(match.group(3)) - _column_number(match.group(1)) + 1
                    if merges > COPY_MAX_MERGES or abs(height * width) > COPY_MAX_CELLS:
                        return False, False
                formulas = formulas or _FORMULA.search(xml) is not None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, NotImplementedError):
        return False, False
    return True, formulas


def copy_kind(name: str, path: Path) -> str:
    """How the original can be copied: "xlsx", "calamine", "csv", or "plain" (not at all).

    Both the listed name and the archived copy must carry the suffix: a zip member or a .docx
    never reaches openpyxl, whatever it is called inside.
    """
    suffix = PurePosixPath(name).suffix.lower()
    if suffix != path.suffix.lower():
        return "plain"
    if suffix in _XLSX_SUFFIXES:
        return "xlsx"
    if suffix in _CALAMINE_SUFFIXES:
        return "calamine"
    if suffix == ".csv":
        return "csv"
    return "plain"


def _small(sheets: list[tuple[str, list[list[Any]], int, int, bool]]) -> bool:
    for _, rows, top, left, _ in sheets:
        width = max((len(row) for row in rows), default=0)
        if len(rows) * width > COPY_MAX_CELLS or top + len(rows) > _MAX_ROW:
            return False
        if left + width > _MAX_COLUMN:
            return False
    return True


def _copy(path: Path, name: str) -> tuple[Workbook, dict[str, str]] | None:
    """A copy of the unit's workbook, or None when it cannot be copied safely."""
    kind = copy_kind(name, path)
    if kind == "plain":
        return None
    if kind == "xlsx":
        copyable, formulas = _xlsx_scan(path.read_bytes())
        return _open_xlsx(path, formulas) if copyable else None
    try:
        sheets = _csv_sheets(path, name) if kind == "csv" else _calamine_sheets(path)
    except _TooBigToCopy:
        return None
    return _rebuild(sheets) if _small(sheets) else None


# ---------------------------------------------------------------------------------------------
# The plain workbook, from what was read


def _plain(sub: Submission) -> tuple[Workbook, dict[str, str]]:
    """The unit's rows as read, at their original sheets and cells, with a header per column."""
    cells, headers = _placed(sub)
    book = Workbook()
    book.remove(book.worksheets[0])
    names: dict[str, str] = {}
    taken: set[str] = {FEEDBACK_SHEET.lower()}
    for sheet_name, grid in cells.items():
        for column, (top, label) in headers[sheet_name].items():
            if top > 1 and (top - 1, column) not in grid:
                grid[(top - 1, column)] = label
        sheet = book.create_sheet(_sheet_title(sheet_name, taken))
        names[sheet_name] = sheet.title
        for (r, c), value in sorted(grid.items()):
            if value is not None and value != "":
                put(sheet.cell(r, c), value)
    return book, names


def _placed(
    sub: Submission,
) -> tuple[dict[str, dict[tuple[int, int], object]], dict[str, dict[int, tuple[int, str]]]]:
    """Per sheet: what was read at each (row, column), and each column's topmost field label."""
    cells: dict[str, dict[tuple[int, int], object]] = defaultdict(dict)
    headers: dict[str, dict[int, tuple[int, str]]] = defaultdict(dict)

    def place(field: str, ref: Any, value: object) -> None:
        column = _column_number(ref.column.encode("ascii", "replace"))
        if not (1 <= ref.row <= _MAX_ROW and 1 <= column <= _MAX_COLUMN):
            return
        cells[ref.sheet][(ref.row, column)] = value
        first = headers[ref.sheet].get(column)
        if first is None or ref.row < first[0]:
            headers[ref.sheet][column] = (ref.row, FIELD_LABELS.get(field, field))

    for row in sub.values:
        fields = {
            "task_code": row.task_code,
            "element_code": row.element_code,
            "value": row.raw,
            "note": row.note,
        }
        for field, ref in row.refs.items():
            place(field, ref, fields.get(field))
    for progress in sub.progress:
        for field, ref in progress.refs.items():
            place(field, ref, getattr(progress, field, None))
    return cells, headers


# ---------------------------------------------------------------------------------------------
# Marking the cells


def _target(sheet: Worksheet, address: str) -> Cell:
    cell = sheet[address]
    if not isinstance(cell, Cell | MergedCell):
        raise ValueError(f"not one cell: {address}")
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
        try:
            cell = _target(book[place[0]], place[1])
        except (ValueError, KeyError, IndexError):
            # An address beyond what Excel allows: the finding is listed, not marked.
            landed.append(None)
            continue
        key = (place[0], cell.coordinate)
        by_cell[key].append(item)
        landed.append(key)
    for (sheet_name, address), items in by_cell.items():
        cell = book[sheet_name][address]
        errors = any(i.severity == "error" for i in items)
        cell.fill = _ERROR_FILL if errors else _WARNING_FILL
        text = excel_text("\n\n".join(f"[{i.code}] {i.message}" for i in items))
        if cell.comment is not None and cell.comment.text:
            text = f"{cell.comment.text}\n\n{text}"
        comment = Comment(text, COMMENT_AUTHOR)
        comment.width, comment.height = 420, min(60 + 18 * len(text) // 40, 600)
        cell.comment = comment
    return landed


def _summary(
    book: Workbook, verdict: Verdict, landed: list[tuple[str, str] | None], plain: bool
) -> Worksheet:
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
    if plain and not sub.unreadable:
        put(sheet.cell(3, 1), _PLAIN_NOTE)
        sheet.cell(3, 1).font = Font(italic=True)
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
        row = header_row + n
        values = (
            n,
            place[0] if place else "",
            place[1] if place else "",
            item.code,
            item.problem,
            item.fix,
        )
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
    # Printed for the unit's meeting: A4 landscape, one page wide, the header on every page.
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.gridLines = True
    return sheet


def feedback_path(verdict: Verdict, outbox_dir: Path) -> Path:
    """`<outbox>/<UNIT or khong-ro-don-vi>/<original stem>_<8 hex>_phan-hoi.xlsx`.

    The hex digits are a hash of where the file was listed: two files of the same name (and
    unit and period) from different folders never share a feedback file, and the same file
    sent again from the same place replaces its earlier feedback.
    """
    sub = verdict.submission
    stem = safe_name(PurePosixPath(sub.name).stem, fallback="bao-cao", limit=100)
    tag = hashlib.sha256(sub.url.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return Path(outbox_dir) / _folder(sub.unit_code) / f"{stem}_{tag}{SUFFIX}"


def _workbook(verdict: Verdict, original_path: Path | None) -> Workbook:
    """The feedback workbook: a marked copy of the original when it is given and copyable."""
    sub = verdict.submission
    copied = None
    if original_path is not None and not sub.unreadable:
        copied = _copy(original_path, sub.name)
    book, names = copied if copied is not None else _plain(sub)
    places = _locations(book, names, verdict.findings)
    landed = _mark(book, verdict.findings, places)
    summary = _summary(book, verdict, landed, plain=copied is None)
    for sheet in book.worksheets:
        sheet.sheet_view.tabSelected = sheet is summary
    book.active = 0
    return book


def _save(book: Workbook, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a worker killed mid-save leaves no half file under the name.
    partial = path.with_name(f".{path.name}.tmp")
    book.save(partial)
    partial.replace(path)
    return path


def write_feedback(
    verdict: Verdict, original_path: Path | str | None, outbox_dir: Path
) -> Path | None:
    """Writes the feedback workbook of a rejected or warned submission, in this process.

    For originals from outside use `write_feedback_many`, which copies them in worker
    processes under the reading limits.

    Args:
        verdict: the submission's verdict.
        original_path: the file the unit sent (a local copy); None for the plain workbook.
        outbox_dir: the outbox; a folder per unit is made in it.

    Returns:
        The file written, or None for a submission accepted without warnings.
    """
    if verdict.status == "accepted":
        return None
    original = None if original_path is None else Path(original_path)
    try:
        book = _workbook(verdict, original)
    except Exception:  # noqa: BLE001 - any failure of the copy falls back to the plain workbook
        book = _workbook(verdict, None)
    return _save(book, feedback_path(verdict, outbox_dir))


@dataclass(frozen=True, slots=True)
class _Job:
    verdict: Verdict
    original: str | None
    outbox: str


def _work(job: _Job) -> str | None:
    written = write_feedback(job.verdict, job.original, Path(job.outbox))
    return None if written is None else str(written)


def _failed(job: _Job, reason: str) -> str | None:
    # The copy crashed its worker or ran out of time: the plain workbook, from what was read
    # (bounded by the reading limits), is built here instead.
    del reason
    written = write_feedback(job.verdict, None, Path(job.outbox))
    return None if written is None else str(written)


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What feedback did for one verdict: the file written, or why none could be."""

    verdict: Verdict
    path: Path | None
    error: str | None = None


def write_feedback_many(
    items: Sequence[tuple[Verdict, Path | None]],
    outbox_dir: Path,
    limits: Limits,
    workers: int | None = None,
) -> list[FeedbackResult]:
    """Writes the feedback of many submissions; the copies run in isolated worker processes.

    Each copy runs under the reading limits (memory cap and time per file); a copy that fails,
    crashes its worker or overruns gets the plain workbook instead. Whatever still goes wrong
    with one file is returned as that file's `error`, never raised.

    Args:
        items: each verdict with the local copy of its original (None: plain workbook).
        outbox_dir: the outbox.
        limits: the reading limits (`sources.guard.Limits`).
        workers: worker processes; default the limits' `workers`.

    Returns:
        One result per item, in order; `path` None for accepted submissions and failures.
    """
    jobs = []
    slots: list[int] = []
    results: list[FeedbackResult | None] = []
    for verdict, original in items:
        if verdict.status == "accepted":
            results.append(FeedbackResult(verdict, None))
            continue
        slots.append(len(results))
        results.append(None)
        jobs.append(_Job(verdict, None if original is None else str(original), str(outbox_dir)))

    def guarded_fail(job: _Job, reason: str) -> str | None:
        try:
            return _failed(job, reason)
        except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
            return f"\0{type(exc).__name__}: {exc}"

    written = run_isolated(
        jobs,
        _work,
        guarded_fail,
        workers=max(1, min(workers or limits.workers, len(jobs))),
        timeout=limits.read_timeout_seconds,
        memory_bytes=limits.read_memory_bytes,
        chunk_size=4,
    )
    for slot, job, path in zip(slots, jobs, written, strict=True):
        if path is not None and path.startswith("\0"):
            results[slot] = FeedbackResult(job.verdict, None, storable_error(path[1:]))
        else:
            results[slot] = FeedbackResult(job.verdict, None if path is None else Path(path))
    return [r for r in results if r is not None]


def storable_error(text: str) -> str:
    """An exception's text, short and storable."""
    return excel_text(text)[:300]
