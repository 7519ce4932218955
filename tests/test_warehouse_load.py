"""Loads: idempotence, supersession, rejection, duplicates, history, dimensions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from warehouse_support import Received, full_values, make_file

from core.settings import Settings
from schemas.schema import Schema
from warehouse.archive import archive, received_before
from warehouse.dimensions import sync_schema
from warehouse.history import value_history, values_as_of
from warehouse.load import LoadSummary, known_hashes, load, registered_hashes
from warehouse.migrate import init, migrations

TABLES = (
    "raw.received_files",
    "raw.submissions",
    "raw.data_values",
    "raw.progress",
    "raw.findings",
    "core.units",
    "core.assignments",
    "core.periods",
)


@pytest.fixture
def db(settings: Settings, schema: Schema) -> Path:
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    return settings.warehouse


def _load(db: Path, settings: Settings, files: list[Received]) -> LoadSummary:
    return load(db, [f.verdict for f in files], [f.receipt for f in files], settings)


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db)) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db)) as con:
        return con.execute(sql).fetchall()


def test_init_is_idempotent(settings: Settings) -> None:
    files = migrations()
    assert [m.name for m in files][:3] == ["001_schemas", "002_raw", "003_core"]
    assert init(settings.warehouse) == [m.name for m in files]
    assert init(settings.warehouse) == []
    versions = _rows(settings.warehouse, "select version from meta.schema_version order by 1")
    assert versions == [(m.version,) for m in files]


def test_sync_schema_is_rerunnable(db: Path, settings: Settings, schema: Schema) -> None:
    before = _counts(db)
    counts = sync_schema(db, schema, settings)
    assert _counts(db) == before
    assert counts["units"] == 17 and counts["periods"] == 20
    assert before["core.assignments"] == sum(1 for a in schema.matrix() if a.role)


def test_same_inbox_twice_changes_nothing(db: Path, settings: Settings, schema: Schema) -> None:
    files = [
        make_file(settings, unit, "2026Q3", full_values(schema, unit, "2026Q3", 1.0))
        for unit in ("UBND", "P-KT", "THON-01")
    ]
    files.append(make_file(settings, "THON-02", "2026Q3", {}, errors=["R-VALUE-NOT-NUMBER"]))
    first = _load(db, settings, files)
    assert (first.imported, first.updated, first.ignored, first.rejected) == (3, 0, 0, 1)
    counts = _counts(db)

    second = _load(db, settings, files)
    assert (second.imported, second.updated, second.ignored, second.rejected) == (0, 0, 4, 0)
    assert {o.status for o in second.outcomes} == {"already_received"}
    assert _counts(db) == counts

    # The flow may skip reading known files: receipts alone are enough.
    assert known_hashes(db) == {f.receipt.sha256 for f in files}
    third = load(db, [], [f.receipt for f in files], settings)
    assert third.ignored == 4 and _counts(db) == counts


def test_new_file_without_verdict_loads_nothing(db: Path, settings: Settings) -> None:
    file = make_file(settings, "UBND", "2026Q3", {("1.1", "1.1.1"): 2.0})
    with pytest.raises(ValueError, match="no verdict"):
        load(db, [], [file.receipt], settings)
    assert _counts(db)["raw.received_files"] == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from meta.load_runs").fetchone() == (0,)


def test_second_version_supersedes_and_history_keeps_both(
    db: Path, settings: Settings, schema: Schema
) -> None:
    v1 = make_file(settings, "P-KT", "2026Q3", {("3.1", "3.1.1"): 30.0, ("3.1", "3.1.2"): 1000.0})
    first = _load(db, settings, [v1])
    v2 = make_file(
        settings,
        "P-KT",
        "2026Q3",
        {("3.1", "3.1.1"): 45.0, ("3.1", "3.1.2"): 1000.0},
        name="P-KT_2026Q3_sua.xlsx",
        received_at=datetime(2026, 9, 25, tzinfo=UTC),
    )
    second = _load(db, settings, [v2])
    assert second.updated == 1 and second.outcomes[0].version == 2

    current = _rows(
        db,
        "select element_code, value, version from mart.data_values "
        "where unit_code = 'P-KT' order by 1",
    )
    assert current == [("3.1.1", 45.0, 2), ("3.1.2", 1000.0, 2)]
    statuses = _rows(
        db, "select version, status, superseded_by, on_time from mart.submissions order by 1"
    )
    assert statuses == [
        (1, "superseded", second.outcomes[0].submission_id, True),
        (2, "accepted", None, False),
    ]
    assert _rows(db, "select count(*) from raw.data_values") == [(4,)]
    # The unit was on time: its first accepted file was.
    assert _rows(
        db,
        "select on_time from mart.expected_reports where unit_code = 'P-KT' and period = '2026Q3'",
    ) == [(True,)]

    before = values_as_of(db, first.run_id)
    assert before.set_index("element_code")["value"].to_dict() == {"3.1.1": 30.0, "3.1.2": 1000.0}
    after = values_as_of(db, second.run_id)
    assert after.set_index("element_code")["value"].to_dict() == {"3.1.1": 45.0, "3.1.2": 1000.0}

    indicator = _rows(
        db,
        "select numerator, denominator, value, target, met from mart.indicators "
        "where indicator_code = 'CS-NS-KHCN' and year = 2026",
    )
    assert indicator == [(45.0, 1000.0, 4.5, 3.0, True)]


def test_rejected_file_records_errors_and_loads_no_values(db: Path, settings: Settings) -> None:
    good = make_file(settings, "UBND", "2026Q3", {("1.1", "1.1.1"): 2.0})
    bad = make_file(
        settings,
        "UBND",
        "2026Q3",
        {("1.1", "1.1.1"): 99.0},
        progress={"1.1": ("Hoàn thành", "xong")},
        errors=["R-VALUE-NOT-NUMBER", "R-CELL-ERROR"],
        name="UBND_2026Q3_v2.xlsx",
        received_at=datetime(2026, 9, 30, tzinfo=UTC),
    )
    summary = _load(db, settings, [good, bad])
    assert (summary.imported, summary.rejected) == (1, 1)
    assert _rows(
        db, "select status, error_count, value_count from mart.submissions order by 1"
    ) == [
        ("accepted", 0, 1),
        ("rejected", 2, 0),
    ]
    errors = _rows(
        db,
        "select file_name, sheet, cell, error_code from mart.submission_errors order by line",
    )
    assert errors == [
        ("UBND_2026Q3_v2.xlsx", "Số liệu", "G12", "R-VALUE-NOT-NUMBER"),
        ("UBND_2026Q3_v2.xlsx", "Số liệu", "G12", "R-CELL-ERROR"),
    ]
    assert _rows(db, "select value from mart.data_values") == [(2.0,)]
    assert _rows(db, "select count(*) from raw.progress") == [(0,)]


def test_same_bytes_from_a_new_place_is_a_duplicate(db: Path, settings: Settings) -> None:
    file = make_file(settings, "THON-01", "2026Q3", {("1.1", "1.1.1"): 2.0})
    _load(db, settings, [file])
    again = archive(
        file.receipt.archived_path.read_bytes(),
        name="bao cao thon 1.xlsx",
        url="imap://inbox/42",
        archive_dir=settings.archive,
        received_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert again.archived_path == file.receipt.archived_path
    summary = load(db, [], [again], settings)
    assert summary.ignored == 1 and summary.outcomes[0].status == "duplicate"
    assert _rows(db, "select status, version, duplicate_of, value_count from mart.submissions") == [
        ("accepted", 1, None, 1),
        ("duplicate", None, 1, 0),
    ]
    assert _rows(db, "select count(*) from mart.data_values") == [(1,)]


def test_warnings_are_accepted_and_reported(db: Path, settings: Settings) -> None:
    file = make_file(settings, "TT-DVC", "2026Q3", {("1.1", "1.1.1"): 2.0}, warnings=["V-OUTLIER"])
    assert _load(db, settings, [file]).imported == 1
    assert _rows(db, "select status, warning_count from mart.submissions") == [("accepted", 1)]
    assert _rows(db, "select severity, cell from mart.submission_errors") == [("warning", None)]


def test_value_history_has_current_values(db: Path, settings: Settings) -> None:
    assert list(value_history(settings.data_dir / "none.duckdb").columns) == [
        "unit_code",
        "element_code",
        "period",
        "value",
    ]
    _load(db, settings, [make_file(settings, "UBND", "2026Q2", {("1.1", "1.1.1"): 2.0})])
    _load(db, settings, [make_file(settings, "UBND", "2026Q2", {("1.1", "1.1.1"): 5.0}, salt="b")])
    history = value_history(db)
    assert history.to_dict("records") == [
        {"unit_code": "UBND", "element_code": "1.1.1", "period": "2026Q2", "value": 5.0}
    ]
    _load(db, settings, [make_file(settings, "P-KT", "2026Q2", {("1.1", "1.1.1"): 7.0})])
    assert len(value_history(db)) == 2
    # The units of the files being judged only: the same rows for them, none of the others.
    assert value_history(db, ["UBND", "THON-09"]).to_dict("records") == history.to_dict("records")
    assert value_history(db, []).empty


def test_completeness_never_exceeds_100_percent(db: Path, settings: Settings) -> None:
    files = [
        make_file(settings, "MN-NH", "2026Q3", {("5.3", "5.3.1"): 3.0}),
        make_file(settings, "TH-NH-A", "2026Q3", {("5.3", "5.3.1"): 0.0}),
        # Not expected at all: an unknown unit must not push a rate above 100%.
        make_file(settings, "KHONG-CO", "2026Q3", {("5.3", "5.3.1"): 1.0}),
        make_file(
            settings,
            "TH-NH-B",
            "2026Q3",
            {("5.3", "5.3.1"): 2.0},
            received_at=datetime(2026, 12, 1, tzinfo=UTC),
        ),
    ]
    _load(db, settings, files)
    rows = _rows(
        db,
        "select expected, received, accepted, on_time, accepted_rate from mart.completeness "
        "where period = '2026Q3' and unit_type = 'Trường học'",
    )
    assert rows == [(4, 3, 3, 2, 75.0)]
    assert _rows(db, "select max(accepted_rate) <= 100 from mart.completeness") == [(True,)]
    stem = _rows(
        db,
        "select numerator, denominator, met from mart.indicators "
        "where indicator_code = 'CS-STEM-TH' and year = 2026",
    )
    assert stem == [(2.0, 4.0, False)]


def test_stock_takes_latest_value_flows_sum(db: Path, settings: Settings) -> None:
    for period, trained, staff in (("2026Q1", 5.0, 40.0), ("2026Q2", 7.0, 42.0)):
        values = {("5.2", "5.2.2"): trained, ("5.2", "5.2.3"): staff}
        _load(db, settings, [make_file(settings, "UBND", period, values)])
    totals = dict(
        _rows(
            db,
            "select element_code, total from mart.plan_summary "
            "where year = 2026 and task_code = '5.2' and total is not null",
        )
    )
    assert totals == {"5.2.2": 12.0, "5.2.3": 42.0}
    assert _rows(
        db, "select value from mart.indicators where indicator_code = 'CS-DT-KNS' and year = 2026"
    ) == [(100 * 12 / 42,)]


def test_progress_by_status_with_narratives(db: Path, settings: Settings) -> None:
    files = [
        make_file(settings, "UBND", "2026Q3", {}, progress={"1.1": ("Hoàn thành", "Đã tổ chức")}),
        make_file(settings, "P-KT", "2026Q3", {}, progress={"1.1": ("Đang triển khai", None)}),
    ]
    _load(db, settings, files)
    row = _rows(
        db,
        "select units_reported, units_completed, units_in_progress, units_missing, results, "
        "evidence from mart.task_progress where task_code = '1.1' and period = '2026Q3'",
    )
    assert row == [(2, 1, 1, 2, "UBND: Đã tổ chức", "P-KT: Số 0/KH-UBND\nUBND: Số 0/KH-UBND")]


def test_a_batch_decides_as_file_by_file(db: Path, settings: Settings, schema: Schema) -> None:
    """Versions, duplicates and repeated receipts inside one batch, and across batches."""
    first = make_file(settings, "UBND", "2026Q3", full_values(schema, "UBND", "2026Q3", 1.0))
    second = make_file(
        settings,
        "UBND",
        "2026Q3",
        full_values(schema, "UBND", "2026Q3", 2.0),
        name="UBND_2026Q3_v2.xlsx",
        received_at=datetime(2026, 7, 11, tzinfo=UTC),
    )
    copy = archive(
        first.receipt.archived_path.read_bytes(),
        name="copy.xlsx",
        url="imap://inbox/7",
        archive_dir=settings.archive,
        received_at=datetime(2026, 7, 12, tzinfo=UTC),
    )
    rejected = make_file(settings, "THON-02", "2026Q3", {}, errors=["R-VALUE-NOT-NUMBER"])
    receipts = [first.receipt, second.receipt, copy, first.receipt, rejected.receipt]
    verdicts = [first.verdict, second.verdict, rejected.verdict]
    summary = load(db, verdicts, receipts, settings, batch_size=2)
    statuses = [(o.name, o.action, o.status, o.version) for o in summary.outcomes]
    assert statuses == [
        ("THON-02_2026Q3.xlsx", "rejected", "rejected", 1),
        ("UBND_2026Q3.xlsx", "imported", "accepted", 1),
        ("UBND_2026Q3.xlsx", "ignored", "already_received", None),
        ("UBND_2026Q3_v2.xlsx", "updated", "accepted", 2),
        ("copy.xlsx", "ignored", "duplicate", None),
    ]
    by_batch = _counts(db)
    db2 = settings.data_dir / "one-batch.duckdb"
    init(db2)
    sync_schema(db2, schema, settings)
    whole = load(db2, verdicts, receipts, settings, batch_size=100)
    assert [(o.name, o.action, o.status, o.version) for o in whole.outcomes] == statuses
    assert _counts(db2) == by_batch
    assert _rows(db2, "select status, version from mart.submissions order by 1, 2") == _rows(
        db, "select status, version from mart.submissions order by 1, 2"
    )


def test_one_bad_row_costs_its_file_only(db: Path, settings: Settings, schema: Schema) -> None:
    """A batch that cannot be stored is loaded again file by file: the others load whole."""
    good = [
        make_file(settings, unit, "2026Q3", full_values(schema, unit, "2026Q3", 1.0))
        for unit in ("UBND", "P-KT", "THON-01")
    ]
    bad = make_file(settings, "THON-02", "2026Q3", {("1.1", "1.1.1"): 2.0})
    row = bad.verdict.submission.values[0]
    # A row number no sheet has (beyond the column's integer type): the insert fails.
    bad.verdict.submission.values[0] = type(row)(
        row.task_code, row.element_code, row.value, row.raw, row.note,
        type(row.ref)(row.ref.file, row.ref.sheet, 2**40, row.ref.column),
    )  # fmt: skip
    files = [*good[:2], bad, good[2]]
    summary = _load(db, settings, files)
    assert [(o.name, o.status) for o in summary.outcomes] == [
        ("P-KT_2026Q3.xlsx", "accepted"),
        ("THON-01_2026Q3.xlsx", "accepted"),
        ("THON-02_2026Q3.xlsx", "rejected"),
        ("UBND_2026Q3.xlsx", "accepted"),
    ]
    assert _rows(db, "select code from raw.findings") == [("R-LOAD-FAILED",)]
    assert _rows(db, "select count(*) from raw.submissions") == [(4,)]
    loaded = sum(len(f.verdict.submission.values) for f in good)
    assert _rows(db, "select count(*) from raw.data_values") == [(loaded,)]


def test_registered_hashes_are_looked_up_by_join(db: Path, settings: Settings) -> None:
    file = make_file(settings, "UBND", "2026Q3", {("1.1", "1.1.1"): 2.0})
    assert registered_hashes(db, [file.receipt.sha256, "0" * 64]) == frozenset()
    _load(db, settings, [file])
    assert registered_hashes(db, [file.receipt.sha256, "0" * 64]) == {file.receipt.sha256}
    assert registered_hashes(settings.data_dir / "none.duckdb", ["x"]) == frozenset()


def test_files_received_before_are_known_by_place_size_and_time(
    db: Path, settings: Settings
) -> None:
    file = make_file(settings, "UBND", "2026Q3", {("1.1", "1.1.1"): 2.0})
    receipt = file.receipt
    listed = [(receipt.url, receipt.size, receipt.received_at)]
    assert received_before(db, listed) == {}
    _load(db, settings, [file])
    assert received_before(db, listed) == {receipt.url: (receipt.sha256, receipt.archived)}
    later = receipt.received_at + timedelta(seconds=1)
    changed = [
        (receipt.url, receipt.size + 1, receipt.received_at),
        (receipt.url, receipt.size, later),
        ("file:///inbox/other.xlsx", receipt.size, receipt.received_at),
    ]
    for entry in changed:
        assert received_before(db, [entry]) == {}
    # A copy no longer whole in the archive is received again.
    receipt.archived_path.chmod(0o644)
    receipt.archived_path.write_bytes(b"")
    assert received_before(db, listed) == {}
