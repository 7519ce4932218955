"""The dimensions from the schema files: plan years, units, tasks, elements, indicators,
their targets, the responsibility matrix, and the plan's quarters with their deadlines.

Rewritten whole from the schema before each load (one transaction, safe to rerun), apart from
loading the submissions themselves (`warehouse.load`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.periods import Period, parse_period, periods_of
from core.settings import Settings
from schemas.schema import Schema
from warehouse.db import connect, sql, transaction
from warehouse.load import deadline_at
from warehouse.migrate import apply


def _period_columns(periods: Iterable[Period], settings: Settings) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {
        key: []
        for key in (
            "period_code",
            "period_kind",
            "start_date",
            "end_date",
            "year",
            "deadline",
            "deadline_at",
        )
    }
    for period in periods:
        day, instant = deadline_at(period, settings)
        for key, value in (
            ("period_code", period.code),
            ("period_kind", period.kind),
            ("start_date", period.start),
            ("end_date", period.end),
            ("year", period.year),
            ("deadline", day),
            ("deadline_at", instant),
        ):
            columns[key].append(value)
    return columns


def sync_schema(
    db_path: Path, schema: Schema, settings: Settings, basis: str | None = None
) -> dict[str, int]:
    """Rewrite the dimensions from the schema: plan years, units, tasks, elements, indicators,
    their targets, the responsibility matrix, and the plan's reporting periods (quarters unless
    set otherwise) with their deadlines.

    Safe to rerun; one transaction. Periods already known (loads add the ones submissions name)
    keep their rows, with deadlines recomputed from the current settings.

    Args:
        db_path: the warehouse file.
        schema: the task schema.
        settings: for the reporting periods and deadlines.
        basis: what the schema and those settings are (`schema_basis`); when the dimensions
            were last written from the same, nothing is rewritten (a province's registry makes
            millions of responsibility rows).

    Returns:
        Rows written per table; empty when nothing needed rewriting.
    """
    if basis is not None and _synced_from(db_path) == basis:
        return {}
    units = schema.registry.units
    tasks = schema.catalog.tasks
    elements = schema.elements.elements
    indicators = schema.elements.indicators
    roles = schema.roles
    targets = [(code, year, target) for (code, year), target in schema.targets.indicators.items()]
    element_targets = [
        (code, year, target) for (code, year), target in schema.targets.elements.items()
    ]
    tables: dict[str, dict[str, list[Any]]] = {
        "plan_years": {"year": list(schema.plan_years)},
        "units": {
            "unit_code": [u.code for u in units],
            "unit_name": [u.name for u in units],
            "unit_type": [u.type for u in units],
            "email": [u.email for u in units],
            "active": [u.active for u in units],
        },
        "tasks": {
            "task_code": [t.code for t in tasks],
            "group_code": [t.group_code for t in tasks],
            "content": [t.content for t in tasks],
            "lead": [t.lead.text for t in tasks],
            "coordinators": [t.coordinators.text for t in tasks],
            "results": [t.results for t in tasks],
            "timeframe": [t.timeframe.text for t in tasks],
            "timeframe_kind": [t.timeframe.kind for t in tasks],
            "start_year": [t.timeframe.start_year for t in tasks],
            "end_year": [t.timeframe.end_year for t in tasks],
        },
        "data_elements": {
            "element_code": [e.code for e in elements],
            "task_code": [e.task for e in elements],
            "element_name": [e.name for e in elements],
            "measure": [e.measure for e in elements],
            "element_type": [e.type for e in elements],
        },
        "indicators": {
            "indicator_code": [i.code for i in indicators],
            "indicator_name": [i.name for i in indicators],
            "kind": [i.kind for i in indicators],
            "numerator_element": [i.numerator for i in indicators],
            "denominator_element": [i.denominator for i in indicators],
            "unit_type": [i.unit_type for i in indicators],
            "scale": [i.scale for i in indicators],
            "target_op": [i.target_op for i in indicators],
        },
        "element_targets": {
            "element_code": [t[0] for t in element_targets],
            "year": [t[1] for t in element_targets],
            "target": [t[2] for t in element_targets],
        },
        "indicator_targets": {
            "indicator_code": [t[0] for t in targets],
            "year": [t[1] for t in targets],
            "target": [t[2] for t in targets],
        },
        # Expanded to the plan years in SQL: a province's registry has half a million cells.
        "assignments": {
            "task_code": [task for task, _ in roles],
            "unit_code": [unit for _, unit in roles],
            "role": list(roles.values()),
        },
    }
    con = connect(db_path)
    try:
        apply(con)
        with transaction(con):
            con.execute(sql("sync/clear_dimensions"))
            for table, columns in tables.items():
                con.execute(sql(f"sync/insert_{table}"), columns)
            known = [row[0] for row in con.execute(sql("sync/existing_periods")).fetchall()]
            kind = settings.reporting_period_kind
            con.execute(sql("sync/insert_reporting"), {"period_kind": [kind]})
            periods = {p.code: p for p in periods_of(kind, schema.plan_years)}
            for code in known:
                if code not in periods:
                    periods[code] = parse_period(code)
            con.execute(sql("sync/upsert_periods"), _period_columns(periods.values(), settings))
            cells = con.execute(sql("sync/count_assignments")).fetchone()
            if basis is not None:
                con.execute(
                    sql("sync/record_basis"), {"basis": basis, "synced_at": datetime.now(UTC)}
                )
    finally:
        con.close()
    counts = {table: len(next(iter(columns.values()))) for table, columns in tables.items()}
    counts["assignments"] = int(cells[0]) if cells else 0
    counts["periods"] = len(periods)
    return counts


def schema_basis(schema: Schema, settings: Settings) -> str:
    """What the dimensions are written from: the schema files' fingerprint and the settings
    that shape plan years, periods and deadlines."""
    shaping = settings.model_dump(
        mode="json",
        include={
            "plan_start_year",
            "plan_end_year",
            "reporting_period_kind",
            "timezone",
            "deadline_day",
            "deadline_month_offset",
        },
    )
    return json.dumps({"schema": schema.fingerprint, "settings": shaping}, sort_keys=True)


def _synced_from(db_path: Path) -> str | None:
    con = connect(db_path)
    try:
        apply(con)
        row = con.execute(sql("sync/last_basis")).fetchone()
    finally:
        con.close()
    return str(row[0]) if row else None
