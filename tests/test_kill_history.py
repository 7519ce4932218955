"""A load killed part-way: the next run closes it as interrupted, and judges the rest of the
files against the same history one uninterrupted run would have used."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb
import pytest

from core.model import Submission
from core.periods import parse_period
from core.settings import Settings
from demo.samples import fill_workbook, sample_progress, sample_values
from outputs.template import template_name, write_template
from schemas.schema import Schema
from schemas.validation import validate_in_batches
from schemas.verdict import Verdict
from sources.inbox import InboxEntry
from sources.read import read_many
from warehouse.archive import Receipt, archive
from warehouse.history import value_history
from warehouse.load import load, sync_schema
from warehouse.migrate import init
from warehouse.runs import close_interrupted_runs

UNIT = "THON-01"
PERIODS = ["2026Q1", "2026Q2", "2026Q3", "2026Q4", "2027Q1"]
STEADY = [10, 11, 10, 12]  # the unit's usual figure, then one far from it
TODAY = date(2027, 6, 1)


def _files(
    schema: Schema, settings: Settings, folder: Path
) -> tuple[list[Receipt], list[Submission]]:
    """Five quarters of one unit, the last one with a figure far from its usual."""
    unit = schema.registry.unit(UNIT)
    assert unit is not None
    rng = random.Random(3)
    receipts: list[Receipt] = []
    entries: list[InboxEntry] = []
    element = None
    for i, code in enumerate(PERIODS):
        period = parse_period(code)
        tasks = schema.tasks_due(unit, period)
        path = write_template(schema, unit, period, folder / template_name(unit, period))
        values = sample_values(schema, unit, tasks, rng)
        if element is None:
            element = next(c for c, v in values.items() if isinstance(v, int))
        values[element] = STEADY[i] if i < len(STEADY) else 400
        fill_workbook(path, values, sample_progress(tasks, period, rng))
        receipts.append(
            archive(
                path.read_bytes(),
                name=path.name,
                url=str(path),
                archive_dir=settings.archive,
                received_at=datetime.combine(period.end, time(9), tzinfo=UTC),
            )
        )
        entries.append(
            InboxEntry(
                url=str(receipts[-1].archived_path), name=path.name, size=0, unit_folder=None
            )
        )
    submissions = read_many(entries, settings, workers=1)
    for submission, receipt in zip(submissions, receipts, strict=True):
        submission.url, submission.sha256 = receipt.url, receipt.sha256
    return receipts, submissions


def _judged(verdicts: list[Verdict]) -> dict[str, tuple[str, list[str]]]:
    return {
        v.submission.period or "": (v.status, sorted(f.code for f in v.findings)) for v in verdicts
    }


@pytest.fixture
def judged_once(
    schema: Schema, settings: Settings, tmp_path: Path
) -> tuple[list[Receipt], list, dict[str, tuple[str, list[str]]]]:
    receipts, submissions = _files(schema, settings, tmp_path / "inbox")
    clean = validate_in_batches(
        submissions, schema, today=TODAY, history=value_history(settings.warehouse)
    )
    return receipts, submissions, _judged(clean)


def test_the_rest_of_an_interrupted_load_is_judged_as_in_one_run(
    schema: Schema, settings: Settings, judged_once: tuple
) -> None:
    receipts, submissions, clean = judged_once
    assert all(status != "rejected" for status, _ in clean.values()), clean
    db = settings.warehouse
    init(db)
    sync_schema(db, schema, settings)
    first = validate_in_batches(submissions, schema, today=TODAY, history=value_history(db))
    assert _judged(first) == clean
    # The first four files committed, then the process died: the run has no end.
    summary = load(db, first[:4], receipts[:4], settings)
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update meta.load_runs set finished_at = null, status = null where run_id = ?",
            [summary.run_id],
        )

    rest = validate_in_batches(submissions[4:], schema, today=TODAY, history=value_history(db))
    assert _judged(rest) == {PERIODS[4]: clean[PERIODS[4]]}

    # The next run closes the dead one; what it committed stays and counts from now on.
    [closed] = close_interrupted_runs(db)
    assert closed.run_id == summary.run_id
    with duckdb.connect(str(db)) as con:
        row = con.execute(
            "select status, finished_at is not null from meta.load_runs where run_id = ?",
            [summary.run_id],
        ).fetchone()
    assert row == ("interrupted", True)
    assert close_interrupted_runs(db) == []
    load(db, rest, receipts, settings)
    history = value_history(db)
    assert sorted(set(history["period"])) == PERIODS


def test_the_history_check_does_flag_the_figure_once_the_past_is_loaded(
    schema: Schema, settings: Settings, judged_once: tuple
) -> None:
    """The test above could not pass by accident: with the four quarters loaded by a run that
    finished, the last quarter's figure is flagged."""
    receipts, submissions, clean = judged_once
    db = settings.warehouse
    init(db)
    sync_schema(db, schema, settings)
    first = validate_in_batches(submissions[:4], schema, today=TODAY, history=value_history(db))
    load(db, first, receipts[:4], settings)
    after = validate_in_batches(submissions[4:], schema, today=TODAY, history=value_history(db))
    assert "W-OUTLIER" in _judged(after)[PERIODS[4]][1]
    assert "W-OUTLIER" not in clean[PERIODS[4]][1]
