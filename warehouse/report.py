"""The period report for upstream: the published marts cut to a period, a year or the plan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from core.periods import PER_YEAR, Period, PeriodKind, parse_period, periods_of
from warehouse.db import sql
from warehouse.query import open_published

_RANGE = re.compile(r"^\s*(\d{4})\s*-\s*(\d{4})\s*$")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
# The periods a report may be made for, from the reporting kind up, as the analyst reads them.
_KINDS_FROM: dict[PeriodKind, str] = {
    "month": "tháng (202607), quý (2026Q3), nửa năm (2026S1), năm (2026)",
    "quarter": "quý (2026Q3), nửa năm (2026S1), năm (2026)",
    "half": "nửa năm (2026S1), năm (2026)",
    "year": "năm (2026)",
}


@dataclass(frozen=True)
class Scope:
    """What a report covers: its code, its words, its reporting periods and years."""

    code: str
    label: str
    periods: tuple[str, ...]
    years: tuple[int, ...]


@dataclass
class ReportData:
    """Every table of the period report, rows as dictionaries."""

    scope: Scope
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.scope.label

    @property
    def years(self) -> tuple[int, ...]:
        return self.scope.years


def report_scope(
    period: str, plan_years: range, today: date, kind: PeriodKind = "quarter"
) -> Scope:
    """The reporting periods and years a report for `period` covers.

    `2026Q3` (a quarter), `2026S1`, `2026` (a year) or `2026-2030` (the plan so far: the
    reporting periods started by `today`). `kind` is how often units report (the setting
    `reporting_period_kind`); a report covers whole reporting periods, never less than one.

    Raises:
        ValueError: in Vietnamese, when the period is malformed or outside the plan.
    """
    first, last = plan_years[0], plan_years[-1]
    outside = f"kỳ «{period.strip()}» nằm ngoài kế hoạch {first}-{last}"
    if match := _RANGE.match(period):
        start, end = int(match[1]), int(match[2])
        if start > end or start not in plan_years or end not in plan_years:
            raise ValueError(outside)
        started = [p for p in periods_of(kind, range(start, end + 1)) if p.start <= today]
        chosen = started or periods_of(kind, range(start, start + 1))[:1]
        return Scope(
            code=f"{start}-{end}",
            label=f"giai đoạn {start}-{end} (đến {chosen[-1].end:%d/%m/%Y})",
            periods=tuple(q.code for q in chosen),
            years=tuple(range(start, max(q.year for q in chosen) + 1)),
        )
    parsed = parse_period(period)
    if parsed.year not in plan_years:
        raise ValueError(outside)
    if PER_YEAR[parsed.kind] > PER_YEAR[kind]:
        # Shorter than what units report for: no completeness or progress of its own.
        raise ValueError(
            f"kỳ «{parsed.code}»: báo cáo lập theo {_KINDS_FROM[kind]} "
            f"hoặc giai đoạn ({first}-{last})"
        )
    year = range(parsed.year, parsed.year + 1)
    inside = [p for p in periods_of(kind, year) if _within(p, parsed)]
    return Scope(
        code=parsed.code,
        label=_label(parsed),
        periods=tuple(q.code for q in inside) or (parsed.code,),
        years=(parsed.year,),
    )


def _within(part: Period, period: Period) -> bool:
    return period.start <= part.start and part.end <= period.end


def _label(period: Period) -> str:
    if period.kind == "quarter":
        return f"quý {_ROMAN[(period.start.month + 2) // 3]} năm {period.year}"
    if period.kind == "half":
        half = "6 tháng đầu" if period.start.month == 1 else "6 tháng cuối"
        return f"{half} năm {period.year}"
    if period.kind == "month":
        return f"tháng {period.start.month:02d} năm {period.year}"
    return f"năm {period.year}"


# Section key and the query under warehouse/sql/analyses.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("completeness", "analyses/report_completeness"),
    ("missing", "analyses/report_missing"),
    ("values", "analyses/report_values"),
    ("progress", "analyses/report_progress"),
    ("indicators", "analyses/report_indicators"),
)


def period_report(source: Path, scope: Scope, commune: str | None = None) -> ReportData:
    """Every section of the report for `scope`, read from the published copy.

    Args:
        source: the published folder (or a DuckDB file, opened read-only).
        scope: what the report covers (`report_scope`).
        commune: on a province's copy, one commune (NSO code) rather than the province.

    Raises:
        FileNotFoundError: nothing has been published yet.
    """
    con = open_published(source, commune)
    try:
        data = ReportData(scope)
        params: dict[str, Any] = {"periods": list(scope.periods), "years": list(scope.years)}
        for key, query in SECTIONS:
            text = sql(query)
            cursor = con.execute(text, {k: v for k, v in params.items() if f"${k}" in text})
            columns = [d[0] for d in cursor.description]
            data.sections[key] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return data
    finally:
        con.close()
