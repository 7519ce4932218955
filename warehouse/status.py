"""Completeness of one period at a glance: who was expected, who sent, who to chase."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from core.periods import PeriodKind, covered, parse_period
from warehouse.db import sql
from warehouse.query import open_published

# What each unit that owes something must do, in the words the analyst reads.
STATE_LABELS: dict[str, str] = {
    "not_sent": "chưa nộp",
    "awaiting_resend": "bị từ chối, chờ gửi lại",
    "late": "nộp muộn",
    "on_time": "đúng hạn",
}


def period_status(
    source: Path, period: str, kind: PeriodKind = "quarter", commune: str | None = None
) -> dict[str, Any]:
    """Completeness per unit type and overall, and the units to chase, for one period.

    A reporting period (a quarter, by default) is read as is; a longer period adds up the
    reporting periods inside it (one expected report per unit and period); a shorter one stands
    for the reporting period holding it.

    Args:
        source: the published folder, or a DuckDB file (published or not; opened read-only,
            so not while a load holds it).
        period: a period identifier: `2026Q3`, `2026S2`, `2026` or `202608`.
        kind: how often units report (the setting `reporting_period_kind`).
        commune: on a province's copy, one commune (NSO code) rather than the province.

    Returns:
        `period`, `quarters` (the reporting periods counted, with their deadlines; the key keeps
        its name whatever their kind), `deadline` (ISO date of a single one, else None),
        `overall` (expected, received, accepted, on_time, not_sent, awaiting_resend, late and
        the rates, in %), `by_unit_type` (the same per unit type), `missing` (expected units
        with no accepted submission, each with its `report_state`: `not_sent` or
        `awaiting_resend`), the same units split into
        `not_sent`, `awaiting_resend` and `late` (accepted after the deadline), `units` (every
        expected unit with its `report_state`, `values_received` and `progress_received`) and
        `partial` (accepted units whose values or progress are still missing).

    Raises:
        ValueError: `period` is not a period identifier, or none of its reporting periods is in
            the warehouse's plan.
        FileNotFoundError: there is no warehouse at `source`.
    """
    parsed = parse_period(period)
    wanted = covered(parsed, kind)
    con = open_published(source, commune)
    try:
        deadlines = {
            q.code: found[0]
            for q in wanted
            if (
                found := con.execute(sql("analyses/period_deadline"), {"period": q.code}).fetchone()
            )
        }
        if not deadlines:
            raise ValueError(f"kỳ {parsed.code} nằm ngoài kế hoạch của kho dữ liệu")
        rows: list[dict[str, Any]] = []
        owing: list[dict[str, Any]] = []
        units: list[dict[str, Any]] = []
        for code in deadlines:
            rows += _fetch(con, "analyses/period_completeness", code)
            owing += _fetch(con, "analyses/units_to_chase", code)
            units += _fetch(con, "analyses/period_units", code)
    finally:
        con.close()
    for unit in (*owing, *units):
        for key in ("last_received_at", "first_accepted_at"):
            if unit[key] is not None:
                unit[key] = unit[key].isoformat()
        unit["state_label"] = STATE_LABELS[unit["report_state"]]
    overall = _sum(r for r in rows if r["level"] == "overall")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["level"] != "overall":
            by_type.setdefault(row["unit_type"], []).append(row)
    single = len(deadlines) == 1
    return {
        "period": parsed.code,
        "quarters": [{"period": q, "deadline": d.isoformat()} for q, d in deadlines.items()],
        "deadline": next(iter(deadlines.values())).isoformat() if single else None,
        "overall": overall,
        "by_unit_type": [
            {"unit_type": name, **_sum(group)} for name, group in sorted(by_type.items())
        ],
        "missing": [u for u in owing if u["report_state"] != "late"],
        "units": units,
        # Accepted, but without its values or without its progress table.
        "partial": [u for u in units if u["accepted"] and not _whole(u)],
        **{state: [u for u in owing if u["report_state"] == state] for state in STATE_LABELS
           if state != "on_time"},
    }  # fmt: skip


def _whole(unit: dict[str, Any]) -> bool:
    return bool(unit["values_received"] and unit["progress_received"])


def _fetch(con: duckdb.DuckDBPyConnection, query: str, period: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql(query), {"period": period})
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _sum(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts added up over reporting periods, and every `<count>_rate` recomputed from them."""
    total: dict[str, Any] = {"expected": 0, "received": 0, "accepted": 0, "on_time": 0}
    for row in rows:
        for key, value in row.items():
            if key in ("level", "unit_type", "period", "year") or key.endswith("_rate"):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    for key in list(total):
        total[f"{key}_rate"] = (
            round(100.0 * total[key] / total["expected"], 2) if total["expected"] else None
        )
    total.pop("expected_rate")
    return total
