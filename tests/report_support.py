"""A published warehouse with three quarters of reports, for the report and dashboard tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warehouse_support import Received, full_values, make_file

from core.settings import Settings
from schemas.schema import Schema
from warehouse.load import load, sync_schema
from warehouse.migrate import init
from warehouse.publish import publish

QUARTERS = ("2026Q1", "2026Q2", "2026Q3")
STATUSES = ("Chưa triển khai", "Đang triển khai", "Hoàn thành")


def publish_three_quarters(settings: Settings, schema: Schema) -> Path:
    """Units send reports for 2026Q1-Q3 (some late, one rejected, some never); published."""
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files: list[Received] = []
    senders = ("UBND", "P-VHXH", "MN-NH", "TH-NH-A", "THON-01", "THON-02", "THON-03")
    for q, period in enumerate(QUARTERS):
        month = 3 * q + 3
        for i, unit in enumerate(senders[: len(senders) - q]):
            found = schema.registry.unit(unit)
            assert found is not None
            tasks = [t.code for t, _ in schema.tasks_for(found, 2026)]
            progress = {
                task: (STATUSES[(i + j + q) % 3], f"Kết quả «{unit}» <b>{task}</b>")
                for j, task in enumerate(tasks)
            }
            late = i % 3 == 2
            files.append(
                make_file(
                    settings,
                    unit,
                    period,
                    full_values(schema, unit, period, 3.0 + i + q),
                    progress=progress,
                    received_at=datetime(2026, month + (1 if late else 0), 10, 3, tzinfo=UTC),
                    salt=f"{period}-{unit}",
                )
            )
        files.append(
            make_file(
                settings,
                "THON-04",
                period,
                {},
                errors=["R-CODE-DATE"],
                received_at=datetime(2026, month, 12, 3, tzinfo=UTC),
                salt=period,
            )
        )
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, settings.published)
    return settings.published
