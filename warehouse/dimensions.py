"""The dimensions from the schema files: plan years, units, tasks, elements, indicators,
their targets, the responsibility matrix, and the plan's quarters with their deadlines.

Rewritten whole from the schema before each load (one transaction, safe to rerun), apart from
loading the submissions themselves (`warehouse.load`).
"""

from __future__ import annotations

from collections.abc import Iterable
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


def sync_schema(db_path: Path, schema: Schema, settings: Settings) -> dict[str, int]:
    """Rewrite the dimensions from the schema: plan years, units, tasks, elements, indicators,
    their targets, the responsibility matrix, and the plan's reporting periods (quarters unless
    set otherwise) with their deadlines.

    Safe to rerun; one transaction. Periods already known (loads add the ones submissions name)
    keep their rows, with deadlines recomputed from the current settings.

    Returns:
        Rows written per table.
    """
    units = schema.registry.units
    tasks = schema.catalog.tasks
    elements = schema.elements.elements
    indicators = schema.elements.indicators
    assignments = [a for a in schema.matrix() if a.role is not None]
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
        "assignments": {
            "task_code": [a.task for a in assignments],
            "unit_code": [a.unit for a in assignments],
            "year": [a.year for a in assignments],
            "role": [a.role for a in assignments],
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
    finally:
        con.close()
    counts = {table: len(next(iter(columns.values()))) for table, columns in tables.items()}
    counts["periods"] = len(periods)
    return counts
