"""The nightly consolidation: ingest what is new, republish, and leave the period's picture."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from core.periods import Period
from core.settings import Settings, load_settings
from flows.ingest_submissions import ingest_submissions
from flows.results import ConsolidateResult
from warehouse.query import query
from warehouse.status import period_status


def last_closed_period(settings: Settings, today: date) -> Period:
    """The latest reporting period of the plan whose deadline has passed (the first one before
    any has).

    That is the period the commune is chasing (a quarter, unless it reports otherwise); the open
    period is 0% and not yet due.
    """
    plan = settings.reporting_periods
    closed = [
        p for p in plan if p.deadline(settings.deadline_day, settings.deadline_month_offset) < today
    ]
    return closed[-1] if closed else plan[0]


@task(cache_policy=NO_CACHE)
def report_completeness(settings: Settings, period: Period) -> dict[str, Any]:
    """Completeness of the period, by unit type, as an artifact."""
    status = period_status(settings.published, str(period), settings.reporting_period_kind)
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
def consolidate_nightly(
    period: str | None = None, settings: Settings | None = None
) -> ConsolidateResult:
    """Ingest everything received, republish the warehouse, and report a period.

    Args:
        period: the period to report (any kind: `2026Q3`, `2026S1`, `2026`, `202607`);
            default the last reporting period whose deadline has passed.
        settings: the settings to run with (the command line's); default loaded as configured.
    """
    settings = settings or load_settings()
    chosen = (
        settings.plan_period(period)
        if period
        else last_closed_period(settings, datetime.now(settings.tz).date())
    )
    ingest = ingest_submissions(settings=settings)
    return ConsolidateResult(
        ingest=ingest,
        completeness=report_completeness(settings, chosen),
        indicators=report_indicators(settings),
    )
