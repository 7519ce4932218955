"""Synthetic submissions for the warehouse tests, and the child process the crash and reader
tests run (`python tests/warehouse_support.py load|read ...`)."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from core.model import CellRef, ProgressRow, ReadIssue, Submission, ValueRow
from core.settings import Settings
from schemas.schema import Schema, load_schema
from schemas.verdict import Verdict
from warehouse.archive import Receipt, archive


@dataclass
class Received:
    """A synthetic file: its bytes' receipt and its verdict."""

    receipt: Receipt
    verdict: Verdict


def whole_submissions(con: duckdb.DuckDBPyConnection) -> int:
    """Every received file has its submission and every submission all its value rows; the
    number of submissions."""
    orphans = con.execute(
        "select count(*) from raw.received_files r "
        "anti join raw.submissions s on r.received_file_id = s.received_file_id"
    ).fetchone()
    partial = con.execute(
        "select count(*) from raw.submissions s left join "
        "(select submission_id, count(*) as n from raw.data_values group by all) v "
        "using (submission_id) where coalesce(v.n, 0) <> s.value_count"
    ).fetchone()
    assert orphans == (0,) and partial == (0,), (orphans, partial)
    loaded = con.execute("select count(*) from raw.submissions").fetchone()
    assert loaded is not None
    return int(loaded[0])


def elements_for(schema: Schema, unit_code: str, year: int) -> list[tuple[str, str]]:
    """(task, element) pairs the unit reports on in the year."""
    unit = schema.registry.unit(unit_code)
    assert unit is not None
    return [
        (t.code, e.code) for t, _ in schema.tasks_for(unit, year) for e in schema.elements_of(t)
    ]


def make_file(
    settings: Settings,
    unit_code: str,
    period: str,
    values: dict[tuple[str, str], float],
    *,
    progress: dict[str, tuple[str, str | None]] | None = None,
    errors: list[str] | None = None,
    warnings: list[str] | None = None,
    name: str | None = None,
    url: str | None = None,
    received_at: datetime | None = None,
    salt: str = "",
) -> Received:
    """Archive synthetic bytes and build the verdict a validator would give them."""
    name = name or f"{unit_code}_{period}.xlsx"
    payload = {
        "unit": unit_code,
        "period": period,
        "values": sorted([list(k) + [v] for k, v in values.items()]),
        "progress": progress,
        "errors": errors,
        "salt": salt,
    }
    data = json.dumps(payload, ensure_ascii=False).encode()
    receipt = archive(
        data,
        name=name,
        url=url or f"file:///inbox/{name}",
        archive_dir=settings.archive,
        received_at=received_at or datetime(2026, 7, 10, 9, tzinfo=UTC),
    )
    rows = [
        ValueRow(task, element, value, str(value), None, CellRef(name, "Số liệu", 10 + i, "G"))
        for i, ((task, element), value) in enumerate(sorted(values.items()))
    ]
    progress_rows = [
        ProgressRow(
            task,
            status,
            results,
            None,
            None,
            f"Số {i}/KH-UBND",
            CellRef(name, "Tiến độ", 5 + i, "C"),
        )
        for i, (task, (status, results)) in enumerate(sorted((progress or {}).items()))
    ]
    findings = [
        ReadIssue(code, f"lỗi {code}", "", CellRef(name, "Số liệu", 12, "G"), "error")
        for code in errors or []
    ] + [ReadIssue(code, f"cảnh báo {code}", "", None, "warning") for code in warnings or []]
    submission = Submission(
        url=receipt.url,
        name=name,
        size=receipt.size,
        sha256=receipt.sha256,
        unit_code=unit_code,
        period=period,
        template_version="1",
        values=rows,
        progress=progress_rows,
    )
    return Received(receipt, Verdict(submission, findings))


def full_values(
    schema: Schema, unit_code: str, period: str, base: float
) -> dict[tuple[str, str], float]:
    """A value for every element the unit reports in the period's year."""
    year = int(period[:4])
    return {pair: base + i for i, pair in enumerate(elements_for(schema, unit_code, year))}


def batch(
    settings: Settings, schema: Schema, period: str, count: int, seed: int, start: datetime
) -> list[Received]:
    """`count` accepted files from the schema's units, cycling units and versions."""
    rng = random.Random(seed)
    units = [u.code for u in schema.registry.units]
    files = []
    for i in range(count):
        unit = units[i % len(units)]
        values = full_values(schema, unit, period, float(rng.randint(1, 50)))
        files.append(
            make_file(
                settings,
                unit,
                period,
                values,
                received_at=start + timedelta(minutes=i),
                salt=f"{seed}-{i}",
            )
        )
    return files


def _settings(data_dir: str) -> Settings:
    return Settings(data_dir=Path(data_dir))


def _child_load(data_dir: str, count: str) -> None:
    """Load a fixed batch of first versions for distinct (unit, period) pairs, then publish."""
    from warehouse.load import load, sync_schema
    from warehouse.migrate import init
    from warehouse.publish import publish

    settings = _settings(data_dir)
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = crash_batch(settings, schema, int(count))
    print(f"ready {os.getpid()}", flush=True)
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, settings.data_dir / "published")
    print("done", flush=True)


def _fork_server(data_dir: str) -> None:
    """Import once, then fork a loading child per line read: `count`. Each child reports
    `ready PID` and `done`; the server reports `exit STATUS` when the child ends, killed or not.
    Forking saves the interpreter start-up per kill, which dominates the crash test's time."""
    import warehouse.load  # noqa: F401  (imported before forking, once)
    import warehouse.publish  # noqa: F401

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                _child_load(data_dir, line.strip())
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)


def crash_batch(settings: Settings, schema: Schema, count: int) -> list[Received]:
    """Distinct (unit, period) first versions over the plan's quarters: deterministic."""
    units = [u.code for u in schema.registry.units]
    periods = [f"{y}Q{q}" for y in schema.plan_years for q in range(1, 5)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        make_file(
            settings,
            units[i % len(units)],
            periods[i // len(units)],
            full_values(schema, units[i % len(units)], periods[i // len(units)], float(i)),
            received_at=start + timedelta(hours=i),
            salt=f"crash-{i}",
        )
        for i in range(count)
    ]


def _child_read(published_dir: str, seconds: str) -> None:
    """Query the published copy in a loop; print one JSON line per snapshot or error."""
    from warehouse.query import query

    deadline = time.monotonic() + float(seconds)
    sql = (
        "select (select count(*) from mart.submissions where status = 'accepted'), "
        "(select coalesce(sum(value_count), 0) from mart.submissions where status = 'accepted'), "
        "(select count(*) from mart.data_values), "
        "(select count(*) from mart.expected_reports where accepted), "
        "(select max(last_run_id) from meta.publication)"
    )
    while time.monotonic() < deadline:
        try:
            _, rows = query(Path(published_dir), sql)
            print(json.dumps({"row": list(rows[0])}), flush=True)
            time.sleep(0.05)  # leave the loader a core on small machines
        except FileNotFoundError:
            time.sleep(0.01)
        except Exception as exc:  # every failure is reported to the test, which fails on it
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"load": _child_load, "read": _child_read, "forkserver": _fork_server}[command](*args)
