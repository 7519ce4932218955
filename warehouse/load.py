"""Loading verdicts into the warehouse: one submission, one transaction; dimensions from the
schema files.

A file's bytes are identified by their SHA-256. The same bytes from the same place are one
receipt: received again, nothing is written. The same bytes from a new place are recorded as a
duplicate of the first submission, with no values. Anything else becomes a new version for its
unit and period; the latest accepted version is current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb

from core.model import Submission, issue
from core.names import storable
from core.periods import Period, parse_period, periods_of
from core.settings import Settings
from schemas.schema import Schema
from schemas.verdict import Finding, Verdict
from warehouse.archive import Receipt
from warehouse.db import connect, sql, transaction
from warehouse.migrate import apply

Action = Literal["imported", "updated", "ignored", "rejected"]
OutcomeStatus = Literal["accepted", "warned", "rejected", "duplicate", "already_received"]


@dataclass(frozen=True)
class FileOutcome:
    """What loading did with one received file.

    `action` is the DHIS2-style count it adds to; `status` says why: `already_received` is the
    same bytes from the same URL (nothing written), `duplicate` the same bytes from a new URL
    (recorded, no values).
    """

    name: str
    url: str
    sha256: str
    action: Action
    status: OutcomeStatus
    submission_id: int | None = None
    unit_code: str | None = None
    period: str | None = None
    version: int | None = None
    values: int = 0
    duplicate_of: int | None = None


@dataclass
class LoadSummary:
    """The result of one load run, counted per file as DHIS2 counts its import summary."""

    run_id: int
    outcomes: list[FileOutcome] = field(default_factory=list)

    def _count(self, action: Action) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def imported(self) -> int:
        """Accepted files that are the first accepted version for their unit and period."""
        return self._count("imported")

    @property
    def updated(self) -> int:
        """Accepted files that supersede an earlier accepted version."""
        return self._count("updated")

    @property
    def ignored(self) -> int:
        """Files whose bytes were already received: duplicates and repeated receipts."""
        return self._count("ignored")

    @property
    def rejected(self) -> int:
        """Files recorded with their errors and no values."""
        return self._count("rejected")

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "imported": self.imported,
            "updated": self.updated,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "files": [outcome.__dict__ for outcome in self.outcomes],
        }


def deadline_at(period: Period, settings: Settings) -> tuple[date, datetime]:
    """The deadline day and the first instant after it, in the commune's time zone."""
    day = period.deadline(settings.deadline_day, settings.deadline_month_offset)
    return day, datetime.combine(day + timedelta(days=1), time(0), tzinfo=settings.tz)


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


def known_hashes(db_path: Path) -> frozenset[str]:
    """The SHA-256 of every file already received, so a flow can skip reading them again."""
    if not db_path.is_file():
        return frozenset()
    con = connect(db_path)
    try:
        apply(con)
        return frozenset(row[0] for row in con.execute(sql("load/known_hashes")).fetchall())
    finally:
        con.close()


def load(
    db_path: Path,
    verdicts: Sequence[Verdict],
    receipts: Sequence[Receipt],
    settings: Settings,
) -> LoadSummary:
    """Load received files, each in its own transaction, in the order they were received.

    Every receipt is registered. A receipt whose bytes are already known needs no verdict (the
    flow may skip reading it, see `known_hashes`); every other receipt needs the verdict of its
    submission, matched by SHA-256. A crash leaves each file either fully loaded or not at all,
    and rerunning the same inputs completes the load.

    Args:
        db_path: the warehouse file.
        verdicts: the validation verdicts of the files that were read.
        receipts: every file received in this run, from `warehouse.archive.archive`.
        settings: for the reporting deadlines.

    Returns:
        The run's summary and each file's outcome, in load order.

    Raises:
        ValueError: a new file has no verdict; nothing was loaded.
    """
    by_hash = {verdict.submission.sha256: verdict for verdict in verdicts}
    ordered = sorted(receipts, key=lambda r: (r.received_at, r.name, r.url))
    con = connect(db_path)
    try:
        apply(con)
        known = {row[0] for row in con.execute(sql("load/known_hashes")).fetchall()}
        missing = [r.name for r in ordered if r.sha256 not in by_hash and r.sha256 not in known]
        if missing:
            raise ValueError(f"no verdict for new files: {', '.join(sorted(set(missing)))}")
        periods = {row[0] for row in con.execute(sql("sync/existing_periods")).fetchall()}
        with transaction(con):
            started = datetime.now(UTC)
            row = con.execute(sql("load/start_run"), {"started_at": started}).fetchone()
        assert row is not None
        summary = LoadSummary(run_id=int(row[0]))
        receipts_seen = {
            (sha256, url): (submission_id, duplicate_of)
            for sha256, url, submission_id, duplicate_of in con.execute(
                sql("load/find_receipts"), {"hashes": sorted({r.sha256 for r in ordered})}
            ).fetchall()
        }
        context = _Context(summary.run_id, settings, known, periods)
        for receipt in ordered:
            seen = receipts_seen.get((receipt.sha256, storable(receipt.url)))
            if seen is not None:
                outcome = FileOutcome(
                    name=receipt.name,
                    url=receipt.url,
                    sha256=receipt.sha256,
                    action="ignored",
                    status="already_received",
                    submission_id=seen[0],
                    duplicate_of=seen[1],
                )
            else:
                outcome = _load_contained(con, context, receipt, by_hash.get(receipt.sha256))
                if outcome.submission_id is not None:
                    # Only after the commit: a rolled-back file must not count as known.
                    known.add(receipt.sha256)
                    receipts_seen[(receipt.sha256, storable(receipt.url))] = (
                        outcome.submission_id,
                        None,
                    )
                if outcome.period:
                    periods.add(outcome.period)
            summary.outcomes.append(outcome)
        with transaction(con):
            con.execute(
                sql("load/finish_run"),
                {
                    "run_id": summary.run_id,
                    "finished_at": datetime.now(UTC),
                    "imported": summary.imported,
                    "updated": summary.updated,
                    "ignored": summary.ignored,
                    "rejected": summary.rejected,
                },
            )
        return summary
    finally:
        con.close()


@dataclass(frozen=True)
class _Context:
    """What one run knows while it loads: hashes and periods already in the warehouse."""

    run_id: int
    settings: Settings
    known_hashes: set[str]
    periods: set[str]


def _load_contained(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    receipt: Receipt,
    verdict: Verdict | None,
) -> FileOutcome:
    """Load one file in its own transaction; a file that cannot be stored costs that file only.

    When storing what the file carries fails, the transaction is rolled back and the file is
    recorded as rejected with one `R-LOAD-FAILED` finding instead. If even that fails, nothing
    of it is written (a later run tries it again) and the run goes on.
    """
    try:
        with transaction(con):
            return _load_one(con, context, receipt, verdict)
    except (duckdb.Error, ValueError, TypeError, OverflowError, UnicodeError) as exc:
        detail = storable(f"{type(exc).__name__}: {exc}")[:300]
    submission = Submission(receipt.url, receipt.name, receipt.size, receipt.sha256)
    failed = Verdict(submission, [issue("R-LOAD-FAILED", file=receipt.name, detail=detail)])
    try:
        with transaction(con):
            return _load_one(con, context, receipt, failed)
    except (duckdb.Error, ValueError, TypeError, OverflowError, UnicodeError):
        return FileOutcome(
            name=storable(receipt.name),
            url=storable(receipt.url),
            sha256=receipt.sha256,
            action="rejected",
            status="rejected",
        )


def _text(value: str | None) -> str | None:
    return None if value is None else storable(value)


def _load_one(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    receipt: Receipt,
    verdict: Verdict | None,
) -> FileOutcome:
    """Register one new receipt and what it carries; the caller holds the transaction."""
    run_id = context.run_id
    known = receipt.sha256 in context.known_hashes
    now = datetime.now(UTC)
    row = con.execute(
        sql("load/insert_received_file"),
        {
            "sha256": receipt.sha256,
            "size": receipt.size,
            "name": storable(receipt.name),
            "url": storable(receipt.url),
            "received_at": receipt.received_at,
            "archived_path": storable(str(receipt.archived_path)),
            "run_id": run_id,
            "registered_at": now,
        },
    ).fetchone()
    assert row is not None
    received_file_id = int(row[0])
    submission_row: dict[str, Any] = {
        "received_file_id": received_file_id,
        "run_id": run_id,
        "loaded_at": now,
        "template_version": None,
        "error_count": 0,
        "warning_count": 0,
        "value_count": 0,
        "progress_count": 0,
    }

    original = None
    if known:
        original = con.execute(sql("load/find_original"), {"sha256": receipt.sha256}).fetchone()
    if original is not None:
        duplicate_of, unit_code, period_code = original
        submission_id = _insert_submission(
            con,
            submission_row
            | {
                "verdict": "duplicate",
                "duplicate_of": duplicate_of,
                "unit_code": unit_code,
                "period_code": period_code,
            },
        )
        return FileOutcome(
            name=receipt.name,
            url=receipt.url,
            sha256=receipt.sha256,
            action="ignored",
            status="duplicate",
            submission_id=submission_id,
            unit_code=unit_code,
            period=period_code,
            duplicate_of=duplicate_of,
        )

    if verdict is None:
        raise ValueError(f"no verdict for new file {receipt.name}")
    submission = verdict.submission
    status = verdict.status
    unit_code, period_code = _text(submission.unit_code), _text(submission.period)
    version: int | None = None
    accepted_before = 0
    if period_code and period_code not in context.periods:
        _register_period(con, period_code, context.settings)
    if unit_code and period_code:
        prior = con.execute(
            sql("load/prior_versions"), {"unit_code": unit_code, "period_code": period_code}
        ).fetchone()
        assert prior is not None
        version, accepted_before = int(prior[0]) + 1, int(prior[1])

    loads_rows = status != "rejected"
    values = [v for v in submission.values if v.value is not None] if loads_rows else []
    progress = list(submission.progress) if loads_rows else []
    findings = list(verdict.findings)
    submission_id = _insert_submission(
        con,
        submission_row
        | {
            "verdict": status,
            "duplicate_of": None,
            "unit_code": unit_code,
            "period_code": period_code,
            "template_version": _text(submission.template_version),
            "error_count": len(verdict.errors),
            "warning_count": len(verdict.warnings),
            "value_count": len(values),
            "progress_count": len(progress),
        },
    )
    if values:
        con.execute(
            sql("load/insert_data_values"),
            {
                "submission_id": submission_id,
                "line": list(range(1, len(values) + 1)),
                "task_code": [_text(v.task_code) for v in values],
                "element_code": [_text(v.element_code) for v in values],
                "value": [float(v.value) for v in values if v.value is not None],
                "raw_value": [None if v.raw is None else storable(str(v.raw)) for v in values],
                "note": [_text(v.note) for v in values],
                "sheet": [storable(v.ref.sheet) for v in values],
                "row_number": [v.ref.row for v in values],
                "column_letter": [v.ref.column for v in values],
            },
        )
    if progress:
        con.execute(
            sql("load/insert_progress"),
            {
                "submission_id": submission_id,
                "line": list(range(1, len(progress) + 1)),
                "task_code": [_text(p.task_code) for p in progress],
                "status": [_text(p.status) for p in progress],
                "results": [_text(p.results) for p in progress],
                "difficulties": [_text(p.difficulties) for p in progress],
                "proposals": [_text(p.proposals) for p in progress],
                "evidence": [_text(p.evidence) for p in progress],
                "sheet": [storable(p.ref.sheet) for p in progress],
                "row_number": [p.ref.row for p in progress],
            },
        )
    if findings:
        _insert_findings(con, submission_id, findings)

    action: Action
    if status == "rejected":
        action = "rejected"
    elif accepted_before:
        action = "updated"
    else:
        action = "imported"
    return FileOutcome(
        name=receipt.name,
        url=receipt.url,
        sha256=receipt.sha256,
        action=action,
        status=status,
        submission_id=submission_id,
        unit_code=unit_code,
        period=period_code,
        version=version,
        values=len(values),
    )


def _insert_submission(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> int:
    inserted = con.execute(sql("load/insert_submission"), row).fetchone()
    assert inserted is not None
    return int(inserted[0])


def _insert_findings(
    con: duckdb.DuckDBPyConnection, submission_id: int, findings: list[Finding]
) -> None:
    con.execute(
        sql("load/insert_findings"),
        {
            "submission_id": submission_id,
            "line": list(range(1, len(findings) + 1)),
            "code": [f.code for f in findings],
            "severity": [f.severity for f in findings],
            "message": [storable(f.message) for f in findings],
            "file_name": [storable(f.ref.file) if f.ref else None for f in findings],
            "sheet": [storable(f.ref.sheet) if f.ref else None for f in findings],
            "row_number": [f.ref.row if f.ref else None for f in findings],
            "column_letter": [f.ref.column if f.ref else None for f in findings],
        },
    )


def _register_period(con: duckdb.DuckDBPyConnection, code: str, settings: Settings) -> None:
    """Record a period a submission names, if it is a valid identifier."""
    try:
        period = parse_period(code)
    except ValueError:
        return
    day, instant = deadline_at(period, settings)
    con.execute(
        sql("load/insert_period"),
        {
            "period_code": period.code,
            "period_kind": period.kind,
            "start_date": period.start,
            "end_date": period.end,
            "year": period.year,
            "deadline": day,
            "deadline_at": instant,
        },
    )
