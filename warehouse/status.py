"""Completeness of one period at a glance: who was expected, who sent, who is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from schemas.periods import parse_period
from warehouse.db import sql
from warehouse.query import open_published

# `follow_up` of `mart.expected_reports`: who to chase, in the order they are listed.
FOLLOW_UPS = ("chưa nộp", "bị từ chối, chờ gửi lại", "nộp muộn", "đúng hạn")


def _records(con: duckdb.DuckDBPyConnection, query: str, period: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql(query), {"period": period})
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def period_status(source: Path, period: str) -> dict[str, Any]:
    """Completeness per unit type and overall, and the units to chase, for one period.

    Args:
        source: the published folder, or a DuckDB file (published or not; opened read-only,
            so not while a load holds it).
        period: a canonical period identifier such as `2026Q3`.

    Returns:
        `period`, `deadline` (ISO date or None), `overall` (expected, received, accepted,
        on_time and their rates, in %; not_sent, rejected_only, late; values_received and
        progress_received), `by_unit_type` (the same per unit type), `units` (every expected
        unit: code, name, type, `follow_up` — `chưa nộp`, `bị từ chối, chờ gửi lại`,
        `nộp muộn` or `đúng hạn` — and whether values and progress were received) and
        `missing` (expected units with no accepted submission: code, name, type, whether
        anything was received, `follow_up`, the last status and when).

    Raises:
        ValueError: `period` is not a period identifier.
        FileNotFoundError: there is no warehouse at `source`.
    """
    code = parse_period(period).code
    con = open_published(source)
    try:
        deadline = con.execute(sql("analyses/period_deadline"), {"period": code}).fetchone()
        rows = _records(con, "analyses/period_completeness", code)
        missing = _records(con, "analyses/missing_units", code)
        units = _records(con, "analyses/period_units", code)
    finally:
        con.close()
    for unit in (*missing, *units):
        for key in ("last_received_at", "first_accepted_at"):
            if unit.get(key) is not None:
                unit[key] = unit[key].isoformat()
    overall = next((r for r in rows if r["level"] == "overall"), None)
    empty = {
        "expected": 0, "received": 0, "accepted": 0, "on_time": 0, "not_sent": 0,
        "rejected_only": 0, "late": 0, "values_received": 0, "progress_received": 0,
        "received_rate": None, "accepted_rate": None, "on_time_rate": None,
    }  # fmt: skip
    strip = ("level", "unit_type")
    return {
        "period": code,
        "deadline": deadline[0].isoformat() if deadline else None,
        "overall": {k: v for k, v in overall.items() if k not in strip} if overall else empty,
        "by_unit_type": [
            {k: v for k, v in r.items() if k != "level"} for r in rows if r["level"] != "overall"
        ],
        "units": units,
        "missing": missing,
    }
