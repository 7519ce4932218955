"""Completeness of one period at a glance: who was expected, who sent, who is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.periods import parse_period
from warehouse.db import sql
from warehouse.query import open_published


def period_status(source: Path, period: str) -> dict[str, Any]:
    """Completeness per unit type and overall, and the missing units, for one period.

    Args:
        source: the published folder, or a DuckDB file (published or not; opened read-only,
            so not while a load holds it).
        period: a canonical period identifier such as `2026Q3`.

    Returns:
        `period`, `deadline` (ISO date or None), `overall` (expected, received, accepted,
        on_time and their rates, in %), `by_unit_type` (the same per unit type) and `missing`
        (expected units with no accepted submission: code, name, type, whether anything was
        received, the last status and when).

    Raises:
        ValueError: `period` is not a period identifier.
        FileNotFoundError: there is no warehouse at `source`.
    """
    code = parse_period(period).code
    con = open_published(source)
    try:
        deadline = con.execute(sql("analyses/period_deadline"), {"period": code}).fetchone()
        cursor = con.execute(sql("analyses/period_completeness"), {"period": code})
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        cursor = con.execute(sql("analyses/missing_units"), {"period": code})
        columns = [d[0] for d in cursor.description]
        missing = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    for unit in missing:
        if unit["last_received_at"] is not None:
            unit["last_received_at"] = unit["last_received_at"].isoformat()
    overall = next((r for r in rows if r["level"] == "overall"), None)
    empty = {"expected": 0, "received": 0, "accepted": 0, "on_time": 0}
    strip = ("level", "unit_type")
    return {
        "period": code,
        "deadline": deadline[0].isoformat() if deadline else None,
        "overall": {k: v for k, v in overall.items() if k not in strip} if overall else empty,
        "by_unit_type": [
            {k: v for k, v in r.items() if k != "level"} for r in rows if r["level"] != "overall"
        ],
        "missing": missing,
    }
