"""The nightly consolidation: ingest what is new, republish, and leave the period's picture."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.ingest_submissions import VIETNAM, ingest_submissions
from khcn.settings import Settings, load_settings
from schemas.periods import Period, quarters
from warehouse.query import query
from warehouse.status import period_status


@task(cache_policy=NO_CACHE)
def current_quarter(settings: Settings) -> Period:
    """The latest quarter of the plan that has started."""
    today = datetime.now(VIETNAM).date()
    started = [q for q in quarters(settings.plan_years) if q.start <= today]
    return started[-1] if started else quarters(settings.plan_years)[0]


@task(cache_policy=NO_CACHE)
def report_completeness(settings: Settings, period: Period) -> dict[str, Any]:
    """Completeness of the period, by unit type, as an artifact."""
    status = period_status(settings.published, str(period))
    rows = [{"unit_type": "Tổng", **status["overall"]}, *status["by_unit_type"]]
    create_table_artifact(rows, key="khcn-completeness", description=f"Đầy đủ kỳ {period}")
    return status


@task(cache_policy=NO_CACHE)
def report_indicators(settings: Settings) -> list[dict[str, Any]]:
    """The plan's indicators per year, as an artifact."""
    columns, rows = query(
        settings.published, "select * from mart.indicators order by indicator_code, year"
    )
    table = [dict(zip(columns, row, strict=True)) for row in rows]
    create_table_artifact(table, key="khcn-indicators", description="Chỉ số kế hoạch")
    return table


@flow(name="consolidate-nightly")
def consolidate_nightly() -> dict[str, Any]:
    """Ingest everything received, republish the warehouse, and report the period."""
    settings = load_settings()
    report = ingest_submissions()
    period = current_quarter(settings)
    report["completeness"] = report_completeness(settings, period)
    report["indicators"] = report_indicators(settings)
    return report
