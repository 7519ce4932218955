"""Cell values as units type them: Vietnamese numbers, periods in every spelling, mangled codes.

Number rule. Vietnamese writes `.` between thousands and `,` before decimals. So:
`1.234.567` -> 1234567, `12,5` -> 12.5, `1.234,5` -> 1234.5, and the ambiguous `1.234` is read
as Vietnamese thousands (1234). A single `.` not followed by exactly three digits (`12.5`,
`0.75`) cannot be a thousands separator and is read as a decimal point; `1,234,567` and
`1,234.5` (English style, unambiguous) are accepted too. Spaces of any kind between digit groups
are thousands separators. A trailing unit is accepted only when it is the row's `Đơn vị tính`
(`5 cuộc` in a `cuộc` row); any other text around the number (`khoảng 5`, `5 người` in a
`cuộc` row) is not a number.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from core.text import CELL_TEXTS, canonical, fold

# Cell values as python-calamine returns them.
Cell = object

# No figure a commune reports comes near this; past it a float no longer holds every whole
# number exactly (2**53 is about 9e15), so a larger value cannot be what the unit meant.
MAX_MAGNITUDE = 10**15

_GROUP_SPACES = re.compile(r"(?<=\d)[\s\u00A0\u2007\u202F]+(?=\d)")
_NUMBER = re.compile(r"^([+-]?)(\d[\d.,]*)$")
_THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?:[.,]\d{3})+$")
_TASK_CODE = re.compile(r"^\d+\.\d+$")
_ELEMENT_CODE = re.compile(r"^\d+\.\d+\.\d+$")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
# Calamine reports error cells (#DIV/0!, #N/A...) as their text.
CELL_ERRORS = frozenset(
    ["#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#GETTING_DATA"]
)


# Every cell text goes through here; the same strings recur across files (names, units).
_canonical = lru_cache(maxsize=CELL_TEXTS)(canonical)


def is_empty(cell: Cell) -> bool:
    """True for what counts as a blank cell: None, "" or only spaces."""
    if cell is None or cell == "":
        return True
    return isinstance(cell, str) and not cell.strip().strip("\u200b\ufeff")


def text_of(cell: Cell) -> str | None:
    """A cell as display text in canonical spelling; None when blank."""
    if cell is None or cell == "":
        return None
    if cell.__class__ is str:
        # Called for every text of every row: the cache answers for blanks as well.
        return _text(cell)
    if is_empty(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return _canonical(str(cell))


@lru_cache(maxsize=CELL_TEXTS)
def _text(cell: str) -> str | None:
    return None if is_empty(cell) else _canonical(cell)


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of reading one cell: a value, or the code of the issue it raises."""

    value: int | float | str | None
    problem: str | None = None
    shown: str = ""  # the cell as the unit sees it, for messages


def _number_text(text: str) -> float | int | None:
    text = _GROUP_SPACES.sub("", text)
    match = _NUMBER.match(text)
    if not match:
        return None
    sign, body = match.groups()
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        # The separator that comes last is the decimal one.
        decimal = "," if body.rfind(",") > body.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        whole, _, frac = body.rpartition(decimal)
        if body.count(decimal) != 1 or not _THOUSANDS.match(whole) or not frac.isdigit():
            return None
        digits = whole.replace(thousands, "") + "." + frac
    elif dots + commas == 0:
        digits = body
    elif _THOUSANDS.match(body) and (dots > 1 or commas > 1 or dots == 1):
        # `1.234` is Vietnamese thousands; `1,234` (one comma) is Vietnamese decimal.
        digits = body.replace(".", "").replace(",", "")
    elif dots + commas == 1 and body[-1].isdigit() and body[0].isdigit():
        digits = body.replace(",", ".")
    else:
        return None
    if "." not in digits:
        whole = int(sign + digits) if len(digits) <= 20 else int(sign + "1" + "0" * 20)
        return whole if abs(whole) < MAX_MAGNITUDE else float(whole)
    return float(sign + digits)


def parse_number(cell: Cell, measure: str | None = None) -> Parsed:
    """Reads a `Giá trị` cell.

    Args:
        cell: the cell as calamine returns it.
        measure: the row's `Đơn vị tính`, allowed as a trailing word (`5 cuộc`).

    Returns:
        `Parsed(value)` with an int (whole numbers) or float, `Parsed(None)` for an empty cell,
        or `Parsed(None, code)` with R-VALUE-NOT-NUMBER, R-VALUE-DATE, R-CELL-ERROR or
        R-VALUE-TOO-BIG (a magnitude of `MAX_MAGNITUDE` or more, infinity included); a number
        read past the row's unit (`12 cuộc`) is `Parsed(12, "R-VALUE-READ-PAST-UNIT")`, a
        warning that says what was read.
    """
    if is_empty(cell):
        return Parsed(None)
    if isinstance(cell, bool):
        return Parsed(None, "R-VALUE-NOT-NUMBER", str(cell).upper())
    if isinstance(cell, int | float):
        return _typed_number(cell)
    if isinstance(cell, dt.date | dt.datetime | dt.time | dt.timedelta):
        return Parsed(None, "R-VALUE-DATE", _show_date(cell))
    text = _canonical(str(cell))
    if text in CELL_ERRORS:
        return Parsed(None, "R-CELL-ERROR", text)
    number = _number_text(text)
    told = None
    if number is None and measure:
        number, told = _past_unit(text, measure)
    if number is None:
        return Parsed(None, "R-VALUE-NOT-NUMBER", text)
    if not abs(number) < MAX_MAGNITUDE:
        return Parsed(None, "R-VALUE-TOO-BIG", text if len(text) <= 40 else text[:37] + "...")
    return Parsed(number, told, text if told else "")


def _typed_number(cell: int | float) -> Parsed:
    if isinstance(cell, float) and math.isnan(cell):
        return Parsed(None, "R-VALUE-NOT-NUMBER", str(cell))
    if not abs(cell) < MAX_MAGNITUDE:
        return Parsed(None, "R-VALUE-TOO-BIG", _show_big(cell))
    return Parsed(int(cell) if float(cell).is_integer() else cell)


def _past_unit(text: str, measure: str) -> tuple[int | float | None, str | None]:
    """A number read past the row's unit (`12 cuộc`): kept, and the unit is told what was read."""
    unit = fold(measure)
    if not unit or not fold(text).endswith(unit):
        return None, None
    head = text[: len(text) - _tail_length(text, unit)].strip()
    return (_number_text(head) if head else None), "R-VALUE-READ-PAST-UNIT"


def _show_big(number: float | int) -> str:
    if isinstance(number, float):
        return "vô cùng" if math.isinf(number) else f"{number:.3g}"
    return f"{float(number):.3g}" if number.bit_length() < 1000 else "hơn 10^300"


def _tail_length(text: str, folded_tail: str) -> int:
    # Folding can change lengths (NFD input); find the shortest suffix that folds to the unit.
    for size in range(1, len(text) + 1):
        if fold(text[-size:]) == folded_tail:
            return size
    return 0


def _show_date(cell: object) -> str:
    if isinstance(cell, dt.datetime):
        return (
            cell.strftime("%d/%m/%Y %H:%M") if cell.time() != dt.time() else _show_date(cell.date())
        )
    if isinstance(cell, dt.date):
        return cell.strftime("%d/%m/%Y")
    return str(cell)


def parse_code(cell: Cell, kind: str) -> Parsed:
    """Reads a `Mã nhiệm vụ` (kind "task") or `Mã chỉ tiêu` (kind "element") cell.

    Text is kept as typed (canonical spelling, trimmed). A number that Excel made of a code is
    recovered only when its shortest form has the code's shape: 1.1 -> "1.1" for a task,
    never for an element (1.1.1 cannot be a number). Note that 1.10 typed as a number is the
    number 1.1 and cannot be told apart from 1.1.

    Returns:
        `Parsed(code)`, `Parsed(None)` for a blank cell, or `Parsed(None, code)` with
        R-CODE-DATE, R-CODE-NUMBER or R-CELL-ERROR.
    """
    if isinstance(cell, str):
        return _code_text(cell)
    if cell is None:
        return Parsed(None)
    if isinstance(cell, dt.date | dt.datetime | dt.time | dt.timedelta):
        return Parsed(None, "R-CODE-DATE", _show_date(cell))
    if isinstance(cell, bool):
        return Parsed(None, "R-CODE-NUMBER", str(cell).upper())
    if isinstance(cell, int | float):
        shown = repr(float(cell)) if not float(cell).is_integer() else str(int(cell))
        shape = _TASK_CODE if kind == "task" else _ELEMENT_CODE
        if shape.match(shown):
            return Parsed(shown)
        return Parsed(None, "R-CODE-NUMBER", shown)
    text = _canonical(str(cell))
    if text in CELL_ERRORS:
        return Parsed(None, "R-CELL-ERROR", text)
    return Parsed(text)


@lru_cache(maxsize=CELL_TEXTS)
def _code_text(cell: str) -> Parsed:
    # Every row repeats codes seen in other files; a Parsed is immutable, so it is shared.
    if is_empty(cell):
        return Parsed(None)
    text = _canonical(cell)
    if text in CELL_ERRORS:
        return Parsed(None, "R-CELL-ERROR", text)
    return Parsed(text)


def period_of_cell(cell: Cell) -> str | None:
    """The canonical period (DHIS2 identifier) of a cell, or None when it is not a period.

    Accepts `2026Q3`, `2026-Q3`, `Q3-2026`, `Q3/2026`, `Quý III/2026`, `Quý 3 năm 2026`,
    `quy 3/2026`, `Quy3-2026`; years `2026`, `Năm 2026`; half-years `2026S1`, `S1/2026`,
    `6 tháng đầu năm 2026` (S1) / `6 tháng cuối năm 2026` (S2); months `202607`, `2026-07`,
    `07/2026`, `Tháng 7/2026`, `Tháng 7 năm 2026`. A number 2026 or 202607 counts as text.
    """
    if cell.__class__ is str:
        # Labels, file names and template periods repeat from file to file.
        return _period_of_text(cell)
    return _period_of(cell)


@lru_cache(maxsize=CELL_TEXTS)
def _period_of_text(cell: str) -> str | None:
    return _period_of(cell)


def _period_of(cell: Cell) -> str | None:
    text = _period_text(cell)
    if text is None:
        return None
    for pattern, build in _PERIOD_FORMS:
        if match := pattern.match(text):
            return build(match.groups())
    return None


def _period_text(cell: Cell) -> str | None:
    """The cell as folded text with tidy separators; a whole number counts as text."""
    if is_empty(cell) or isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
        if not float(cell).is_integer():
            return None
        cell = str(int(cell))
    if not isinstance(cell, str):
        return None
    text = re.sub(r"\s*([-/.])\s*", r"\1", fold(cell))
    return re.sub(r"\s+", " ", text).strip()


_YEAR = r"(20\d\d)"
_SEP = r"(?:[-/. ]|\s*nam\s*)"
# Each way of writing a period, and its canonical identifier from the pattern's groups.
_PERIOD_FORMS: tuple[tuple[re.Pattern[str], Callable[[tuple[str, ...]], str]], ...] = (
    (re.compile(rf"^(?:nam )?{_YEAR}$"), lambda g: g[0]),
    (re.compile(rf"^{_YEAR}-?q([1-4])$"), lambda g: f"{g[0]}Q{g[1]}"),
    (
        re.compile(rf"^(?:q|quy ?)([1-4]|iv|iii|ii|i){_SEP}{_YEAR}$"),
        lambda g: f"{g[1]}Q{_ROMAN.get(g[0]) or int(g[0])}",
    ),
    (re.compile(rf"^{_YEAR}-?s([12])$"), lambda g: f"{g[0]}S{g[1]}"),
    (re.compile(rf"^s([12]){_SEP}{_YEAR}$"), lambda g: f"{g[1]}S{g[0]}"),
    (
        re.compile(rf"^6 thang (dau|cuoi){_SEP}{_YEAR}$"),
        lambda g: f"{g[1]}S{1 if g[0] == 'dau' else 2}",
    ),
    (re.compile(rf"^{_YEAR}-?(0[1-9]|1[0-2])$"), lambda g: f"{g[0]}{g[1]}"),
    (
        re.compile(rf"^(?:thang ?)?(0?[1-9]|1[0-2]){_SEP}{_YEAR}$"),
        lambda g: f"{g[1]}{int(g[0]):02d}",
    ),
)


# ---------------------------------------------------------------------------------------------
# Periods in words: titles and date ranges

_DATE = r"(\d{1,2})/(\d{1,2})/(20\d\d)"
_RANGE = re.compile(rf"(?:tu ngay |tu )?{_DATE} ?(?:-|den ngay|den) ?{_DATE}")
# `ngày 05 tháng 10 năm 2026` dates a signature or a document, never the period reported.
_DAY_PHRASE = re.compile(r"ngay \d{1,2} ?(?:thang|/) ?\d{1,2} ?(?:nam|/) ?20\d\d")
_PLAN_SPAN = re.compile(r"(?:giai doan|nam) 20\d\d ?- ?20\d\d")
_TITLE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bquy ?([1-4]|iv|iii|ii|i)\b ?(?:nam|/|-)? ?(20\d\d)\b"), "Q"),
    (re.compile(r"\b6 thang (dau|cuoi) ?(?:nam|/|-)? ?(20\d\d)\b"), "S"),
    (re.compile(r"\bthang ?(0?[1-9]|1[0-2]) ?(?:nam|/|-) ?(20\d\d)\b"), "M"),
    (re.compile(r"\bnam ?(20\d\d)\b"), "Y"),
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """A period written as dates (`Từ ngày 01/7/2026 đến ngày 30/9/2026`)."""

    start: dt.date
    end: dt.date
    shown: str

    @property
    def period(self) -> str | None:
        """The period these dates span exactly, or None."""
        start, end = self.start, self.end
        if start.day != 1 or end.day != calendar.monthrange(end.year, end.month)[1]:
            return None
        if start.year != end.year:
            return None
        months = end.month - start.month + 1
        if months == 12:
            return str(start.year)
        if months == 6 and start.month in (1, 7):
            return f"{start.year}S{1 if start.month == 1 else 2}"
        if months == 3 and start.month % 3 == 1:
            return f"{start.year}Q{start.month // 3 + 1}"
        if months == 1:
            return f"{start.year}{start.month:02d}"
        return None

    def close_periods(self, count: int = 3) -> list[str]:
        """The periods nearest to these dates, as `2026Q3 (01/07/2026 - 30/09/2026)`."""
        candidates = []
        for year in range(self.start.year - 1, self.end.year + 2):
            spans = [(str(year), 1, 12)]
            spans += [(f"{year}S{n}", 6 * n - 5, 6 * n) for n in (1, 2)]
            spans += [(f"{year}Q{n}", 3 * n - 2, 3 * n) for n in range(1, 5)]
            spans += [(f"{year}{m:02d}", m, m) for m in range(1, 13)]
            for code, first, last in spans:
                start = dt.date(year, first, 1)
                end = dt.date(year, last, calendar.monthrange(year, last)[1])
                distance = abs((start - self.start).days) + abs((end - self.end).days)
                candidates.append((distance, code, start, end))
        candidates.sort(key=lambda c: c[:2])
        return [f"{c} ({a:%d/%m/%Y} - {b:%d/%m/%Y})" for _, c, a, b in candidates[:count]]


def parse_date_range(cell: Cell) -> DateRange | None:
    """The first `dd/mm/yyyy - dd/mm/yyyy` (or `từ ngày … đến ngày …`) in a text cell."""
    if not isinstance(cell, str) or "/" not in cell:
        return None
    return _date_range(cell)


@lru_cache(maxsize=CELL_TEXTS)
def _date_range(cell: str) -> DateRange | None:
    text = re.sub(r"\s*/\s*", "/", fold(cell))
    match = _RANGE.search(text)
    if not match:
        return None
    d1, m1, y1, d2, m2, y2 = (int(g) for g in match.groups())
    try:
        start, end = dt.date(y1, m1, d1), dt.date(y2, m2, d2)
    except ValueError:
        return None
    if end < start:
        return None
    return DateRange(start, end, match.group(0))


def period_in_text(cell: Cell) -> str | None:
    """The period a title line names (`BÁO CÁO … QUÝ III NĂM 2026`), or None.

    The most precise phrase wins: a quarter, a half-year (`6 tháng đầu năm 2026`), a month,
    then a year (`năm 2026`). Dates of a day (`ngày 05 tháng 10 năm 2026`, the signature's) and
    the plan's span (`giai đoạn 2026-2030`) are not periods.
    """
    if not isinstance(cell, str):
        return None
    return _period_in_text(cell)


@lru_cache(maxsize=CELL_TEXTS)
def _period_in_text(cell: str) -> str | None:
    # Titles recur in every file of a batch.
    text = _DAY_PHRASE.sub(" ", re.sub(r"\s*([-/])\s*", r"\1", fold(cell)))
    text = _PLAN_SPAN.sub(" ", text.replace("-", " - "))
    text = re.sub(r" - ", "-", text)
    for pattern, kind in _TITLE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groups()
        if kind == "Q":
            return f"{groups[1]}Q{_ROMAN.get(groups[0]) or int(groups[0])}"
        if kind == "S":
            return f"{groups[1]}S{1 if groups[0] == 'dau' else 2}"
        if kind == "M":
            return f"{groups[1]}{int(groups[0]):02d}"
        return groups[0]
    return None


def unit_code_of(cell: Cell) -> str | None:
    """A `Mã đơn vị` cell as a code: canonical text, a whole number without `.0`."""
    return text_of(cell)


_FILE_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.-]*)_(.+)$")


def from_file_name(stem: str) -> tuple[str, str] | None:
    """Unit and period from a file name stem `<UNIT>_<PERIOD>` (`THON-01_2026Q3`).

    Returns:
        (unit code, canonical period), or None unless the part after the first `_` is a period.
    """
    match = _FILE_NAME.match(canonical(stem))
    if not match:
        return None
    period = period_of_cell(match.group(2))
    return (match.group(1), period) if period else None
