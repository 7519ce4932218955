"""Loading verdicts into the warehouse: a batch of submissions, one transaction.

A file's bytes are identified by their SHA-256. The same bytes from the same place are one
receipt: received again, nothing is written. The same bytes from a new place are recorded as a
duplicate of the first submission, with no values. Anything else becomes a new version for its
unit and period; the latest accepted version is current.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from core.model import Submission, issue
from core.names import storable
from core.periods import Period, parse_period
from core.settings import Settings
from schemas.verdict import Verdict
from warehouse.archive import Receipt
from warehouse.db import connect, sql, transaction
from warehouse.migrate import apply

# Files per transaction: one commit (and fsync) per batch, not per file; a batch's rows are a
# few megabytes in memory. As many as a run's part (`Settings.part_files`): a part is then one
# transaction (10,000 files loaded in 1.7-2.0 s instead of 2.4-2.7 with batches of 500).
LOAD_BATCH = 2000
_STORE_ERRORS = (
    duckdb.Error,
    ValueError,
    TypeError,
    OverflowError,
    UnicodeError,
    pa.ArrowException,
)

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
    # Files per action: kept whole even when `outcomes` is not (`LoadRun(keep_outcomes=False)`).
    counts: Counter[Action] = field(default_factory=Counter)

    def add(self, outcomes: Sequence[FileOutcome], keep: bool = True) -> None:
        """Count these outcomes in, and keep them unless `keep` is False."""
        self.counts.update(outcome.action for outcome in outcomes)
        if keep:
            self.outcomes.extend(outcomes)

    def _count(self, action: Action) -> int:
        return self.counts[action]

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


def registered_hashes(db_path: Path, hashes: Iterable[str]) -> frozenset[str]:
    """Which of `hashes` the warehouse has received already, so a flow can skip reading them.

    Looked up by joining the given hashes, so its cost follows the batch, not the history.
    """
    if not db_path.is_file():
        return frozenset()
    con = connect(db_path)
    try:
        apply(con)
        rows = con.execute(sql("load/registered_hashes"), {"hashes": sorted(set(hashes))})
        return frozenset(row[0] for row in rows.fetchall())
    finally:
        con.close()


def load(
    db_path: Path,
    verdicts: Sequence[Verdict],
    receipts: Sequence[Receipt],
    settings: Settings,
    batch_size: int = LOAD_BATCH,
) -> LoadSummary:
    """Load received files in batches, each batch in one transaction, in the order received.

    Every receipt is registered. A receipt whose bytes are already known needs no verdict (the
    flow may skip reading it, see `registered_hashes`); every other receipt needs the verdict of its
    submission, matched by SHA-256. A batch's rows go in with one statement per table; when
    the batch cannot be stored it is rolled back and loaded again file by file, each file in its
    own transaction, so one bad row costs its file only. A crash leaves each batch either fully
    loaded or not at all, and rerunning the same inputs completes the load.

    Args:
        db_path: the warehouse file.
        verdicts: the validation verdicts of the files that were read.
        receipts: every file received in this run, from `warehouse.archive.archive`.
        settings: for the reporting deadlines.
        batch_size: files stored per transaction.

    Returns:
        The run's summary and each file's outcome, in load order.

    Raises:
        ValueError: a new file has no verdict; nothing was loaded.
    """
    # Checked before the run starts: a refused load leaves no run behind either.
    _check_verdicts(verdicts, receipts, registered_hashes(db_path, (r.sha256 for r in receipts)))
    with LoadRun(db_path, settings, batch_size) as run:
        run.add(verdicts, load_order(receipts))
        return run.finish()


def _check_verdicts(
    verdicts: Sequence[Verdict], receipts: Sequence[Receipt], known: Iterable[str]
) -> None:
    have = {verdict.submission.sha256 for verdict in verdicts} | set(known)
    missing = sorted({r.name for r in receipts if r.sha256 not in have})
    if missing:
        raise ValueError(f"no verdict for new files: {', '.join(missing)}")


def load_order(receipts: Iterable[Receipt]) -> list[Receipt]:
    """Receipts in the order they are loaded: as received (then by name and place), so a later
    file supersedes an earlier one of the same unit and period."""
    return sorted(receipts, key=lambda r: (r.received_at, r.name, r.url))


class LoadRun:
    """One load run fed part by part: a flow streams its files through reading, validation and
    loading a part at a time, so its memory follows the part, not the inbox.

    The run is started when entered and stays open (no `finished_at`) until `finish`: a run
    that dies in between is closed as interrupted by the next, which keeps what this one
    committed (each batch is one transaction) and judges the rest against the same history.
    Parts must come in load order (`load_order` over the whole run).
    """

    def __init__(
        self,
        db_path: Path,
        settings: Settings,
        batch_size: int = LOAD_BATCH,
        keep_outcomes: bool = True,
    ) -> None:
        self.db_path, self.settings, self.batch_size = db_path, settings, batch_size
        # A run of 100,000 files has no use for every outcome once each part returned its own.
        self.keep_outcomes = keep_outcomes
        self._con: duckdb.DuckDBPyConnection | None = None
        self._seen: _Seen = {}
        self._context: _Context | None = None
        self.summary: LoadSummary | None = None

    def __enter__(self) -> LoadRun:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> LoadRun:
        """Start the run: its row in `meta.load_runs`, without an end until `finish`."""
        con = self._con = connect(self.db_path)
        try:
            apply(con)
            periods = {row[0] for row in con.execute(sql("sync/existing_periods")).fetchall()}
            with transaction(con):
                started = datetime.now(UTC)
                row = con.execute(sql("load/start_run"), {"started_at": started}).fetchone()
        except BaseException:
            self.close()
            raise
        assert row is not None
        self.summary = LoadSummary(run_id=int(row[0]))
        self._context = _Context(self.summary.run_id, self.settings, periods)
        return self

    def close(self) -> None:
        """Let go of the warehouse (the run stays unfinished unless `finish` was called)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def check(self, verdicts: Sequence[Verdict], receipts: Sequence[Receipt]) -> None:
        """Raise `ValueError` before anything is stored if a new file has no verdict."""
        _check_verdicts(verdicts, receipts, self._look_up(receipts))

    def add(self, verdicts: Sequence[Verdict], receipts: Sequence[Receipt]) -> list[FileOutcome]:
        """Load one part: its receipts, in load order, with the verdicts of its new files.

        Returns:
            Each file's outcome, in load order.
        """
        con, context, summary = self._con, self._context, self.summary
        assert con is not None and context is not None and summary is not None
        # What earlier parts registered is committed, so this part's lookup finds it: the run
        # keeps what it knows of one part's files, not of all of them.
        self._seen = {}
        self.check(verdicts, receipts)
        by_hash = {verdict.submission.sha256: verdict for verdict in verdicts}
        done: list[FileOutcome] = []
        for start in range(0, len(receipts), self.batch_size):
            batch = list(receipts[start : start + self.batch_size])
            stored = _store_batch(con, context, batch, by_hash, self._seen)
            if isinstance(stored, Exception):
                # Rolled back, nothing of it written: file by file, each in its own transaction.
                stored = [
                    _load_file(con, context, receipt, by_hash, self._seen) for receipt in batch
                ]
            else:
                for outcome in stored:
                    _remember(context, self._seen, outcome)
            done.extend(stored)
        summary.add(done, keep=self.keep_outcomes)
        return done

    def finish(self) -> LoadSummary:
        """Record the run's end and counts; the warehouse is let go."""
        con, summary = self._con, self.summary
        assert con is not None and summary is not None
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
        self.close()
        # What the run knew of each file (100,000 entries at a province) is not needed after it.
        self._seen, self._context = {}, None
        return summary

    def _look_up(self, receipts: Sequence[Receipt]) -> set[str]:
        """Which of these receipts' bytes the warehouse registered, each registered receipt
        remembered with its submission: the part's own hashes joined to the history, never a
        read of the whole of it."""
        con = self._con
        assert con is not None
        known: set[str] = set()
        hashes = sorted({r.sha256 for r in receipts})
        if not hashes:
            return known
        for sha256, url, submission_id, duplicate_of in con.execute(
            sql("load/find_receipts"), {"hashes": hashes}
        ).fetchall():
            self._seen.setdefault((sha256, url), (submission_id, duplicate_of))
            known.add(sha256)
        return known


@dataclass(frozen=True)
class _Context:
    """What one run knows while it loads: the periods already in the warehouse."""

    run_id: int
    settings: Settings
    periods: set[str]


_Seen = dict[tuple[str, str], tuple[int, int | None]]


def _already_received(receipt: Receipt, seen: tuple[int, int | None]) -> FileOutcome:
    return FileOutcome(
        name=receipt.name,
        url=receipt.url,
        sha256=receipt.sha256,
        action="ignored",
        status="already_received",
        submission_id=seen[0],
        duplicate_of=seen[1],
    )


def _remember(context: _Context, receipts_seen: _Seen, outcome: FileOutcome) -> None:
    """What a committed file adds to what the run knows (never before the commit: a file
    rolled back must not count as known)."""
    if outcome.status == "already_received":
        return
    if outcome.submission_id is not None:
        receipts_seen[(outcome.sha256, storable(outcome.url))] = (outcome.submission_id, None)
    if outcome.period:
        context.periods.add(outcome.period)


def _load_file(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    receipt: Receipt,
    by_hash: dict[str, Verdict],
    receipts_seen: _Seen,
) -> FileOutcome:
    """One file in its own transaction, a batch of one: the path a batch that could not be
    stored takes, so one file that cannot be stored costs that file only.

    When storing what the file carries fails, the file is recorded as rejected with one
    `R-LOAD-FAILED` finding instead. If even that fails, nothing of it is written (a later run
    tries it again) and the run goes on.
    """
    stored = _store_batch(con, context, [receipt], by_hash, receipts_seen)
    if isinstance(stored, Exception):
        detail = storable(f"{type(stored).__name__}: {stored}")[:300]
        submission = Submission(receipt.url, receipt.name, receipt.size, receipt.sha256)
        failed = Verdict(submission, [issue("R-LOAD-FAILED", file=receipt.name, detail=detail)])
        stored = _store_batch(con, context, [receipt], {receipt.sha256: failed}, receipts_seen)
    if isinstance(stored, Exception):
        return FileOutcome(
            name=storable(receipt.name),
            url=storable(receipt.url),
            sha256=receipt.sha256,
            action="rejected",
            status="rejected",
        )
    [outcome] = stored
    _remember(context, receipts_seen, outcome)
    return outcome


def _store_batch(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    batch: Sequence[Receipt],
    by_hash: dict[str, Verdict],
    receipts_seen: _Seen,
) -> list[FileOutcome] | Exception:
    """A batch in one transaction: its outcomes, or why it was rolled back."""
    try:
        with transaction(con):
            return _load_batch(con, context, batch, by_hash, receipts_seen)
    except _STORE_ERRORS as exc:
        return exc
    finally:
        for name in _BATCH_TABLES:
            con.unregister(f"batch_{name}")


_BATCH_TABLES = ("received_files", "submissions", "data_values", "progress", "findings")


@dataclass
class _Rows:
    """A batch's rows per table, column by column."""

    tables: dict[str, dict[str, list[Any]]] = field(
        default_factory=lambda: {name: defaultdict(list) for name in _BATCH_TABLES}
    )

    def add(self, table: str, **columns: Any) -> None:
        for key, value in columns.items():
            self.tables[table][key].append(value)

    def extend(self, table: str, **columns: list[Any]) -> None:
        for key, values in columns.items():
            self.tables[table][key].extend(values)


def _batch_lookups(
    con: duckdb.DuckDBPyConnection,
    batch: Sequence[Receipt],
    by_hash: dict[str, Verdict],
    receipts_seen: _Seen,
) -> tuple[
    list[Any], dict[str, tuple[int, str | None, str | None]], dict[tuple[str, str], list[int]]
]:
    """The batch's new ids, the originals of bytes already known, and the versions its units
    and periods have: three statements joined to the batch's own hashes and unit-periods."""
    # Receipts seen earlier in this batch count as seen, with the ids they are about to get.
    fresh: list[Receipt] = []
    keys: set[tuple[str, str]] = set()
    for receipt in batch:
        key = (receipt.sha256, storable(receipt.url))
        if key not in receipts_seen and key not in keys:
            keys.add(key)
            fresh.append(receipt)
    ids = con.execute(sql("load/batch_ids"), {"count": len(fresh)}).fetchall()
    originals: dict[str, tuple[int, str | None, str | None]] = {
        sha256: (int(submission_id), unit_code, period_code)
        for sha256, submission_id, unit_code, period_code in con.execute(
            sql("load/batch_originals"), {"hashes": sorted({r.sha256 for r in fresh})}
        ).fetchall()
    }
    pairs = [
        (_text(v.submission.unit_code), _text(v.submission.period))
        for r in fresh
        if r.sha256 not in originals and (v := by_hash.get(r.sha256)) is not None
    ]
    pairs = [(u, p) for u, p in pairs if u and p]
    versions: dict[tuple[str, str], list[int]] = {
        (unit_code, period_code): [int(count), int(accepted)]
        for unit_code, period_code, count, accepted in con.execute(
            sql("load/batch_prior_versions"),
            {"unit_codes": [u for u, _ in pairs], "period_codes": [p for _, p in pairs]},
        ).fetchall()
    }
    return ids, originals, versions


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    batch: Sequence[Receipt],
    by_hash: dict[str, Verdict],
    receipts_seen: _Seen,
) -> list[FileOutcome]:
    """Register a batch of receipts and what they carry; the caller holds the transaction.

    Per file: a repeated receipt, duplicate bytes, or a version of its unit and period; decided
    over the batch with two lookups joined to the batch's own hashes and unit-periods, then
    written with one insert per table.
    """
    ids, originals, versions = _batch_lookups(con, batch, by_hash, receipts_seen)
    rows = _Rows()
    now = datetime.now(UTC)
    given: dict[tuple[str, str], int] = {}
    periods = set(context.periods)
    outcomes = []
    fresh_ids = iter(ids)
    for receipt in batch:
        key = (receipt.sha256, storable(receipt.url))
        if key in receipts_seen:
            outcomes.append(_already_received(receipt, receipts_seen[key]))
            continue
        if key in given:
            outcomes.append(_already_received(receipt, (given[key], None)))
            continue
        received_file_id, submission_id = (int(i) for i in next(fresh_ids))
        given[key] = submission_id
        rows.add(
            "received_files",
            received_file_id=received_file_id,
            sha256=receipt.sha256,
            size=receipt.size,
            name=storable(receipt.name),
            url=storable(receipt.url),
            received_at=receipt.received_at,
            archived_path=storable(receipt.archived),
            run_id=context.run_id,
            registered_at=now,
        )
        submission_row: dict[str, Any] = {
            "submission_id": submission_id,
            "received_file_id": received_file_id,
            "run_id": context.run_id,
            "loaded_at": now,
            "template_version": None,
            "error_count": 0,
            "warning_count": 0,
            "value_count": 0,
            "progress_count": 0,
        }
        original = originals.get(receipt.sha256)
        if original is not None:
            duplicate_of, unit_code, period_code = original
            rows.add(
                "submissions",
                **submission_row,
                verdict="duplicate",
                duplicate_of=duplicate_of,
                unit_code=unit_code,
                period_code=period_code,
            )
            outcomes.append(
                FileOutcome(
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
            )
            continue
        verdict = by_hash.get(receipt.sha256)
        if verdict is None:
            raise ValueError(f"no verdict for new file {receipt.name}")
        outcome = _batch_submission(rows, submission_row, receipt, verdict, versions)
        originals[receipt.sha256] = (submission_id, outcome.unit_code, outcome.period)
        if outcome.period and outcome.period not in periods:
            _register_period(con, outcome.period, context.settings)
            periods.add(outcome.period)
        outcomes.append(outcome)
    for name in _BATCH_TABLES:
        if rows.tables[name]:
            con.register(f"batch_{name}", pa.table(rows.tables[name]))
            con.execute(sql(f"load/batch_insert_{name}"))
    return outcomes


def _batch_submission(
    rows: _Rows,
    submission_row: dict[str, Any],
    receipt: Receipt,
    verdict: Verdict,
    versions: dict[tuple[str, str], list[int]],
) -> FileOutcome:
    """A new submission's rows added to the batch, and what loading it does."""
    submission = verdict.submission
    submission_id = submission_row["submission_id"]
    status = verdict.status
    unit_code, period_code = _text(submission.unit_code), _text(submission.period)
    version: int | None = None
    accepted_before = 0
    if unit_code and period_code:
        counts = versions.setdefault((unit_code, period_code), [0, 0])
        version, accepted_before = counts[0] + 1, counts[1]
        counts[0] += 1
        counts[1] += status in ("accepted", "warned")
    loads_rows = status != "rejected"
    values = [v for v in submission.values if v.value is not None] if loads_rows else []
    progress = list(submission.progress) if loads_rows else []
    findings = list(verdict.findings)
    rows.add(
        "submissions",
        **submission_row
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
    rows.extend(
        "data_values",
        submission_id=[submission_id] * len(values),
        line=list(range(1, len(values) + 1)),
        task_code=[_text(v.task_code) for v in values],
        element_code=[_text(v.element_code) for v in values],
        value=[float(v.value) for v in values if v.value is not None],
        raw_value=[None if v.raw is None else storable(str(v.raw)) for v in values],
        note=[_text(v.note) for v in values],
        sheet=[storable(v.ref.sheet) for v in values],
        row_number=[v.ref.row for v in values],
        column_letter=[v.ref.column for v in values],
    )
    rows.extend(
        "progress",
        submission_id=[submission_id] * len(progress),
        line=list(range(1, len(progress) + 1)),
        task_code=[_text(p.task_code) for p in progress],
        status=[_text(p.status) for p in progress],
        results=[_text(p.results) for p in progress],
        difficulties=[_text(p.difficulties) for p in progress],
        proposals=[_text(p.proposals) for p in progress],
        evidence=[_text(p.evidence) for p in progress],
        sheet=[storable(p.ref.sheet) for p in progress],
        row_number=[p.ref.row for p in progress],
    )
    rows.extend(
        "findings",
        submission_id=[submission_id] * len(findings),
        line=list(range(1, len(findings) + 1)),
        code=[f.code for f in findings],
        severity=[f.severity for f in findings],
        message=[storable(f.message) for f in findings],
        file_name=[storable(f.ref.file) if f.ref else None for f in findings],
        sheet=[storable(f.ref.sheet) if f.ref else None for f in findings],
        row_number=[f.ref.row if f.ref else None for f in findings],
        column_letter=[f.ref.column if f.ref else None for f in findings],
    )
    return _loaded(
        receipt,
        status,
        submission_id,
        unit_code,
        period_code,
        version,
        accepted_before,
        len(values),
    )


def _loaded(
    receipt: Receipt,
    status: OutcomeStatus,
    submission_id: int,
    unit_code: str | None,
    period_code: str | None,
    version: int | None,
    accepted_before: int,
    values: int,
) -> FileOutcome:
    """The outcome of a file whose submission was stored."""
    action: Action = (
        "rejected" if status == "rejected" else "updated" if accepted_before else "imported"
    )
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
        values=values,
    )


def _text(value: str | None) -> str | None:
    return None if value is None else storable(value)


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
