"""Reading one submission file into a `Submission`, and many of them safely.

`.xlsx`, `.xlsm`, `.xls` and `.ods` are read with python-calamine, values only (cached formula
results; macros are never run). Text exports (`.csv`, `.tsv`, `.txt`) are decoded and split
by `sources.textfile` into one sheet named after the file. Word reports (`.docx`) give one grid
per body table (`Bảng 1`, `Bảng 2`…) and one of the text above them (`sources.word`). Members
of a `.zip` arrive here one by one, already unpacked (`sources.archives`).

Every sheet is searched for tables (`sources.tables`). Unit and period come from the workbook
(label cells such as `Mã đơn vị | THON-01`, table columns, the hidden `_khcn` sheet), else from
the file name `<UNIT>_<PERIOD>`, else from the unit's folder; sources that disagree are an error.

Given the registry's and the catalog's `Names`, a unit may be named instead of coded (its name
or an alias under `Tên đơn vị`, `Đơn vị báo cáo`, in `Mã đơn vị`, or as its folder's name) and
an element by its `Tên chỉ tiêu` when the row has no code; a name that fits no unit or several
is an error naming the candidates. A name and the code of the same unit agree. A period may be
written as dates that span exactly one period (`Từ ngày 01/7/2026 đến ngày 30/9/2026`), or, when
nothing else names it, in a title line above the tables (`BÁO CÁO … QUÝ III NĂM 2026`).

Formulas without a cached result read as empty cells; for .xlsx/.xlsm the sheet XML is checked
for them when a `Giá trị` cell is empty. In .xls and .ods files such cells are indistinguishable
from empty ones and read as missing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from core.model import (
    FIELD_LABELS,
    CellRef,
    ProgressRow,
    ReadIssue,
    Submission,
    ValueRow,
    column_letters,
    issue,
)
from core.text import CELL_TEXTS, canonical, fold
from sources import archives, textfile
from sources.guard import ZIP_MAGIC, Limits, check_and_open, inflate, sheet_parts, suffix_of
from sources.names import Names
from sources.pool import Pool
from sources.refusals import refusal_in, refused_submission
from sources.tables import PROGRESS_FIELDS, Grid, Table, cell_ref, find_labels, find_tables
from sources.values import (
    Parsed,
    from_file_name,
    is_empty,
    parse_code,
    parse_date_range,
    parse_number,
    period_in_text,
    period_of_cell,
    text_of,
)

if TYPE_CHECKING:
    from core.settings import Settings
    from sources.inbox import InboxEntry

_SKIPPED_SHEETS = frozenset({"huong dan"})
_LIMIT_SHOWN = "10^15"  # sources.values.MAX_MAGNITUDE as units read it
_META_SHEET = "_khcn"
# The hidden sheet is invisible to the officer: messages speak of the template instead.
_TEMPLATE_SOURCE = "mẫu báo cáo xã gửi"
# Sheet names, unit codes and periods recur in every file of a batch.
_fold = lru_cache(maxsize=CELL_TEXTS)(fold)


class _Unreadable(Exception):
    def __init__(self, found: ReadIssue) -> None:
        super().__init__(found.message)
        self.issue = found


@dataclass(slots=True)
class _Claim:
    """One source's statement of the unit or period, for spotting disagreements."""

    value: str
    source: str  # Vietnamese: where it was read
    ref: CellRef | None = None
    by_name: bool = False  # a unit named (`Tên đơn vị`), not coded


@dataclass(slots=True)
class _Context:
    submission: Submission
    data: bytes
    limits: Limits
    units: list[_Claim]
    periods: list[_Claim]
    hidden: _Xml | None = None
    names: Names | None = None

    @property
    def is_ods(self) -> bool:
        """Whether the file is an OpenDocument spreadsheet (by its name)."""
        return self.submission.name.lower().endswith(".ods")

    def hidden_cell(self, sheet: str, address: str, *, zero: bool = False) -> str | None:
        """What an empty-looking cell really holds, from the file's XML.

        "formula", an error text, `INEXACT + detail` when the cell holds something the reader
        could not interpret exactly, or None when it is really empty (or the format has no XML).
        With `zero`, the cell read as 0: in an .xlsx only `ROUNDED` can then be the answer.
        """
        if not self.data.startswith(ZIP_MAGIC):
            return None
        if self.hidden is None:
            self.hidden = _Xml(self.data)
        return self.hidden.cell(sheet, address, zero=zero)


# ---------------------------------------------------------------------------------------------
# Grids of each format


def _workbook_grids(ctx: _Context) -> list[Grid]:
    sub = ctx.submission
    grids = []
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(ctx.data))
        with book:
            for meta in book.sheets_metadata:
                key = _fold(meta.name)
                if key == _META_SHEET:
                    _read_meta(ctx, book.get_sheet_by_name(meta.name).to_python())
                    continue
                if key in _SKIPPED_SHEETS or meta.visible != SheetVisibleEnum.Visible:
                    continue
                sheet = book.get_sheet_by_name(meta.name)
                cells = sheet.height * sheet.width
                if cells > ctx.limits.max_cells:
                    found = issue(
                        "R-FILE-TOO-MANY-CELLS",
                        file=sub.name,
                        sheet=meta.name,
                        cells=cells,
                        limit=ctx.limits.max_cells,
                    )
                    raise _Unreadable(found)
                top, left = sheet.start or (0, 0)
                grid = Grid(sub.url, meta.name, sheet.to_python(), top, left)
                grid.add_merged(sheet.merged_cell_ranges)
                grids.append(grid)
    except CalamineError as exc:
        if "password" in str(exc).lower():
            raise _Unreadable(issue("R-FILE-PASSWORD", file=sub.name)) from exc
        raise _Unreadable(issue("R-FILE-CORRUPT", file=sub.name, detail=str(exc)[:200])) from exc
    return grids


# A sheet merged over its table would otherwise answer with one finding per hidden cell.
_MAX_HIDDEN_FINDINGS = 200


def _hidden_by_merges(ctx: _Context, grid: Grid, table: Table | None) -> None:
    """A merged range over cells that hold values of their own hides them: each is a finding
    at its own cell, never a value silently replaced by the range's first cell.

    With a table, only its cells count (text hidden in the title rows above it is the unit's
    layout, not its report); in a sheet where a merge left no table to find, every hidden cell
    does, since the merge is why nothing could be read there.
    """
    if not grid.hidden:
        return
    hidden = grid.hidden
    if table is not None:
        rows = set(table.data_rows)
        columns = set(table.columns.values())
        hidden = [(i, j) for i, j in hidden if i in rows and j in columns]
    for i, j in hidden[:_MAX_HIDDEN_FINDINGS]:
        ctx.submission.issues.append(
            issue(
                "R-MERGE-HIDES-VALUE",
                grid.own_ref(i, j),
                value=text_of(grid.rows[i][j]),
                first=grid.ref(i, j).address,
            )
        )


def _read_meta(ctx: _Context, rows: Sequence[Sequence[object]]) -> None:
    for row in rows:
        if len(row) < 2 or not isinstance(row[0], str):
            continue
        key, value = row[0].strip(), text_of(row[1])
        if value is None:
            continue
        if key == "template_version":
            ctx.submission.template_version = value
        elif key == "unit_code":
            ctx.units.append(_Claim(value, _TEMPLATE_SOURCE))
        elif key == "period":
            ctx.periods.append(_Claim(period_of_cell(value) or value, _TEMPLATE_SOURCE))


def _text_grid(ctx: _Context) -> Grid:
    sub = ctx.submission
    sheet = PurePosixPath(sub.name).stem
    try:
        decoded = textfile.decode(ctx.data)
    except textfile.LegacyEncoding as exc:
        raise _Unreadable(issue("R-FILE-ENCODING-LEGACY", file=sub.name, name=exc.name)) from exc
    if decoded is None:
        raise _Unreadable(issue("R-FILE-ENCODING", file=sub.name))
    try:
        rows = textfile.rows_of(decoded.text, ctx.limits.max_cells)
    except csv.Error as exc:  # a field past the csv module's limit, a NUL in a quoted field...
        raise _Unreadable(issue("R-FILE-CORRUPT", file=sub.name, detail=str(exc)[:200])) from exc
    except textfile.TooManyCells as exc:
        found = issue(
            "R-FILE-TOO-MANY-CELLS",
            file=sub.name,
            sheet=sheet,
            cells=f"hơn {exc.cells}",
            limit=ctx.limits.max_cells,
        )
        raise _Unreadable(found) from exc
    return Grid(sub.url, sheet, rows)


def _docx_grids(ctx: _Context) -> list[Grid]:
    # Imported here: python-docx costs every worker's start, and most inboxes hold no .docx.
    from sources import word

    sub = ctx.submission
    try:
        return word.grids(ctx.data, sub.url, ctx.limits.max_cells)
    except word.TooManyCells as exc:
        found = issue(
            "R-FILE-TOO-MANY-CELLS",
            file=sub.name,
            sheet=exc.sheet,
            cells=f"hơn {exc.cells}",
            limit=ctx.limits.max_cells,
        )
        raise _Unreadable(found) from exc
    except word.NotADocument as exc:
        # python-docx's messages are English and name internals: the unit is told plainly.
        detail = "không phải tài liệu Word .docx hợp lệ"
        raise _Unreadable(issue("R-FILE-CORRUPT", file=sub.name, detail=detail)) from exc


def _grids(ctx: _Context) -> list[Grid]:
    """The grids of the file, by its suffix."""
    suffix = suffix_of(ctx.submission.name)
    if suffix in textfile.TEXT_SUFFIXES:
        return [_text_grid(ctx)]
    if suffix == ".docx":
        return _docx_grids(ctx)
    return _workbook_grids(ctx)


_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_TYPE = re.compile(rb'\bt="([^"]*)"')
# The whole content of `<v>`, markup included: CDATA or nested elements are not a value.
_VALUE = re.compile(rb"<v\b[^>]*?(?:/>|>(.*?)</v>)", re.S)
# What a number needs to be written with to be not zero and yet read as 0: a negative exponent
# (`1e-400`), or hundreds of zeros after the point.
_ZEROS = b"0" * 300
_PLAIN_NUMBER = re.compile(rb"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")
INEXACT = "inexact:"
# A number the file writes that is not zero but reads as 0 (`1e-400` is below the smallest
# double): a finding on a cell that otherwise reads fine.
ROUNDED = "rounded:"
# A cell whose shown text and stored number disagree (.ods): a finding even though it reads.
DISAGREES = "disagrees:"


_XML_ERRORS = (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error, SyntaxError)


class _Xml:
    """What calamine shows as an empty cell (or 0) but is not, looked up in the file's XML.

    In .xlsx a formula without a cached result and an error value (`#DIV/0!`) both read as
    empty; the sheet XML tells them apart: "formula" or the error text. A value calamine drops
    (`<v><![CDATA[12]]></v>`, markup nested in `<v>`, an empty `<v/>` of a number cell, a
    shared-string index past the table) is `INEXACT` and what the XML holds; a number too
    small to be anything but 0 (`1e-400`) is `ROUNDED`. In .ods, a cell with a value or text
    that reads as empty is `INEXACT` too (see `_ods_cells`).

    Only the cells asked about are looked at: the archive is opened once, a sheet's part
    inflated once, and each cell found by its `r="E12"` in it.
    """

    __slots__ = ("_archive", "_data", "_ods", "_parts", "_sheets", "_strings")

    def __init__(self, data: bytes, archive: zipfile.ZipFile | None = None) -> None:
        self._data = data
        self._archive = archive
        self._sheets: dict[str, str] | None = None  # sheet name -> its part
        self._parts: dict[str, bytes] = {}
        self._strings: int | None = None
        self._ods: dict[str, dict[str, str]] | None = None

    def cell(self, sheet: str, address: str, *, zero: bool = False) -> str | None:
        """What the cell at `address` of `sheet` holds when it is not what it reads as.

        With `zero`, the cell read as 0, and in an .xlsx the answer can only be `ROUNDED`: a
        sheet without a negative exponent or a long run of zeros anywhere has none.
        """
        try:
            return self._cell(sheet, address, zero)
        except _XML_ERRORS:
            return None

    def _cell(self, sheet: str, address: str, zero: bool) -> str | None:
        if self._archive is None:
            self._archive = zipfile.ZipFile(io.BytesIO(self._data))
        archive = self._archive
        if self._ods is None and self._sheets is None:
            names = archive.NameToInfo
            if "content.xml" in names and "xl/workbook.xml" not in names:
                self._ods = _ods_cells(archive.read("content.xml"))
            else:
                parts = sheet_parts(archive, self._data)
                self._sheets = {name: part for part, name in parts.items()}
        if self._ods is not None:
            return self._ods.get(sheet, {}).get(address)
        part = (self._sheets or {}).get(sheet)
        if part is None:
            return None
        xml = self._parts.get(part)
        if xml is None:
            info = archive.getinfo(part)
            xml = self._parts[part] = inflate(archive, self._data, info, info.file_size)
        if zero and b"e-" not in xml and b"E-" not in xml and _ZEROS not in xml:
            return None
        found = None
        # The last cell of that address counts, as it would for a reader walking the sheet.
        for match in re.finditer(rb'<c\b[^>]*?\br="' + address.encode() + b'"', xml):
            cell = _CELL.match(xml, match.start())
            if cell is not None:
                what = _xlsx_cell(cell.group(1), cell.group(2) or b"", self._string_count)
                found = what if what is not None else found
        return found

    def _string_count(self) -> int:
        if self._strings is None:
            assert self._archive is not None
            self._strings = _shared_string_count(self._archive)
        return self._strings


def _shared_string_count(archive: zipfile.ZipFile) -> int:
    try:
        xml = archive.read("xl/sharedStrings.xml")
    except KeyError:
        return 0
    return xml.count(b"<si>") + xml.count(b"<si ") + xml.count(b"<si/>")


def _shown(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= 40 else text[:37] + "..."


def _xlsx_cell(attrs: bytes, body: bytes, strings: Callable[[], int]) -> str | None:
    """What an empty-looking cell's XML holds, if anything (see `_Xml`).

    `strings` counts the shared strings, asked only for a shared-string cell.
    """
    value = _VALUE.search(body)
    content = value.group(1) if value and value.group(1) is not None else b""
    kind = _TYPE.search(attrs)
    cell_type = kind.group(1) if kind else b"n"
    if cell_type == b"e" and value:
        return content.decode("utf-8", "replace")
    if b"<f" in body and not content.strip():
        return "formula"
    if value is None:
        return None
    if b"<" in content:
        return INEXACT + _shown(content)
    if cell_type == b"s":
        index = content.strip()
        if not index.isdigit() or int(index) >= strings():
            return INEXACT + f"chỉ số chuỗi dùng chung '{_shown(index)}' không tồn tại"
        return None
    if cell_type == b"n" and not _PLAIN_NUMBER.match(content):
        return INEXACT + f"'{_shown(content)}'"
    if cell_type == b"n" and reads_as_zero(content.decode("ascii", "replace")):
        return ROUNDED + f"'{_shown(content)}'"
    if cell_type == b"n" and content.strip():
        # A number the XML holds; asked about a cell that read empty, the reader lost it.
        return INEXACT + f"'{_shown(content)}'"
    return None


def reads_as_zero(number: str) -> bool:
    """Whether a number written in a file is not zero but reads as 0.0 (`1e-400`).

    Args:
        number: the number as the file writes it (`<v>` of .xlsx, `office:value` of .ods).

    Returns:
        True when its digits before the exponent are not all zero and yet it parses as 0.
    """
    try:
        parsed = float(number)
    except ValueError:
        return False
    mantissa = re.split(r"[eE]", number.strip(), maxsplit=1)[0]
    return parsed == 0 and any(ch in "123456789" for ch in mantissa)


_ODS = "{urn:oasis:names:tc:opendocument:xmlns:%s:1.0}"
_TABLE, _OFFICE, _TEXT = _ODS % "table", _ODS % "office", _ODS % "text"
# A row or column repeated more than this is filler (Calc pads to the sheet's end).
_ODS_REPEAT_CAP = 1_000


def _ods_cells(xml: bytes) -> dict[str, dict[str, str]]:
    """Sheet name -> {address: INEXACT detail} of .ods cells holding a value or text.

    Called for a value cell that reads empty: if the file gives that cell a value or a text,
    the reader did not take it as the file says (a number cell without `office:value`, a
    repeat count of 0...).
    """
    found: dict[str, dict[str, str]] = {}
    root = ElementTree.fromstring(xml)
    for table in root.iter(f"{_TABLE}table"):
        cells = found.setdefault(table.get(f"{_TABLE}name", ""), {})
        row_number = 0
        for row in table.iter(f"{_TABLE}table-row"):
            rows = _repeat(row.get(f"{_TABLE}number-rows-repeated"))
            column = 0
            for cell in row:
                if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                    continue
                columns = _repeat(cell.get(f"{_TABLE}number-columns-repeated"))
                value = cell.get(f"{_OFFICE}value")
                text = "".join("".join(p.itertext()) for p in cell.iter(f"{_TEXT}p")).strip()
                if (value is not None or text) and columns * rows <= _ODS_REPEAT_CAP:
                    shown = text or value or ""
                    what = INEXACT + f"'{shown[:40]}'"
                    if value is not None and text and not _shown_as(value, text):
                        what = DISAGREES + f"số {value[:40]} nhưng hiển thị '{text[:40]}'"
                    elif value is not None and reads_as_zero(value):
                        what = ROUNDED + f"'{value[:40]}'"
                    for r in range(rows):
                        for c in range(max(columns, 1)):
                            address = f"{column_letters(column + c)}{row_number + r + 1}"
                            cells[address] = what
                column += columns
            row_number += rows
    return found


def _shown_as(value: str, text: str) -> bool:
    """Whether `text` may be how a spreadsheet shows the number `value` (rounding allowed).

    Text that is not a plain number (a percentage, a currency, a date) is given the benefit of
    the doubt; both Vietnamese and English separators are tried.
    """
    try:
        number = float(value)
    except ValueError:
        return False
    candidates = []
    for spelling in (text, text.translate(str.maketrans(".,", ",."))):
        parsed = parse_number(spelling)
        if isinstance(parsed.value, int | float) and not parsed.problem:
            decimals = len(re.split(r"[.,]", spelling)[-1]) if re.search(r"[.,]", spelling) else 0
            candidates.append((parsed.value, decimals))
    if not candidates:
        return True
    return any(
        abs(number - shown) <= 0.5 * 10.0**-d + 1e-9 * abs(number) + 1e-12
        for shown, d in candidates
    )


def _repeat(raw: str | None) -> int:
    try:
        return max(0, min(int(raw), 1_048_576)) if raw is not None else 1
    except ValueError:
        return 1


# ---------------------------------------------------------------------------------------------
# Rows


def _rows_of(ctx: _Context, grid: Grid, table: Table) -> None:
    sub = ctx.submission
    columns = table.columns
    for j, header in table.unknown:
        sub.issues.append(
            issue("R-COLUMN-UNKNOWN", grid.ref(table.header_rows[0], j), header=header)
        )
    for j, name in table.duplicates:
        first = grid.ref(table.header_rows[0], columns[name]).address
        ref = grid.ref(table.header_rows[0], j)
        sub.issues.append(issue("R-COLUMN-DUPLICATE", ref, header=FIELD_LABELS[name], first=first))
    header_ref = grid.ref(table.header_rows[0], min(columns.values()))
    if table.gives_values and "value" not in columns:
        sub.issues.append(issue("R-COLUMN-MISSING", header_ref, header=FIELD_LABELS["value"]))
    fields = list(columns.items())
    first = min(fields, key=lambda field: field[1])[0]
    gives_values, gives_progress = table.gives_values, table.gives_progress
    claimed = [(c, name) for c, name in ((ctx.units, "unit_code"), (ctx.periods, "period"))]
    claimed = [(c, name) for c, name in claimed if name in columns]
    filled = grid.filled()
    letters = grid.columns_of(fields)
    for r in table.data_rows:
        refs = grid.row_refs(r, fields, letters)
        row = filled[r]
        width = len(row)
        cells = {name: row[j] if j < width else grid.cell(r, j) for name, j in fields}
        for claims, name in claimed:
            raw = cells[name]
            if not is_empty(raw):
                _claim(ctx, claims, name, raw, refs[name])
        has_element = not is_empty(cells.get("element_code"))
        if gives_values and (has_element or not is_empty(cells.get("value"))):
            sub.values.append(_value_row(ctx, grid, refs, cells))
        elif gives_progress and not has_element:
            texts = {name: text_of(cells.get(name)) for name in PROGRESS_FIELDS}
            if any(texts.values()) or (not gives_values and not is_empty(cells.get("task_code"))):
                task = _code(ctx, cells.get("task_code"), "task", refs.get("task_code"))
                sub.progress.append(ProgressRow(task, ref=refs[first], refs=refs, **texts))


def _code(ctx: _Context, raw: object, kind: str, ref: CellRef | None) -> str | None:
    parsed = parse_code(raw, kind)
    if parsed.problem and ref:
        label = FIELD_LABELS["task_code" if kind == "task" else "element_code"]
        ctx.submission.issues.append(issue(parsed.problem, ref, label=label, value=parsed.shown))
    return parsed.value if isinstance(parsed.value, str) else None


def _value_row(
    ctx: _Context, grid: Grid, refs: Mapping[str, CellRef], cells: dict[str, object]
) -> ValueRow:
    cell = cells.get
    task = _code(ctx, cell("task_code"), "task", refs.get("task_code"))
    element = _code(ctx, cell("element_code"), "element", refs.get("element_code"))
    # Without a value column the row's first cell stands for where the value would be.
    ref = refs["value"] if "value" in refs else min(refs.values(), key=lambda c: len(c.column))
    raw = cell("value")
    parsed = parse_number(raw, text_of(cell("measure")))
    _check_value(ctx, grid, parsed, ref, refs)
    if element is None and is_empty(cell("element_code")):
        element = _element_of_row(ctx, refs, cells)
        if element and "element_code" not in refs:
            # Findings about the element point at the cell that named it.
            refs = {**refs, "element_code": refs["element_name"]}
    value = parsed.value if isinstance(parsed.value, int | float) else None
    return ValueRow(task, element, value, raw, text_of(cell("note")), ref, refs)


def _check_value(
    ctx: _Context, grid: Grid, parsed: Parsed, ref: CellRef, refs: Mapping[str, CellRef]
) -> None:
    """Findings on a value cell: unreadable, or read otherwise than the file stores it."""
    sub = ctx.submission
    if parsed.problem:
        read = f"{parsed.value:g}" if isinstance(parsed.value, int | float) else ""
        sub.issues.append(
            issue(parsed.problem, ref, value=parsed.shown, limit=_LIMIT_SHOWN, read=read)
        )
    elif parsed.value is not None and "value" in refs and ctx.data[:2] == b"PK":
        # A shown text at odds with the stored number (.ods), or a number too small to be
        # read as anything but 0, is only known from the XML.
        zero = parsed.value == 0
        hidden = ctx.hidden_cell(grid.sheet, ref.address, zero=zero) if ctx.is_ods or zero else None
        if hidden and hidden.startswith((DISAGREES, ROUNDED)):
            detail = f"tệp ghi {hidden.removeprefix(DISAGREES).removeprefix(ROUNDED)}"
            sub.issues.append(issue("R-VALUE-INEXACT", ref, detail=detail))
    elif parsed.value is None and "value" in refs:
        hidden = ctx.hidden_cell(grid.sheet, ref.address)
        if hidden == "formula":
            sub.issues.append(issue("R-FORMULA-NO-VALUE", ref))
        elif hidden and hidden.startswith((INEXACT, DISAGREES)):
            detail = f"tệp ghi {hidden.removeprefix(INEXACT).removeprefix(DISAGREES)}"
            sub.issues.append(issue("R-VALUE-INEXACT", ref, detail=detail))
        elif hidden:
            sub.issues.append(issue("R-CELL-ERROR", ref, value=hidden))


def _element_of_row(
    ctx: _Context, refs: Mapping[str, CellRef], cells: dict[str, object]
) -> str | None:
    """The element of a row without a code: found by its name, if the catalog knows it."""
    cell = cells.get
    raw = cell("value")
    element = None
    name = text_of(cell("element_name"))
    if name and ctx.names is not None:
        element = _element_by_name(ctx, name, refs["element_name"])
    elif not is_empty(raw) and ("element_code" in refs or "element_name" in refs):
        found = issue("R-CODE-MISSING", refs.get("element_code") or refs["element_name"])
        ctx.submission.issues.append(found)
    return element


def _element_by_name(ctx: _Context, name: str, ref: CellRef) -> str | None:
    assert ctx.names is not None
    codes = ctx.names.element_codes(name)
    if len(codes) == 1:
        return codes[0]
    if codes:
        found = issue(
            "R-ELEMENT-NAME-AMBIGUOUS",
            ref,
            value=name,
            candidates="; ".join(ctx.names.element_labels_of(codes)),
        )
    else:
        candidates = "; ".join(ctx.names.nearest_elements(name)) or "không có"
        found = issue("R-ELEMENT-NAME-UNKNOWN", ref, value=name, candidates=candidates)
    ctx.submission.issues.append(found)
    return None


# ---------------------------------------------------------------------------------------------
# Unit and period


def _claim(ctx: _Context, claims: list[_Claim], name: str, raw: object, ref: CellRef) -> None:
    source = f"trang tính '{ref.sheet}' ô {ref.address}"
    if name in ("unit_code", "unit_name"):
        text = text_of(raw)
        if text:
            claims.append(_Claim(text, source, ref, by_name=name == "unit_name"))
        return
    period = period_of_cell(raw)
    if period is None:
        dates = parse_date_range(raw)
        if dates is not None:
            period = dates.period
            if period is None:
                close = "; ".join(dates.close_periods())
                found = issue("R-PERIOD-RANGE", ref, value=text_of(raw), close=close)
                ctx.submission.issues.append(found)
                return
        else:
            period = period_in_text(raw)
    if period is None:
        ctx.submission.issues.append(issue("R-PERIOD-INVALID", ref, value=text_of(raw) or raw))
    else:
        claims.append(_Claim(period, source, ref))


def _against_template(
    ctx: _Context, claims: list[_Claim], template: list[_Claim], kind: str
) -> list[_Claim]:
    """Visible cells that contradict the commune's template: an error at the cell, saying what
    to type; the file stays filed under the template's unit and period.

    The hidden sheet is what the commune issued and what the pre-filled rows were made for; the
    visible cell is only a copy of it (locked in the template), so a different value there is a
    slip or a reused workbook, never a better source.

    Returns:
        The claims left to settle: the contradicting cells removed.
    """
    if not template:
        return claims
    issued = template[0].value
    kept = []
    for claim in claims:
        if claim.ref is not None and _fold(claim.value) != _fold(issued):
            ctx.submission.issues.append(
                issue(f"R-{kind}-TEMPLATE", claim.ref, typed=claim.value, template=issued)
            )
        else:
            kept.append(claim)
    # What is left agrees with the template wherever a cell speaks, so it settles to it.
    return kept


_TITLE_ROWS = 20


@lru_cache(maxsize=CELL_TEXTS)
def _may_name_period(cell: str) -> bool:
    """A title (`BÁO CÁO …`) or a line of dates (`Từ ngày …`), short enough to be one."""
    if len(cell) > 300:
        return False
    key = _fold(cell)
    return "bao cao" in key or key.startswith(
        ("tu ngay", "(tu ngay")
    )  # a title sits above the first table, within the sheet's first rows


def _title_claims(
    grid: Grid,
    first_table_row: int | None,
    labelled: set[tuple[int, str]],
    claims: list[_Claim],
    issues: list[ReadIssue],
) -> None:
    """Periods named by title lines (`BÁO CÁO … QUÝ III NĂM 2026`) above the first table.

    Cells already read as a label's value (`labelled`: Excel row and column) are skipped.
    Found periods go to `claims`, dates that span no period to `issues`.
    """
    end = min(first_table_row if first_table_row is not None else _TITLE_ROWS, len(grid.rows))
    for i in range(end):
        for j, cell in enumerate(grid.rows[i]):
            if type(cell) is not str or not _may_name_period(cell):
                continue
            ref = grid.ref(i, j)
            if (ref.row, ref.column) in labelled:
                continue
            source = f"tiêu đề ở trang tính '{ref.sheet}' ô {ref.address}"
            dates = parse_date_range(cell)
            if dates is not None:
                if dates.period is None:
                    close = "; ".join(dates.close_periods())
                    issues.append(issue("R-PERIOD-RANGE", ref, value=text_of(cell), close=close))
                else:
                    claims.append(_Claim(dates.period, source, ref))
                continue
            period = period_in_text(cell)
            if period is not None:
                claims.append(_Claim(period, source, ref))


def _resolve_units(ctx: _Context) -> None:
    """Unit names and aliases to codes; a name that fits no unit or several is an error.

    A name under `Tên đơn vị` that fits no unit is only an error when nothing else in the file
    says which unit sent it: beside a code it is the unit's own wording, not a claim.
    """
    names = ctx.names
    if names is None:
        ctx.units[:] = [c for c in ctx.units if not c.by_name]
        return
    # (position in the file's order, claim): the first claim still wins after resolving.
    resolved: list[tuple[int, _Claim]] = []
    unknown: list[_Claim] = []
    ambiguous: list[tuple[int, _Claim, tuple[str, ...]]] = []
    for k, claim in enumerate(ctx.units):
        codes = names.unit_codes(claim.value)
        if len(codes) == 1:
            resolved.append((k, _Claim(codes[0], claim.source, claim.ref)))
        elif codes:
            ambiguous.append((k, claim, codes))
        elif claim.by_name:
            unknown.append(claim)
        else:
            resolved.append((k, claim))  # a code not in the registry: validation says so
    identified = {c.value for _, c in resolved}
    for k, claim, codes in ambiguous:
        fitting = [code for code in codes if code in identified]
        if len(fitting) == 1:
            resolved.append((k, _Claim(fitting[0], claim.source, claim.ref)))
            continue
        candidates = "; ".join(names.unit_labels_of(codes))
        ctx.submission.issues.append(
            issue(
                "R-UNIT-NAME-AMBIGUOUS",
                claim.ref,
                value=claim.value,
                source=claim.source,
                candidates=candidates,
            )
        )
    if not resolved and not ambiguous:
        for claim in unknown:
            candidates = "; ".join(names.nearest_units(claim.value)) or "không có"
            ctx.submission.issues.append(
                issue(
                    "R-UNIT-NAME-UNKNOWN",
                    claim.ref,
                    value=claim.value,
                    source=claim.source,
                    candidates=candidates,
                )
            )
    ctx.units[:] = [claim for _, claim in sorted(resolved, key=lambda pair: pair[0])]


def _settle(ctx: _Context, claims: list[_Claim], kind: str) -> str | None:
    """The first claim wins; every claim that disagrees with it is an error naming both."""
    if not claims:
        return None
    first = claims[0]
    seen = {_fold(first.value)}
    for other in claims[1:]:
        key = _fold(other.value)
        if key in seen:
            continue
        seen.add(key)
        ctx.submission.issues.append(
            issue(
                f"R-{kind}-CONFLICT",
                other.ref or first.ref,
                first=first.source,
                a=first.value,
                second=other.source,
                b=other.value,
            )
        )
    return first.value


# ---------------------------------------------------------------------------------------------
# Entry points


def _read_grid(
    ctx: _Context, grid: Grid, titles: list[_Claim], title_issues: list[ReadIssue]
) -> bool:
    """One sheet: its labels and title lines claim the unit and period, its tables give rows.

    Returns:
        Whether the sheet holds a values or progress table.
    """
    labels = ("unit_code", "period", "unit_name") if ctx.names else ("unit_code", "period")
    tables = list(find_tables(grid))
    taken = {r for t in tables for r in (*t.header_rows, *t.data_rows)}
    label_cells: set[tuple[int, str]] = set()
    for name, raw, ref in find_labels(grid, labels):
        if ref.row - grid.top - 1 not in taken:
            label_cells.add((ref.row, ref.column))
            _claim(ctx, ctx.periods if name == "period" else ctx.units, name, raw, ref)
    first_row = min((t.header_rows[0] for t in tables), default=None)
    _title_claims(grid, first_row, label_cells, titles, title_issues)
    read = [t for t in tables if t.gives_values or t.gives_progress]
    for table in read:
        _hidden_by_merges(ctx, grid, table)
        _rows_of(ctx, grid, table)
    if not read:
        _hidden_by_merges(ctx, grid, None)
    return bool(read)


def _parse(ctx: _Context, unit_folder: str | None) -> Submission:
    sub = ctx.submission
    try:
        grids = _grids(ctx)
    except _Unreadable as exc:
        sub.issues.append(exc.issue)
        return sub
    meta_units, meta_periods = ctx.units[:], ctx.periods[:]
    ctx.units.clear()
    ctx.periods.clear()
    titles: list[_Claim] = []
    title_issues: list[ReadIssue] = []
    found = False
    for grid in grids:
        found = _read_grid(ctx, grid, titles, title_issues) or found
    if not found:
        sub.issues.append(issue("R-TABLE-NOT-FOUND", file=sub.name))
    ctx.units.extend(meta_units)
    ctx.periods.extend(meta_periods)
    from_name = from_file_name(PurePosixPath(sub.name).stem)
    if from_name:
        ctx.units.append(_Claim(from_name[0], f"tên tệp '{sub.name}'"))
        ctx.periods.append(_Claim(from_name[1], f"tên tệp '{sub.name}'"))
    # A title speaks only when nothing else names the period: `BÁO CÁO … NĂM 2026` above a
    # quarter's table, or the data cut-off dates of Decree 09, are no conflict with its label.
    if not ctx.periods:
        ctx.periods.extend(titles)
        sub.issues.extend(title_issues)
    if unit_folder:
        ctx.units.append(_Claim(canonical(unit_folder), f"thư mục '{unit_folder}'"))
    _resolve_units(ctx)
    sub.unit_code = _settle(ctx, _against_template(ctx, ctx.units, meta_units, "UNIT"), "UNIT")
    sub.period = _settle(ctx, _against_template(ctx, ctx.periods, meta_periods, "PERIOD"), "PERIOD")
    if sub.unit_code is None:
        sub.issues.append(issue("R-UNIT-MISSING", file=sub.name))
    if sub.period is None:
        sub.issues.append(issue("R-PERIOD-MISSING", file=sub.name))
    return sub


def _new(url: str, name: str, data: bytes, sha256: str | None = None) -> Submission:
    # Files received through the archive come with their hash: it is never computed twice.
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return Submission(url=url, name=name, size=len(data), sha256=digest)


def _limits(settings: Settings | Limits | None) -> Limits:
    if isinstance(settings, Limits):
        return settings
    # Imported here: worker processes never need settings (nor pydantic) to parse.
    from core.settings import load_settings

    return Limits.of(settings or load_settings())


def read_bytes(
    data: bytes,
    url: str,
    *,
    name: str | None = None,
    unit_folder: str | None = None,
    settings: Settings | Limits | None = None,
    names: Names | None = None,
) -> Submission:
    """Reads one file's bytes in this process (checks, then parsing; no worker isolation).

    Use `read_many` for files from outside: it parses in worker processes.

    Args:
        data: the file's bytes.
        url: where the file was listed; used in every `CellRef`.
        name: the file name (defaults to the last part of `url`); its suffix picks the reader.
        unit_folder: the unit folder the file was found in, if any.
        settings: the settings (or their `Limits`); default `load_settings()`.
        names: unit and element names to resolve to codes; without them only codes are read.

    Returns:
        The submission; `unreadable` is True when the file itself could not be read.
    """
    file_name = name or PurePosixPath(url).name
    return _read(data, url, file_name, unit_folder, _limits(settings), names)


def read_path(
    path: str | Path, settings: Settings | Limits | None = None, names: Names | None = None
) -> Submission:
    """Reads a local file in this process; a convenience over `read_bytes`."""
    return read_bytes(Path(path).read_bytes(), str(path), settings=settings, names=names)


@dataclass(frozen=True, slots=True)
class _Job:
    """One file for a worker: the limits and the names went to the worker once, at its start."""

    url: str
    name: str
    data: bytes
    unit_folder: str | None
    sha256: str | None = None
    # A file of the archive is read by the worker itself, so the calling process never holds
    # the bytes of a whole run (`data` is then empty until the worker reads it); its size is
    # the whole file's, as received (the worker reads no further than the limit).
    path: str | None = None
    size: int | None = None

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # The dataclass's own pickling of a frozen slotted class looks up its fields per job.
        return (
            _Job,
            (self.url, self.name, self.data, self.unit_folder, self.sha256, self.path, self.size),
        )


def _read(
    data: bytes,
    url: str,
    name: str,
    unit_folder: str | None,
    limits: Limits,
    names: Names | None = None,
    sha256: str | None = None,
) -> Submission:
    sub = _new(url, name, data, sha256)
    rejected, archive = check_and_open(name, data, limits)
    if rejected:
        sub.issues.append(rejected)
        return sub
    if archives.is_archive(name):
        sub.issues.append(_archive_issue(name, data, limits))
        return sub
    ctx = _Context(sub, data, limits, [], [], names=names)
    if archive is not None:
        ctx.hidden = _Xml(data, archive)
    return _parse(ctx, unit_folder)


def _archive_issue(name: str, data: bytes, limits: Limits) -> ReadIssue:
    """Why a zip reaches the reader instead of its members: nested in another archive, or
    rejected when the flow unpacked it (unpacking again gives the same answer)."""
    if archives.is_member_name(name):
        return issue("R-FILE-ARCHIVE-NESTED", file=name)
    unpacked = archives.unpack(name, data, limits)
    # Members that unpack here did not when the flow tried: a worker crashed on it there.
    return unpacked.issue or issue("R-FILE-CRASH", file=name)


def _work(job: _Job, *, limits: Limits, names: Names | None) -> Submission:
    data = job.data if job.path is None else read_local(job.path, limits.max_file_bytes)
    if job.path is not None and (refusal := refusal_in(data)):
        return refused_submission(
            job.url, job.name, job.size or len(data), job.sha256 or "", refusal
        )
    sub = _read(data, job.url, job.name, job.unit_folder, limits, names, job.sha256)
    if job.size is not None:
        sub.size = job.size
    return sub


def read_local(path: str, limit: int) -> bytes:
    """A local file's bytes, at most `limit + 1` of them: one past the limit tells a file too
    big, which is then rejected unopened."""
    # Plain descriptor reads: a file object cost as much as the read itself (0.018 → 0.009 ms
    # a file). Asking for `limit + 1` bytes would allocate that much (10 MB) for a
    # 15 KB workbook: the file's size is asked for instead, and one byte more.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        wanted = min(os.fstat(fd).st_size, limit) + 1
        data = os.read(fd, wanted)
        while len(data) < wanted and (more := os.read(fd, wanted - len(data))):
            data += more
        return data
    finally:
        os.close(fd)


def _reduce_cell_ref(ref: CellRef) -> tuple[Callable[..., CellRef], tuple[str, str, int, str]]:
    # A Submission brings back some hundred CellRefs, unpickled in the calling process, which
    # has a core to share with the workers: `cell_ref` makes them at a third of the cost.
    return cell_ref, (ref.file, ref.sheet, ref.row, ref.column)


def _failed(job: _Job, reason: str, *, limits: Limits) -> Submission:
    sub = _new(job.url, job.name, job.data, job.sha256)
    if job.size is not None:
        sub.size = job.size
    if reason == "timeout":
        sub.issues.append(
            issue("R-FILE-TIMEOUT", file=job.name, seconds=limits.read_timeout_seconds)
        )
    else:
        sub.issues.append(issue("R-FILE-CRASH", file=job.name))
    return sub


class Reader:
    """Reads batches of listed files in worker processes that stay warm between batches.

    The workers start on the first `read` and stop when the `with` block ends; the limits and
    the names travel to each worker once, when it starts, so a batch costs the same whatever
    the size of the registry. A worker that crashes or overruns is replaced, its file read as
    unreadable, as in `read_many`. `read` may be called from any thread, one at a time.

    Args:
        settings: the settings (or their `Limits`); default `load_settings()`.
        names: unit and element names to resolve to codes (`Names.of` the registry and the
            catalog); without them only codes are read.
        workers: worker processes; default the settings' `read_workers`.
        chunk_size: files sent to a worker at a time.
    """

    def __init__(
        self,
        settings: Settings | Limits | None = None,
        *,
        names: Names | None = None,
        workers: int | None = None,
        chunk_size: int = 32,
    ) -> None:
        self.limits = _limits(settings)
        self._pool: Pool[_Job, Submission] = Pool(
            partial(_work, limits=self.limits, names=names),
            partial(_failed, limits=self.limits),
            workers=workers or self.limits.workers,
            timeout=self.limits.read_timeout_seconds,
            memory_bytes=self.limits.read_memory_bytes,
            chunk_size=chunk_size,
            reducers={CellRef: _reduce_cell_ref},
        )

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the workers."""
        self._pool.close()

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        return self._pool.pids

    def read(self, entries: Iterable[InboxEntry]) -> list[Submission]:
        """Reads listed files: structure checks and parsing in the workers (see `read_many`).

        Args:
            entries: files as listed by `sources.inbox.list_inbox`.

        Returns:
            One submission per entry, in order.
        """
        from sources.inbox import fetch  # fsspec is the calling process's business only

        limits = self.limits
        results: list[Submission | None] = []
        jobs: list[_Job] = []
        for entry in entries:
            if entry.size > limits.max_file_bytes:
                sub = Submission(entry.url, entry.name, entry.size, entry.sha256 or "")
                found = issue(
                    "R-FILE-TOO-BIG", file=entry.name, size=entry.size, limit=limits.max_file_bytes
                )
                sub.issues.append(found)
                results.append(sub)
                continue
            results.append(None)
            # A local inbox is read by the worker directly: fsspec costs more than reading the
            # file. A file received already is read from its archived copy.
            local = "://" not in entry.url
            if entry.archived is not None or (local and entry.sha256):
                path = entry.archived or entry.url
                jobs.append(
                    _Job(
                        entry.url,
                        entry.name,
                        b"",
                        entry.unit_folder,
                        entry.sha256,
                        path,
                        entry.size,
                    )
                )
                continue
            read = read_local if local else fetch
            data = read(entry.url, limits.max_file_bytes)
            jobs.append(_Job(entry.url, entry.name, data, entry.unit_folder, entry.sha256))
        done = iter(self._pool.run(jobs))
        return [sub if sub is not None else next(done) for sub in results]


def read_many(
    entries: Iterable[InboxEntry],
    settings: Settings | Limits | None = None,
    workers: int | None = None,
    chunk_size: int = 32,
    names: Names | None = None,
) -> list[Submission]:
    """Reads many listed files: structure checks and parsing in isolated worker processes.

    A file that is too big, unsafe, too slow or that crashes its reader becomes an unreadable
    `Submission` with one issue; the other files are read as usual. Only the listed size is
    checked in this process: a zip's contents are never looked at outside a worker. Local
    files are read directly, others fetched through fsspec; filesystem errors propagate
    (retrying them is the caller's business). For batch after batch, keep a `Reader`.

    Args:
        entries: files as listed by `sources.inbox.list_inbox`.
        settings: the settings (or their `Limits`); default `load_settings()`.
        workers: worker processes; default the settings' `read_workers`.
        chunk_size: files sent to a worker at a time.
        names: unit and element names to resolve to codes (`Names.of` the registry and the
            catalog); without them only codes are read.

    Returns:
        One submission per entry, in order.
    """
    with Reader(settings, names=names, workers=workers, chunk_size=chunk_size) as reader:
        return reader.read(entries)
