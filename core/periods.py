"""Reporting periods in DHIS2's identifiers (`2026`, `2026S1`, `2026Q3`, `202607`): their dates
and their deadlines."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

PeriodKind = Literal["year", "half", "quarter", "month"]
# How many periods of each kind a year holds, and the identifier of the n-th (1-based).
PER_YEAR: dict[PeriodKind, int] = {"year": 1, "half": 2, "quarter": 4, "month": 12}
_CODES: dict[PeriodKind, str] = {
    "year": "{year}",
    "half": "{year}S{n}",
    "quarter": "{year}Q{n}",
    "month": "{year}{n:02d}",
}
_FORMS = re.compile(r"^(?P<year>\d{4})(?:(?P<kind>[SQ])(?P<n>\d)|(?P<month>\d{2}))?$")


@dataclass(frozen=True, order=True)
class Period:
    """A canonical reporting period; `str(period)` is its identifier."""

    start: date
    end: date
    kind: PeriodKind
    code: str

    @property
    def year(self) -> int:
        return self.start.year

    def __str__(self) -> str:
        return self.code

    def deadline(self, day: int, month_offset: int = 0) -> date:
        """The report is due on `day` of the period's last month, `month_offset` months later.

        Decree 09/2019/NĐ-CP closes quarterly figures on the 14th of the quarter's last month;
        the commune sets `day` (and the offset) in its settings.
        """
        months = self.end.year * 12 + self.end.month - 1 + month_offset
        year, month = divmod(months, 12)
        last_day = calendar.monthrange(year, month + 1)[1]
        return date(year, month + 1, min(day, last_day))


def parse_period(code: str) -> Period:
    """Parse a canonical period identifier.

    Raises:
        ValueError: not one of `YYYY`, `YYYYSn`, `YYYYQn`, `YYYYMM`.
    """
    match = _FORMS.match(code.strip())
    if not match:
        raise ValueError(f"kỳ báo cáo «{code}» không đúng dạng 2026Q3, 2026S1, 202607 hoặc 2026")
    year = int(match["year"])
    if match["month"]:
        first = last = int(match["month"])
        kind: PeriodKind = "month"
    elif match["kind"] == "Q":
        n = int(match["n"])
        first, last, kind = 3 * n - 2, 3 * n, "quarter"
        if not 1 <= n <= 4:
            raise ValueError(f"kỳ báo cáo «{code}»: quý phải từ 1 đến 4")
    elif match["kind"] == "S":
        n = int(match["n"])
        first, last, kind = 6 * n - 5, 6 * n, "half"
        if not 1 <= n <= 2:
            raise ValueError(f"kỳ báo cáo «{code}»: nửa năm phải là S1 hoặc S2")
    else:
        first, last, kind = 1, 12, "year"
    if not 1 <= first <= last <= 12:
        raise ValueError(f"kỳ báo cáo «{code}»: tháng phải từ 01 đến 12")
    end = date(year, last, calendar.monthrange(year, last)[1])
    return Period(start=date(year, first, 1), end=end, kind=kind, code=code.strip())


def periods_of(kind: PeriodKind, years: range) -> list[Period]:
    """Every period of `kind` in the given years, in order."""
    code = _CODES[kind]
    return [
        parse_period(code.format(year=y, n=n)) for y in years for n in range(1, PER_YEAR[kind] + 1)
    ]


def quarters(years: range) -> list[Period]:
    """Every quarter of the given years, in order."""
    return periods_of("quarter", years)


def holding(day: date, kind: PeriodKind) -> Period:
    """The period of `kind` that holds `day`."""
    n = (day.month - 1) * PER_YEAR[kind] // 12 + 1
    return parse_period(_CODES[kind].format(year=day.year, n=n))


def covered(period: Period, kind: PeriodKind) -> list[Period]:
    """The periods of `kind` a period speaks of: those inside it, or the one holding it.

    With quarterly reporting a year or a half-year is the sum of its quarters and a month is
    read as the quarter it falls in; with monthly reporting a quarter is its three months.
    """
    if PER_YEAR[period.kind] >= PER_YEAR[kind]:
        return [holding(period.start, kind)]
    year = range(period.year, period.year + 1)
    return [p for p in periods_of(kind, year) if period.start <= p.start and p.end <= period.end]
