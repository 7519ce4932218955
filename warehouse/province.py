"""The province's warehouse: the communes' bundles loaded side by side, and the province marts.

Work is split the way a night's consolidation can share it: `prepare_batch` fetches and
verifies a batch of bundles and stages their rows as one Parquet file per mart (any number of
processes, on any machine that sees the staging folder); `load_batch` is the one writer, which
loads staged batches into the warehouse, each commune all or nothing.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from core.periods import periods_of
from core.settings import Settings
from warehouse.bundle import (
    NATIONAL,
    BundleRef,
    Checked,
    fetch_bundle,
    nso_code,
    published_at,
)
from warehouse.db import MARTS, connect, identifier, sql, transaction
from warehouse.dimensions import _period_columns
from warehouse.migrate import apply

# The province's marts, in the order their views are created (each reads those before it).
PROVINCE_MARTS: tuple[str, ...] = (
    "submissions",
    "submission_errors",
    "data_values",
    "expected_reports",
    "commune_completeness",
    "commune_task_progress",
    "commune_indicators",
    "commune_plan_summary",
    "completeness",
    "task_progress",
    "indicators",
    "plan_summary",
    "communes",
    "bundles",
    "unpublished_communes",
)
_KEYS = ("commune_code", "bundle_id")
BATCH_FILE = "batch.json"
_UNIONS = ("submissions", "submission_errors", "data_values", "expected_reports")
# Province marts that are a commune mart as each commune's latest bundle holds it.
_CARRIED = {**{m: m for m in _UNIONS}, **{f"commune_{m}": m for m in MARTS if m not in _UNIONS}}


@dataclass
class PreparedBatch:
    """A batch of bundles checked: the good ones staged in `folder`, the others refused."""

    folder: Path
    accepted: list[Checked] = field(default_factory=list)
    rejected: list[Checked] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BatchLoad:
    """What one staged batch did to the warehouse."""

    loaded: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def province_communes(province_code: str) -> list[tuple[str, str, str, str]]:
    """The communes of a province in the national list: (code, name, province code, name);
    every commune of the country for `NATIONAL`.

    Raises:
        ValueError: no province has that code.
    """
    from vietnam_provinces import Province, ProvinceCode, Ward

    if province_code == NATIONAL:
        return [
            (f"{w.code.value:05d}", str(w.name), str(int(w.province_code)),
             str(Province.from_code(w.province_code).name))
            for w in Ward.iter_all()
        ]  # fmt: skip
    try:
        province = Province.from_code(ProvinceCode(int(province_code)))
    except ValueError:
        raise ValueError(f"mã tỉnh {province_code} không có trong danh mục") from None
    code = str(int(province.code))
    return [
        (f"{w.code.value:05d}", str(w.name), code, str(province.name))
        for w in Ward.iter_by_province(province.code)
    ]


def _mart_sql(name: str) -> str:
    """A province mart's query: a commune mart carried up as the communes' latest bundles hold
    it (the row marts under their names, the summaries as `commune_<mart>`), or its own file."""
    if name in _CARRIED:
        return sql("province/staging/carried").replace("{table}", identifier(_CARRIED[name]))
    return sql(f"province/{name}")


def init_province(db_path: Path, settings: Settings) -> None:
    """Create or upgrade the province's warehouse: migrations, its communes, its marts.

    Raises:
        ValueError: the settings do not name a province of the national list.
    """
    if not settings.province_code:
        raise ValueError("chưa đặt province_code (mã tỉnh) cho cấp tỉnh")
    communes = province_communes(settings.province_code)
    con = connect(db_path)
    try:
        apply(con)
        with transaction(con):
            con.execute("delete from province.communes")
            con.executemany("insert into province.communes values (?, ?, ?, ?)", communes)
            # The plan's reporting periods and deadlines, as a commune with these settings has them:
            # the status of a period starts from its deadline.
            periods = periods_of(settings.reporting_period_kind, settings.plan_years)
            con.execute(sql("sync/upsert_periods"), _period_columns(periods, settings))
            con.execute(
                "create or replace view province.current_bundles as "
                + sql("province/staging/current_bundles")
            )
            # The commune marts `apply` made stand for empty tables here: the province's own
            # views take their names.
            for name in PROVINCE_MARTS:
                con.execute(f"create or replace view mart.{identifier(name)} as {_mart_sql(name)}")
    finally:
        con.close()


@cache
def _contract_columns() -> dict[str, list[str]]:
    """Each mart's columns as the contract has them (the province tables, less the keys)."""
    con = duckdb.connect()
    try:
        apply(con)
        return {
            mart: [
                str(row[0])
                for row in con.execute(f"describe province.{identifier(mart)}").fetchall()
                if row[0] not in _KEYS
            ]
            for mart in MARTS
        }
    finally:
        con.close()


def loaded_bundles(db_path: Path) -> set[tuple[str, str]]:
    """The (commune, bundle) pairs already loaded: a bundle is loaded once."""
    con = connect(db_path)
    try:
        return _loaded_bundles(con)
    finally:
        con.close()


def _loaded_bundles(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(sql("province/load/loaded_bundles")).fetchall()
    return {(str(c), str(b)) for c, b in rows}


def prepare_batch(refs: list[BundleRef], settings: Settings, folder: Path) -> PreparedBatch:
    """Fetch and verify bundles, and stage the good ones' rows as one Parquet file per mart.

    Runs without the warehouse (any worker can): a bad bundle is refused with its reason and
    costs nothing to the others.
    """
    import time

    started = time.perf_counter()
    batch = PreparedBatch(folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    expected = _contract_columns()
    con = duckdb.connect()
    try:
        apply(con)
        for ref in refs:
            target = folder / "bundles" / ref.commune_code / ref.bundle_id
            checked = fetch_bundle(ref, settings.publish_url, settings, target)
            if checked.ok:
                checked.reason = _stage(con, ref, target, expected)
            (batch.accepted if checked.ok else batch.rejected).append(checked)
            shutil.rmtree(target, ignore_errors=True)
        for mart in MARTS:
            out = folder / f"{mart}.parquet"
            con.execute(f"copy province.{identifier(mart)} to {_literal(out)} (format parquet)")
    finally:
        con.close()
    shutil.rmtree(folder / "bundles", ignore_errors=True)
    batch.seconds = time.perf_counter() - started
    # Written last: the writer, on whichever machine, reads the batch from its folder.
    (folder / BATCH_FILE).write_text(
        json.dumps(
            {
                "seconds": batch.seconds,
                "checked": [
                    {"commune_code": c.ref.commune_code, "bundle_id": c.ref.bundle_id,
                     "manifest": c.manifest, "reason": c.reason}
                    for c in (*batch.accepted, *batch.rejected)
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )  # fmt: skip
    return batch


def read_batch(folder: Path) -> PreparedBatch:
    """A batch prepared by any worker, from its folder.

    Raises:
        FileNotFoundError: the batch was not prepared (its worker failed).
    """
    data = json.loads((folder / BATCH_FILE).read_text(encoding="utf-8"))
    batch = PreparedBatch(folder=folder, seconds=float(data["seconds"]))
    for entry in data["checked"]:
        checked = Checked(
            BundleRef(entry["commune_code"], entry["bundle_id"]),
            manifest=entry["manifest"],
            reason=entry["reason"],
        )
        (batch.accepted if checked.ok else batch.rejected).append(checked)
    return batch


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _stage(
    con: duckdb.DuckDBPyConnection, ref: BundleRef, folder: Path, expected: dict[str, list[str]]
) -> str | None:
    """Add one verified bundle's rows to the batch; the reason it cannot be, if any."""
    con.begin()
    try:
        for mart in MARTS:
            path = folder / f"{mart}.parquet"
            found = [
                str(row[0])
                for row in con.execute(
                    "describe select * from read_parquet($path)", {"path": str(path)}
                ).fetchall()
            ]
            if found != expected[mart]:
                missing = [c for c in expected[mart] if c not in found]
                extra = [c for c in found if c not in expected[mart]]
                con.rollback()
                return (
                    f"tệp {mart}.parquet không đúng các cột của hợp đồng dữ liệu"
                    + (f"; thiếu {', '.join(missing)}" if missing else "")
                    + (f"; thừa {', '.join(extra)}" if extra else "")
                )
            con.execute(
                f"insert into province.{identifier(mart)} by name "
                "select $commune as commune_code, $bundle as bundle_id, * "
                "from read_parquet($path)",
                {"commune": ref.commune_code, "bundle": ref.bundle_id, "path": str(path)},
            )
    except duckdb.Error as error:
        con.rollback()
        return f"không đọc được số liệu của gói: {error}"
    con.commit()
    return None


def start_consolidation(db_path: Path, listed: int) -> int:
    """Record a consolidation run; its id."""
    con = connect(db_path)
    try:
        row = con.execute(
            "insert into province.consolidations (consolidation_id, started_at, bundles_listed) "
            "values (nextval('province.consolidation_id_seq'), $now, $listed) "
            "returning consolidation_id",
            {"now": datetime.now(UTC), "listed": listed},
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def finish_consolidation(db_path: Path, run: int, counts: dict[str, int]) -> None:
    """Close a consolidation run with what it did."""
    con = connect(db_path)
    try:
        con.execute(
            "update province.consolidations set finished_at = $now, loaded = $loaded, "
            "unchanged = $unchanged, rejected = $rejected where consolidation_id = $run",
            {"now": datetime.now(UTC), "run": run, **counts},
        )
    finally:
        con.close()


def _bundle_row(run: int, checked: Checked, status: str, now: datetime) -> dict[str, Any]:
    manifest = checked.manifest
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    version = manifest.get("contract_version")
    run_id = manifest.get("run_id")
    return {
        "run": run,
        "commune": checked.ref.commune_code,
        "bundle": checked.ref.bundle_id,
        "status": status,
        "reason": checked.reason,
        "name": str(manifest.get("commune_name") or "") or None,
        "version": version if isinstance(version, int) else None,
        "run_id": run_id if isinstance(run_id, int) else None,
        "published_at": published_at(manifest),
        "row_counts": json.dumps(
            {m: f.get("rows") for m, f in (files or {}).items() if isinstance(f, dict)}
        ),
        "checked_at": now,
        "loaded_at": now if status == "loaded" else None,
    }


_INSERT_BUNDLE = (
    "insert into province.bundles values ($run, $commune, $bundle, $status, $reason, $name, "
    "$version, $run_id, $published_at, $row_counts, $checked_at, $loaded_at)"
)


def load_batch(db_path: Path, run: int, batch: PreparedBatch) -> BatchLoad:
    """Load a prepared batch: each commune's rows and its bundle record commit together.

    The caller holds the writer lock. The batch goes in one transaction; should that fail, each
    commune is tried alone, so one commune's trouble stays its own. A bundle already loaded is
    skipped (loading is idempotent); refused bundles are recorded with their reason.
    """
    result = BatchLoad()
    now = datetime.now(UTC)
    con = connect(db_path)
    try:
        with transaction(con):
            for checked in batch.rejected:
                con.execute(_INSERT_BUNDLE, _bundle_row(run, checked, "rejected", now))
        loaded = _loaded_bundles(con)
        fresh = [c for c in batch.accepted if (c.ref.commune_code, c.ref.bundle_id) not in loaded]
        if fresh:
            try:
                with transaction(con):
                    for mart in MARTS:
                        _insert_staged(con, batch.folder, mart, [c.ref for c in fresh])
                    for checked in fresh:
                        con.execute(_INSERT_BUNDLE, _bundle_row(run, checked, "loaded", now))
                result.loaded = [c.ref.commune_code for c in fresh]
            except duckdb.Error:
                for checked in fresh:
                    try:
                        with transaction(con):
                            for mart in MARTS:
                                _insert_staged(con, batch.folder, mart, [checked.ref])
                            con.execute(_INSERT_BUNDLE, _bundle_row(run, checked, "loaded", now))
                        result.loaded.append(checked.ref.commune_code)
                    except duckdb.Error as error:
                        checked.reason = f"không nạp được vào kho của tỉnh: {error}"
                        with transaction(con):
                            con.execute(_INSERT_BUNDLE, _bundle_row(run, checked, "rejected", now))
                        result.rejected.append((checked.ref.commune_code, checked.reason))
    finally:
        con.close()
    result.rejected += [(c.ref.commune_code, str(c.reason)) for c in batch.rejected]
    return result


def _insert_staged(
    con: duckdb.DuckDBPyConnection, folder: Path, mart: str, refs: list[BundleRef]
) -> None:
    """The staged rows of these bundles into the mart's province table."""
    con.execute(
        f"insert into province.{identifier(mart)} by name select * from read_parquet($path) "
        "where list_contains($keys, commune_code || '/' || bundle_id)",
        {"path": str(folder / f"{mart}.parquet"), "keys": [r.path for r in refs]},
    )


def staging_folder(settings: Settings) -> Path:
    """A new folder for one consolidation's staged batches."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return settings.staging / f"{stamp}-{uuid.uuid4().hex[:8]}"


def scope_commune(con: duckdb.DuckDBPyConnection, commune_code: str) -> None:
    """Make `mart.*` on this connection read one commune's marts, as its bundle holds them.

    The connection is an in-memory engine with a province's published copy attached as
    `published`; its own `mart` views pick the commune's rows, so every query written for a
    commune's warehouse runs unchanged. The commune is a bound value, never SQL text.

    Raises:
        ValueError: the commune has no loaded bundle in this warehouse (or it is no
            province's warehouse).
    """
    commune_code = nso_code(commune_code)
    try:
        found = con.execute(
            "select count(*) from published.mart.communes "
            "where commune_code = $code and bundle_id is not null",
            {"code": commune_code},
        ).fetchone()
    except duckdb.CatalogException:
        raise ValueError("kho này không phải kho cấp tỉnh; bỏ --commune") from None
    if not found or not found[0]:
        raise ValueError(f"kho của tỉnh không có số liệu của xã {commune_code}")
    con.execute("create table memory.main.wanted (commune_code varchar)")
    con.execute("insert into memory.main.wanted values ($code)", {"code": commune_code})
    con.execute("create schema memory.mart")
    for mart in MARTS:
        # The four per-unit marts are unions with a commune column; the others are the
        # province's roll-ups, whose per-commune rows are the commune_<mart> marts.
        source = mart if mart in _UNIONS else f"commune_{mart}"
        con.execute(
            f"create view memory.mart.{identifier(mart)} as "
            "select * exclude (commune_code, commune_name) "
            f"from published.mart.{identifier(source)} "
            "where commune_code = (select commune_code from memory.main.wanted)"
        )
    # The plan's periods are the province's and its communes' alike.
    con.execute("create schema memory.core")
    con.execute("create view memory.core.periods as select * from published.core.periods")
    con.execute("use memory")
