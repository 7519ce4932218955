"""The marts' contract (docs/warehouse.md), the published copy and its readers, status."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import create_engine, text
from warehouse_support import full_values, make_file

from core.settings import PROJECT_ROOT, Settings
from schemas.schema import load_schema
from warehouse.db import MARTS, PUBLISH_MEMORY_AT_MOST, SHARED_VIEWS
from warehouse.dimensions import schema_basis, sync_schema
from warehouse.load import load
from warehouse.migrate import init
from warehouse.publish import publish, published_database
from warehouse.query import query
from warehouse.status import period_status

DOC = PROJECT_ROOT / "docs" / "warehouse.md"


def documented_marts() -> dict[str, list[tuple[str, str]]]:
    """Each `### mart.<name>` section's table: (column, type) in order."""
    marts: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### mart\.(\w+)\s*$", line)
        if heading:
            current = marts.setdefault(heading[1], [])
        elif line.startswith("#"):
            current = None
        elif current is not None and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] not in ("column", "") and not set(cells[0]) <= {"-"}:
                current.append((cells[0], cells[1]))
    return marts


@pytest.fixture
def published(settings: Settings, tmp_path: Path) -> Path:
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = [
        make_file(
            settings,
            unit,
            "2026Q3",
            full_values(schema, unit, "2026Q3", 2.0),
            progress={"1.1": ("Hoàn thành", "xong")},
        )
        for unit in ("UBND", "MN-NH", "THON-03")
    ]
    files.append(make_file(settings, "THON-04", "2026Q3", {}, errors=["R-CODE-DATE"]))
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, tmp_path / "published")
    return tmp_path / "published"


def test_every_mart_matches_the_doc(published: Path) -> None:
    documented = documented_marts()
    assert sorted(documented) == sorted(MARTS)
    for name in MARTS:
        _, rows = query(published, f"describe mart.{name}")
        actual = [(row[0], row[1].lower()) for row in rows]
        assert actual == documented[name], name


def test_every_mart_has_rows_in_warehouse_and_copy(published: Path, settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        live = {m: con.execute(f"select count(*) from mart.{m}").fetchone() for m in MARTS}
    for name in MARTS:
        _, rows = query(published, f"select count(*) from mart.{name}")
        assert rows[0] == live[name] and rows[0][0] > 0, name
        kind = query(
            published,
            "select table_type from information_schema.tables "
            "where table_schema = 'mart' and table_name = $name",
            {"name": name},
        )[1]
        assert kind == [("BASE TABLE",)]


def test_marts_reading_a_shared_view_hold_its_rows(published: Path, settings: Settings) -> None:
    """The core views several marts read are tables in the copy; the marts made from them hold
    the rows their views give in the warehouse."""
    for name in SHARED_VIEWS:
        kind = query(
            published,
            "select table_type from information_schema.tables "
            "where table_schema = 'core' and table_name = $name",
            {"name": name},
        )[1]
        assert kind == [("BASE TABLE",)], name
    with duckdb.connect(str(settings.warehouse)) as con:
        for mart in ("indicators", "plan_summary"):
            live = _rounded(con.execute(f"select * from mart.{mart}").fetchall())
            copied = _rounded(query(published, f"select * from mart.{mart}")[1])
            assert copied == live and live, mart


def _rounded(rows: list[tuple[object, ...]]) -> list[str]:
    """Rows in one order, sums of floats to nine places (their last digit follows the order
    DuckDB added them in)."""
    return sorted(repr(tuple(round(v, 9) if isinstance(v, float) else v for v in r)) for r in rows)


def test_parquet_of_every_mart(published: Path) -> None:
    for name in MARTS:
        path = published / "parquet" / f"{name}.parquet"
        with duckdb.connect() as con:
            count = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()
        _, rows = query(published, f"select count(*) from mart.{name}")
        assert count == rows[0]


def test_sqlalchemy_reads_the_published_copy(published: Path) -> None:
    engine = create_engine(
        f"duckdb:///{published_database(published)}", connect_args={"read_only": True}
    )
    with engine.connect() as con:
        accepted = con.execute(
            text("select count(*) from mart.submissions where status = 'accepted'")
        ).scalar()
    engine.dispose()
    assert accepted == 3


def test_published_copy_cannot_be_written(published: Path) -> None:
    with pytest.raises(duckdb.Error):
        query(published, "delete from mart.submissions")
    with pytest.raises(duckdb.Error):
        query(published, f"copy mart.submissions to '{published / 'x.csv'}'")


def test_publish_replaces_the_copy_and_prunes_old_parquet(
    published: Path, settings: Settings
) -> None:
    for _ in range(4):
        publish(settings.warehouse, published)
    assert len(list((published / ".parquet").iterdir())) <= 3
    assert not list(published.glob(".tmp-*"))
    assert (published / "parquet").resolve().parent == (published / ".parquet").resolve()


def test_period_status(published: Path) -> None:
    status = period_status(published, "2026Q3")
    assert status["deadline"] == "2026-09-20"
    assert status["overall"]["expected"] == 17
    assert status["overall"]["accepted"] == 3
    assert status["overall"]["received"] == 4
    missing = {u["unit_code"]: u for u in status["missing"]}
    assert len(missing) == 14 and "UBND" not in missing
    assert missing["THON-04"]["last_status"] == "rejected"
    schools = next(r for r in status["by_unit_type"] if r["unit_type"] == "Trường học")
    assert (schools["expected"], schools["accepted"], schools["accepted_rate"]) == (4, 1, 25.0)
    with pytest.raises(ValueError):
        period_status(published, "Q3")


def test_receipt_needs_a_time_zone(settings: Settings) -> None:
    from warehouse.archive import archive

    with pytest.raises(ValueError):
        archive(
            b"x",
            name="a.xlsx",
            url="u",
            archive_dir=settings.archive,
            received_at=datetime(2026, 1, 1),  # noqa: DTZ001
        )
    receipt = archive(
        b"x", name="A.XLSX", url="u", archive_dir=settings.archive, received_at=datetime.now(UTC)
    )
    assert receipt.archived_path.name == receipt.sha256 + ".xlsx"
    assert receipt.archived_path.read_bytes() == b"x"


def test_status_tells_who_to_chase_and_what_arrived(settings: Settings, tmp_path: Path) -> None:
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    on_time, late = datetime(2026, 9, 1, 9, tzinfo=UTC), datetime(2026, 10, 2, 9, tzinfo=UTC)
    files = [
        # Values only, after the deadline.
        make_file(settings, "UBND", "2026Q3", full_values(schema, "UBND", "2026Q3", 1.0),
                  received_at=late),
        # Progress only, on time.
        make_file(settings, "MN-NH", "2026Q3", {}, progress={"5.3": ("Hoàn thành", "xong")},
                  received_at=on_time),
        # Rejected, then nothing.
        make_file(settings, "THON-04", "2026Q3", {}, errors=["R-CODE-DATE"], received_at=on_time),
        # Rejected on time, accepted late: late.
        make_file(settings, "THON-03", "2026Q3", {}, errors=["R-CODE-DATE"], received_at=on_time),
        make_file(settings, "THON-03", "2026Q3", full_values(schema, "THON-03", "2026Q3", 2.0),
                  progress={"2.1": ("Hoàn thành", None)}, received_at=late, salt="2"),
    ]  # fmt: skip
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, tmp_path / "published")

    status = period_status(tmp_path / "published", "2026Q3")
    units = {u["unit_code"]: u for u in status["units"]}
    assert len(units) == status["overall"]["expected"] == 17
    seen = {
        code: (u["report_state"], u["values_received"], u["progress_received"])
        for code, u in units.items()
        if code in ("UBND", "MN-NH", "THON-04", "THON-03", "THON-01")
    }
    assert seen == {
        "UBND": ("late", True, False),
        "MN-NH": ("on_time", False, True),
        "THON-04": ("awaiting_resend", False, False),
        "THON-03": ("late", True, True),
        "THON-01": ("not_sent", False, False),
    }
    overall = status["overall"]
    assert (overall["not_sent"], overall["awaiting_resend"], overall["late"]) == (13, 1, 2)
    assert (overall["values_received"], overall["progress_received"]) == (2, 2)
    assert overall["not_sent"] + overall["awaiting_resend"] + overall["accepted"] == 17
    missing = {u["unit_code"]: u["report_state"] for u in status["missing"]}
    assert missing["THON-04"] == "awaiting_resend" and missing["THON-01"] == "not_sent"
    assert "UBND" not in missing
    # The upstream report's section has the follow-up too.
    _, rows = query(
        tmp_path / "published",
        "select report_state, count(*) from mart.expected_reports where period = '2026Q3' "
        "group by all order by 1",
    )
    assert dict(rows) == {
        "awaiting_resend": 1, "not_sent": 13, "late": 2, "on_time": 1
    }  # fmt: skip


def test_dimensions_are_rewritten_only_when_their_basis_changed(settings: Settings) -> None:
    schema = load_schema(settings)
    init(settings.warehouse)
    basis = schema_basis(schema, settings)

    assert sync_schema(settings.warehouse, schema, settings, basis)["units"] == len(
        schema.registry.units
    )
    assert sync_schema(settings.warehouse, schema, settings, basis) == {}
    # A new reporting period kind, or another registry, is another basis.
    monthly = settings.with_overrides(reporting_period_kind="month")
    assert sync_schema(settings.warehouse, schema, monthly, schema_basis(schema, monthly))
    units = settings.schemas_dir / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8") + "\n# sửa\n", encoding="utf-8")
    edited = load_schema(settings)
    assert edited.fingerprint != schema.fingerprint
    assert sync_schema(settings.warehouse, edited, settings, schema_basis(edited, settings))
    # A sync without a basis (`khcn init`) leaves none: the next load writes them again.
    sync_schema(settings.warehouse, edited, settings)
    assert sync_schema(settings.warehouse, edited, settings, schema_basis(edited, settings))


def test_marts_too_big_for_the_publication_memory_are_published_with_more(
    published: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse whose marts need more than PUBLISH_MEMORY is published all the same, with
    PUBLISH_MEMORY_AT_MOST, and the copy holds what the other one did."""
    tight = "1MB"
    copy = settings.warehouse.with_name("tight.duckdb")
    copy.write_bytes(settings.warehouse.read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute(f"set memory_limit = '{tight}'")
        with pytest.raises(duckdb.OutOfMemoryException):
            for name in MARTS:
                con.execute(f"create table mart.{name}__table as select * from mart.{name}")
    before = {m: query(published, f"select count(*) from mart.{m}")[1] for m in MARTS}
    monkeypatch.setattr("warehouse.publish.PUBLISH_MEMORY", tight)
    publication = publish(settings.warehouse, published)
    assert publication.memory == PUBLISH_MEMORY_AT_MOST
    assert {m: [(n,)] for m, n in publication.mart_rows.items()} == before
    for name in MARTS:
        assert query(published, f"select count(*) from mart.{name}")[1] == before[name]
    assert not list(published.glob(".tmp-*"))
