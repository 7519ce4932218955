"""A commune that reports monthly changes one setting; a monthly submission then goes through
the real ingest flow into the marts, expected, counted and on time by the month."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import duckdb
import pytest

from core.periods import covered, holding, parse_period, periods_of
from core.settings import Settings
from demo.samples import fill_workbook, sample_progress, sample_values
from flows.consolidate_nightly import last_closed_period
from flows.ingest_submissions import ingest_submissions
from outputs.template import write_template
from schemas.schema import load_schema
from warehouse.publish import published_database
from warehouse.report import report_scope
from warehouse.status import period_status

MONTH = "202607"


def test_periods_of_every_kind() -> None:
    year = range(2026, 2027)
    assert [p.code for p in periods_of("half", year)] == ["2026S1", "2026S2"]
    assert [p.code for p in periods_of("month", year)][6:9] == ["202607", "202608", "202609"]
    assert [p.code for p in periods_of("year", range(2026, 2028))] == ["2026", "2027"]
    assert holding(date(2026, 8, 5), "quarter").code == "2026Q3"
    assert holding(date(2026, 12, 31), "half").code == "2026S2"
    # A longer period is the sum of its reporting periods; a shorter one stands for its own.
    assert [p.code for p in covered(parse_period("2026Q3"), "month")] == [
        "202607",
        "202608",
        "202609",
    ]
    assert [p.code for p in covered(parse_period("202608"), "quarter")] == ["2026Q3"]
    assert [p.code for p in covered(parse_period("2026"), "half")] == ["2026S1", "2026S2"]


def test_the_setting_names_the_plan_periods_and_the_one_being_chased() -> None:
    monthly = Settings(reporting_period_kind="month")
    assert len(monthly.reporting_periods) == 12 * len(monthly.plan_years)
    assert last_closed_period(monthly, date(2026, 9, 21)).code == "202609"
    assert last_closed_period(Settings(), date(2026, 9, 21)).code == "2026Q3"
    assert report_scope("2026Q3", monthly.plan_years, date(2026, 11, 1), "month").periods == (
        "202607",
        "202608",
        "202609",
    )
    assert report_scope("202607", monthly.plan_years, date(2026, 11, 1), "month").label == (
        "tháng 07 năm 2026"
    )
    with pytest.raises(ValueError, match="báo cáo lập theo năm"):
        report_scope("2026Q3", monthly.plan_years, date(2026, 11, 1), "year")
    with pytest.raises(ValueError):
        Settings(reporting_period_kind="week")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Mars/Olympus"):
        Settings(timezone="Mars/Olympus")


def _published(settings: Settings, query: str, *params: object) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


@pytest.mark.usefixtures("prefect_api")
def test_a_monthly_submission_goes_through_the_flow_into_the_marts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_SCHEMAS_DIR", str(settings.schemas_dir))
    monkeypatch.setenv("KHCN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KHCN_REPORTING_PERIOD_KIND", "month")  # the one change
    schema = load_schema(settings)
    period = parse_period(MONTH)
    unit = next(u for u in schema.registry.units if u.active and schema.tasks_due(u, period))
    tasks = schema.tasks_due(unit, period)
    inbox = settings.data_dir / "inbox"
    path = write_template(schema, unit, period, inbox / f"{unit.code}_{MONTH}.xlsx")
    rng = random.Random(7)
    values: dict[str, object] = {}
    while not values:
        values = dict(sample_values(schema, unit, tasks, rng))
    fill_workbook(path, values, sample_progress(tasks, period, rng))

    report = ingest_submissions()

    assert [(f.unit, f.period, f.verdict) for f in report.files] in (
        [(unit.code, MONTH, "accepted")],
        [(unit.code, MONTH, "warned")],
    )
    loaded = _published(settings, "select period, status from mart.submissions")
    assert [row[0] for row in loaded] == [MONTH]
    expected = _published(settings, "select distinct period from mart.expected_reports")
    months = {p.code for p in periods_of("month", settings.plan_years)}
    assert {row[0] for row in expected} == months
    mine = _published(
        settings,
        "select received, accepted, deadline from mart.expected_reports "
        "where unit_code = ? and period = ?",
        unit.code,
        MONTH,
    )
    assert mine == [(True, True, date(2026, 7, settings.deadline_day))]
    counted = _published(
        settings,
        "select expected, accepted from mart.completeness where period = ? and level = 'overall'",
        MONTH,
    )
    assert counted and counted[0][1] == 1 and counted[0][0] >= 1
    progress = _published(settings, "select distinct period from mart.task_progress")
    assert {row[0] for row in progress} <= months
    quarter = period_status(settings.published, "2026Q3", "month")
    assert [q["period"] for q in quarter["quarters"]] == ["202607", "202608", "202609"]
    assert quarter["overall"]["accepted"] == 1
