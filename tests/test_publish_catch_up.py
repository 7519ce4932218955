"""A published copy caught up from the previous one holds exactly what a copy made whole from
the warehouse holds, and a copy is made whole whenever more than loads changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from warehouse_support import Received, full_values, make_file

from core.settings import Settings
from schemas.schema import Schema
from warehouse.db import MARTS, string_literal
from warehouse.dimensions import schema_basis, sync_schema
from warehouse.load import load
from warehouse.migrate import init
from warehouse.publish import RUN_KEYS, Publication, publish, published_database

SEPTEMBER, OCTOBER = datetime(2026, 9, 20, 9, tzinfo=UTC), datetime(2026, 10, 5, 9, tzinfo=UTC)


def _load(settings: Settings, files: list[Received]) -> None:
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)


def _report(
    settings: Settings, schema: Schema, unit: str, period: str, base: float, **more: Any
) -> Received:
    """A unit's file with a value for every element it reports in the period."""
    return make_file(settings, unit, period, full_values(schema, unit, period, base), **more)


def _first_run(settings: Settings, schema: Schema) -> None:
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings, schema_basis(schema, settings))
    files = [
        _report(
            settings,
            schema,
            unit,
            "2026Q3",
            2.0,
            progress={"1.1": ("Đang thực hiện", f"{unit} đang làm")},
            received_at=SEPTEMBER,
        )
        for unit in ("UBND", "MN-NH", "THON-03")
    ]
    files.append(make_file(settings, "THON-04", "2026Q3", {}, errors=["R-CODE-DATE"]))
    _load(settings, files)


def _second_run(settings: Settings, schema: Schema) -> None:
    """A version superseding one, a unit's first file, a new period, a rejected file naming no
    unit or period, the first run's bytes again under another name."""
    _load(
        settings,
        [
            _report(
                settings,
                schema,
                "UBND",
                "2026Q3",
                7.0,
                progress={"1.1": ("Hoàn thành", "UBND xong")},
                received_at=OCTOBER,
                salt="v2",
            ),
            _report(settings, schema, "THON-04", "2026Q3", 3.0, received_at=OCTOBER),
            _report(settings, schema, "MN-NH", "2026Q4", 4.0, received_at=OCTOBER),
            make_file(settings, "", "", {}, errors=["R-CODE-DATE"], name="khong-ro.xlsx"),
            _report(
                settings,
                schema,
                "UBND",
                "2026Q3",
                2.0,
                progress={"1.1": ("Đang thực hiện", "UBND đang làm")},
                received_at=SEPTEMBER,
                name="UBND_2026Q3 (1).xlsx",
            ),
        ],
    )


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[tuple[str, str]]:
    return set(
        con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ?",
            [database],
        ).fetchall()
    )


def assert_same_copies(caught_up: Path, whole: Path) -> None:
    """Every table of the two copies holds the same rows (the publication's own row aside),
    and so does every mart's Parquet file."""
    con = duckdb.connect()
    try:
        con.execute(f"attach {string_literal(str(published_database(caught_up)))} as a (read_only)")
        con.execute(f"attach {string_literal(str(published_database(whole)))} as b (read_only)")
        tables = _tables(con, "a")
        assert tables == _tables(con, "b")
        assert {("mart", name) for name in MARTS} <= tables
        for schema, name in sorted(tables - {("meta", "publication")}):
            for one, other in (("a", "b"), ("b", "a")):
                extra = con.execute(
                    f"select * from {one}.{schema}.{name} except all "
                    f"select * from {other}.{schema}.{name}"
                ).fetchall()
                assert extra == [], (f"{one}.{schema}.{name}", extra[:3])
        for name in MARTS:
            files = [str(p / "parquet" / f"{name}.parquet") for p in (caught_up, whole)]
            for one, other in (files, files[::-1]):
                extra = con.execute(
                    f"select * from read_parquet({string_literal(one)}) except all "
                    f"select * from read_parquet({string_literal(other)})"
                ).fetchall()
                assert extra == [], (name, extra[:3])
    finally:
        con.close()


def _chain(published: Path) -> tuple[int, int]:
    with duckdb.connect(str(published_database(published)), read_only=True) as con:
        row = con.execute("select last_run_id, chain from meta.publication").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _publish(settings: Settings, folder: str = "published") -> Publication:
    return publish(settings.warehouse, settings.data_dir / folder, keys=RUN_KEYS)


def test_a_caught_up_copy_holds_what_a_whole_one_does(settings: Settings, schema: Schema) -> None:
    _first_run(settings, schema)
    made = _publish(settings)
    assert made.since_run is None and _chain(settings.data_dir / "published") == (1, 0)

    _second_run(settings, schema)
    caught_up = _publish(settings)
    assert caught_up.since_run == 1 and not caught_up.not_caught_up
    assert _chain(settings.data_dir / "published") == (2, 1)
    whole = publish(settings.warehouse, settings.data_dir / "whole")
    assert whole.since_run is None and caught_up.mart_rows == whole.mart_rows
    assert_same_copies(settings.data_dir / "published", settings.data_dir / "whole")
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        statuses = dict(
            con.execute("select status, count(*) from core.submissions group by all").fetchall()
        )
    assert statuses == {"accepted": 5, "superseded": 1, "rejected": 2, "duplicate": 1}

    # Nothing new: caught up all the same, and still the same.
    again = _publish(settings)
    assert again.since_run == 2 and _chain(settings.data_dir / "published") == (2, 2)
    assert_same_copies(settings.data_dir / "published", settings.data_dir / "whole")


def test_a_copy_is_made_whole_when_more_than_loads_changed(
    settings: Settings, schema: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    _first_run(settings, schema)
    _publish(settings)
    # The dimensions written again from another basis: the marts read them all.
    monthly = settings.with_overrides(reporting_period_kind="month")
    sync_schema(settings.warehouse, schema, monthly, schema_basis(schema, monthly))
    made = _publish(settings)
    assert made.since_run is None and _chain(settings.data_dir / "published") == (1, 0)
    assert_same_copies(settings.data_dir / "published", _whole(settings))

    # More new submissions than a catch-up takes.
    monkeypatch.setattr("warehouse.publish.NEW_AT_MOST", 2)
    _second_run(settings, schema)
    assert _publish(settings).since_run is None
    assert _chain(settings.data_dir / "published") == (2, 0)

    # At most CHAIN_AT_MOST catch-ups in a row.
    monkeypatch.setattr("warehouse.publish.CHAIN_AT_MOST", 2)
    assert [_publish(settings).since_run for _ in range(3)] == [2, 2, None]
    assert_same_copies(settings.data_dir / "published", _whole(settings))


def test_a_copy_that_cannot_be_caught_up_is_made_whole(settings: Settings, schema: Schema) -> None:
    """A previous copy whose mart no longer takes the mart's rows (a column added to it): the
    catch-up fails, and the copy is made whole, saying why."""
    _first_run(settings, schema)
    _publish(settings)
    previous = published_database(settings.data_dir / "published")
    previous.chmod(0o644)
    with duckdb.connect(str(previous)) as con:
        con.execute("alter table mart.data_values add column extra integer")
    _second_run(settings, schema)
    made = _publish(settings)
    assert made.since_run is None and made.not_caught_up
    assert_same_copies(settings.data_dir / "published", _whole(settings))


def _whole(settings: Settings) -> Path:
    folder = settings.data_dir / "whole"
    publish(settings.warehouse, folder)
    return folder
