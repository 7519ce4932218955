"""The published copy: a read-only snapshot of the warehouse, with its marts as tables and as
Parquet files, swapped in atomically after each load.

Readers open `<published_dir>/warehouse.duckdb` read-only, or read
`<published_dir>/parquet/<mart>.parquet`. Each publication writes new files beside the old ones
and renames them into place, so a reader that already opened the previous copy keeps reading
it, and a reader never sees a half-written one.

A copy is made whole from the warehouse's file, or, after a run of a few files, caught up from
the previous copy: the rows the loads since appended, and the marts' rows of the units and
periods they were for (`RUN_KEYS`), made again; what a whole copy would hold, in less time.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.db import (
    MARTS,
    PUBLISH_MEMORY,
    PUBLISH_MEMORY_AT_MOST,
    SHARED_VIEWS,
    connect,
    identifier,
    string_literal,
    transaction,
    view_sql,
)
from warehouse.migrate import apply

PUBLISHED_DATABASE = "warehouse.duckdb"
PARQUET_LINK = "parquet"
PARQUET_VERSIONS = ".parquet"
_TEMPORARY_PREFIX = ".tmp-"

# What a load can change in a published table, by the columns that say whose and which period
# its rows are (a rejected file's may be null: matched as such). Tables not named are made again
# whole when a copy is caught up (they are small). The commune's own marts only.
RUN_KEYS: dict[str, tuple[str, ...]] = {
    "core.unit_year_values": ("unit_code", "year"),
    "mart.submissions": ("unit_code", "period"),
    "mart.submission_errors": ("unit_code", "period"),
    "mart.data_values": ("unit_code", "period"),
    "mart.expected_reports": ("unit_code", "period"),
    "mart.task_progress": ("period",),
}
# A copy is caught up from the previous one after at most this many new submissions (else made
# whole: at 100,000 submissions a catch-up took 4.3–4.4 s after 1 new file, 5.2–5.5 s after 100
# and 5.2–5.6 s after 400, a whole copy 6.4–7.1 s), and at most CHAIN_AT_MOST times in a row:
# then one is made whole again, with no deleted rows in its tables (a copy of 124 MB had grown
# to 168 MB after 18 catch-ups of 1 to 1,000 files each).
NEW_AT_MOST = 500
CHAIN_AT_MOST = 20
# The tables loads only append to, and which of their rows came after run `$last` (their
# submissions' rows: those are appended first).
_NEW_SUBMISSION = (
    "submission_id in (select submission_id from raw.submissions where run_id > $last)"
)
_APPENDED: dict[str, str] = {
    "raw.received_files": "run_id > $last",
    "raw.submissions": "run_id > $last",
    "raw.data_values": _NEW_SUBMISSION,
    "raw.progress": _NEW_SUBMISSION,
    "raw.findings": _NEW_SUBMISSION,
}
# Rewritten by every run (its status), read by no mart: taken whole.
_TAKEN_WHOLE = ("meta.load_runs",)


@dataclass(frozen=True)
class Publication:
    """One publication: where it is and what it holds."""

    database: Path
    parquet_dir: Path
    published_at: datetime
    mart_rows: dict[str, int]
    seconds: float
    memory: str = PUBLISH_MEMORY  # DuckDB's memory limit the marts were made within
    beside: object = None  # what the work done beside it returned (see `publish`)
    since_run: int | None = None  # the previous copy's last run, when caught up from it
    not_caught_up: str = ""  # why a copy that could be caught up was made whole instead


def published_database(published_dir: Path) -> Path:
    """The published DuckDB file inside `published_dir`."""
    return published_dir / PUBLISHED_DATABASE


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_leftovers(published_dir: Path) -> None:
    """Temporary files of an interrupted publication."""
    for path in published_dir.glob(f"{_TEMPORARY_PREFIX}*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _prune_parquet(published_dir: Path, keep_parquet: int) -> None:
    """Parquet versions beyond the newest `keep_parquet`, the current one always kept."""
    versions = published_dir / PARQUET_VERSIONS
    if not versions.is_dir():
        return
    link = published_dir / PARQUET_LINK
    current = link.resolve() if link.is_symlink() else None
    # Version folders are named by their UTC time, so name order is age order. Older ones are
    # kept for a while: a reader may still be reading them.
    stale = sorted(p for p in versions.iterdir() if p.is_dir() and p != current)
    for path in stale[: max(0, len(stale) - keep_parquet + 1)]:
        shutil.rmtree(path, ignore_errors=True)


def _materialize_marts(
    con: duckdb.DuckDBPyConnection,
    marts: tuple[str, ...],
    shared: tuple[str, ...],
    published_at: datetime,
) -> tuple[dict[str, int], str]:
    """Replace the copy's mart views (and the `shared` core views they read) by tables of
    their rows, all from one snapshot, and record the publication; within PUBLISH_MEMORY, or
    PUBLISH_MEMORY_AT_MOST when DuckDB finds that too little. Returns the rows of each mart and
    the memory limit used."""
    # A mart's rows have no order (its view has none): not keeping the order they come in lets
    # them stream into the tables in less memory.
    con.execute("set preserve_insertion_order = false")
    try:
        return _materialized(con, marts, shared, published_at), PUBLISH_MEMORY
    except duckdb.OutOfMemoryException:
        con.execute(f"set memory_limit = '{PUBLISH_MEMORY_AT_MOST}'")
        return _materialized(con, marts, shared, published_at), PUBLISH_MEMORY_AT_MOST


def _materialized(
    con: duckdb.DuckDBPyConnection,
    marts: tuple[str, ...],
    shared: tuple[str, ...],
    published_at: datetime,
) -> dict[str, int]:
    rows: dict[str, int] = {}
    with transaction(con):
        for name in shared:
            _as_table(con, "core", name)
        # Marts come in the order their views are made, each reading only those before it:
        # each mart's table takes its view's place as soon as it is made, so a mart that reads
        # another reads its rows instead of working its view out again (`completeness` from
        # `expected_reports` at 100,000 files: 0.33 → 0.03 s).
        for name in marts:
            _as_table(con, "mart", name)
            counted = con.execute(f"select count(*) from mart.{identifier(name)}").fetchone()
            rows[name] = int(counted[0]) if counted else 0
        _record(con, published_at, 0)
    return rows


def _record(con: duckdb.DuckDBPyConnection, published_at: datetime, chain: int) -> None:
    """The publication's own row: when, after which run, how many copies in a row were
    caught up from the one before (0: made whole)."""
    con.execute("drop table if exists meta.publication")
    con.execute(
        "create table meta.publication as "
        "select $published_at::timestamptz as published_at, "
        "(select max(run_id) from meta.load_runs) as last_run_id, $chain::integer as chain",
        {"published_at": published_at, "chain": chain},
    )


def _as_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """The view `schema.name` replaced by a table of its rows, under the same name."""
    table, staged = identifier(name), identifier(f"{name}__table")
    con.execute(f"create table {schema}.{staged} as select * from {schema}.{table}")
    con.execute(f"drop view {schema}.{table}")
    con.execute(f"alter table {schema}.{staged} rename to {table}")


@dataclass(frozen=True)
class _Previous:
    """A published copy a new one can be caught up from."""

    last_run_id: int
    chain: int


def _previous(
    con: duckdb.DuckDBPyConnection, previous: Path, made: set[tuple[str, str]]
) -> _Previous | None:
    """The copy at `previous`, when it holds the warehouse (`con`) as it was after its last
    run but for what loads append, and the runs since added at most NEW_AT_MOST submissions.

    Every table is compared by its rows' hashes (those appended since aside): a registry or plan
    synced since, a migration, another view's text, a mail pulled, a province's tables are all
    reasons to make the copy whole. `made` is the tables a publication makes (marts, shared
    views, its own row).
    """
    try:
        con.execute(f"attach {string_literal(str(previous))} as previous (read_only)")
    except duckdb.Error:
        return None  # no copy, or not one DuckDB opens
    try:
        mine, theirs = (
            set(
                con.execute(
                    "select schema_name, table_name from duckdb_tables() "
                    f"where database_name = {database}"
                ).fetchall()
            )
            for database in ("current_database()", "'previous'")
        )
        if theirs != mine | made:
            return None
        try:
            stamp = con.execute(
                "select last_run_id, chain from previous.meta.publication"
            ).fetchall()
        except duckdb.BinderException:
            return None  # a copy made before publications counted their chain
        if len(stamp) != 1 or stamp[0][0] is None or stamp[0][1] >= CHAIN_AT_MOST:
            return None
        last = int(stamp[0][0])
        new = con.execute(
            "select count(*) from raw.submissions where run_id > $last", {"last": last}
        ).fetchone()
        if new is None or new[0] > NEW_AT_MOST:
            return None
        compared = sorted(
            (schema, name) for schema, name in mine if f"{schema}.{name}" not in _TAKEN_WHOLE
        )
        if _digests(con, "", compared, last) != _digests(con, "previous.", compared, None):
            return None
        return _Previous(last, int(stamp[0][1]))
    finally:
        con.execute("detach previous")


def _caught_up(
    con: duckdb.DuckDBPyConnection,
    db_path: Path,
    previous: _Previous,
    made: tuple[tuple[str, str], ...],
    keys: Mapping[str, tuple[str, ...]],
    published_at: datetime,
) -> dict[str, int]:
    """Bring a copy of the previous publication (`con`) up to the warehouse at `db_path`: the
    rows appended since its last run, the runs' own table, and of the tables a publication
    makes (`made`, in order), the rows of the units and periods the new submissions are for
    (`keys`) or, for a table not in `keys`, all of them, made again by their views' SQL.
    Returns the rows of each mart."""
    last = {"last": previous.last_run_id}
    con.execute("set preserve_insertion_order = false")
    con.execute(f"attach {string_literal(str(db_path))} as warehouse (read_only)")
    try:
        with transaction(con):
            for table, appended in _APPENDED.items():
                con.execute(
                    f"insert into {table} select * from warehouse.{table} where {appended}", last
                )
            for table in _TAKEN_WHOLE:
                con.execute(f"delete from {table}")
                con.execute(f"insert into {table} select * from warehouse.{table}")
            touched = _touched(con, previous.last_run_id)
            rows: dict[str, int] = {}
            for schema, name in made:
                table = f"{identifier(schema)}.{identifier(name)}"
                made_again = f"select * from (\n{view_sql(schema, name)}\n)"
                key = keys.get(f"{schema}.{name}")
                among = "true" if key is None else _among(key, touched)
                if among != "false":
                    con.execute(f"delete from {table} where {among}")
                    con.execute(f"insert into {table} {made_again} where {among}")
                if schema == "mart":
                    counted = con.execute(f"select count(*) from {table}").fetchone()
                    rows[name] = int(counted[0]) if counted else 0
            _record(con, published_at, previous.chain + 1)
    finally:
        con.execute("detach warehouse")
    return rows


def _touched(con: duckdb.DuckDBPyConnection, last: int) -> dict[str, set[object]]:
    """The units, periods and years of the submissions after run `last`."""
    found = con.execute(
        "select distinct unit_code, period_code, year from core.submissions where run_id > $last",
        {"last": last},
    ).fetchall()
    return {
        column: {row[i] for row in found}
        for i, column in enumerate(("unit_code", "period", "year"))
    }


def _among(key: tuple[str, ...], touched: Mapping[str, set[object]]) -> str:
    """A condition on `key`'s columns every row of a touched unit and period meets: each column
    among its touched values (as literals, which DuckDB pushes into the views' scans and
    groups). Rows it takes beyond those (other pairs of touched units and periods) are made
    again the same; "false" when nothing was touched."""
    conditions = []
    for column in key:
        values = touched[column]
        known = sorted(_literal(v) for v in values if v is not None)
        either = ([f"{identifier(column)} in ({', '.join(known)})"] if known else []) + (
            [f"{identifier(column)} is null"] if None in values else []
        )
        if not either:
            return "false"
        conditions.append("(" + " or ".join(either) + ")")
    return " and ".join(conditions)


def _literal(value: object) -> str:
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"not a key value: {value!r}")


def _digests(
    con: duckdb.DuckDBPyConnection,
    database: str,
    tables: list[tuple[str, str]],
    last: int | None,
) -> list[tuple[object, ...]]:
    """Each table's rows (with `last`, those of runs up to it where loads append): how many,
    and the sum of their hashes; in one statement."""
    each = []
    for i, (schema, name) in enumerate(tables):
        appended = _APPENDED.get(f"{schema}.{name}") if last is not None else None
        each.append(
            f"select {i} as i, count(*), sum(hash(x)::hugeint) "
            f"from {database}{identifier(schema)}.{identifier(name)} as x"
            + (f" where not ({appended})" if appended else "")
        )
    statement = " union all ".join(each) + " order by i"
    return con.execute(statement, {"last": last} if "$last" in statement else {}).fetchall()


def publish(
    db_path: Path,
    published_dir: Path,
    *,
    keep_parquet: int = 3,
    marts: tuple[str, ...] = MARTS,
    shared: tuple[str, ...] = SHARED_VIEWS,
    beside: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
    keys: Mapping[str, tuple[str, ...]] | None = None,
) -> Publication:
    """Publish a consistent read-only copy of the warehouse and Parquet files of its marts.

    Args:
        db_path: the warehouse file (the only writer's file).
        published_dir: where readers look; created if missing.
        keep_parquet: how many Parquet versions to keep, the current one included.
        marts: the marts to publish (a province publishes its own).
        shared: the core views several of the marts read, made tables before them.
        beside: work that reads the copy (the dashboard), given a connection to it once its
            marts are made, and done while DuckDB writes their Parquet files (without
            Python's lock); what it returns is the publication's `beside`. It is not to raise.
        keys: what loads change in the tables a publication makes (`RUN_KEYS` for the
            commune's marts): with them the copy is caught up from the previous one when it
            can be (see `_previous`); without, always made whole.

    Returns:
        What was published.
    """
    started = time.perf_counter()
    published_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(published_dir)
    published_at = datetime.now(UTC)
    token = published_at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]
    temporary = published_dir / f"{_TEMPORARY_PREFIX}{token}.duckdb"
    parquet_dir = published_dir / PARQUET_VERSIONS / token
    parquet_dir.mkdir(parents=True)

    made = [("core", name) for name in shared] + [("mart", name) for name in marts]
    previous = published_database(published_dir)
    con = connect(db_path)
    try:
        apply(con)
        # Everything committed is in the file itself once checkpointed; no other connection
        # writes meanwhile (the caller holds the writer's lock), so its bytes are a snapshot.
        con.execute("checkpoint")
        since = (
            _previous(con, previous, {*made, ("meta", "publication")}) if keys is not None else None
        )
    finally:
        con.close()
    not_caught_up = ""
    if since is not None:
        shutil.copyfile(previous, temporary)
        con = connect(temporary, PUBLISH_MEMORY)
        try:
            mart_rows = _caught_up(con, db_path, since, tuple(made), keys or {}, published_at)
            memory = PUBLISH_MEMORY
        except duckdb.Error as exc:
            # Whatever stopped it, a whole copy is made instead; the caller is told why.
            not_caught_up, since = str(exc), None
        finally:
            con.close()
        if since is None:
            Path(f"{temporary}.wal").unlink(missing_ok=True)
    if since is None:
        # A file copy runs in the kernel; `copy from database` rewrote every table row by row
        # (100,000 submissions: the publication took 7.0 s with it, 5.4 s with the copy).
        shutil.copyfile(db_path, temporary)
        con = connect(temporary, PUBLISH_MEMORY)
        try:
            mart_rows, memory = _materialize_marts(con, marts, shared, published_at)
        finally:
            con.close()
    con = connect(temporary, memory)
    try:
        con.execute("set preserve_insertion_order = false")  # nor have the Parquet files' rows
        drawn = None
        with ThreadPoolExecutor(max_workers=1) as pool, con.cursor() as writing:
            written = pool.submit(_write_parquet, writing, marts, parquet_dir)
            if beside is not None:
                with con.cursor() as reading:
                    drawn = beside(reading)
            written.result()
    finally:
        con.close()

    temporary.chmod(0o444)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    database = published_database(published_dir)
    temporary.replace(database)
    link = published_dir / f"{_TEMPORARY_PREFIX}{token}.link"
    link.symlink_to(Path(PARQUET_VERSIONS) / token, target_is_directory=True)
    link.replace(published_dir / PARQUET_LINK)
    _fsync_dir(published_dir)
    _prune_parquet(published_dir, keep_parquet)
    return Publication(
        database=database,
        parquet_dir=published_dir / PARQUET_LINK,
        published_at=published_at,
        mart_rows=mart_rows,
        seconds=time.perf_counter() - started,
        memory=memory,
        beside=drawn,
        since_run=since.last_run_id if since else None,
        not_caught_up=not_caught_up,
    )


def _write_parquet(
    con: duckdb.DuckDBPyConnection, marts: tuple[str, ...], parquet_dir: Path
) -> None:
    for name in marts:
        target = string_literal(str(parquet_dir / f"{name}.parquet"))
        con.execute(f"copy (select * from mart.{identifier(name)}) to {target} (format parquet)")


# A run that received nothing need not publish again when the copy already shows the
# warehouse as it is, under the same plan and settings, drawn the same day (the dashboard
# counts days to deadlines). The stamp says what the copy was made from; any write to the
# warehouse (a load, a migration, another command) changes the file and so the stamp's match.
_STAMP = ".khcn-current.json"


def _warehouse_state(db_path: Path) -> list[list[int]]:
    state: list[list[int]] = []
    for path in (db_path, db_path.with_name(db_path.name + ".wal")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            state.append([])
            continue
        state.append([stat.st_size, stat.st_mtime_ns, stat.st_ino])
    return state


def mark_current(published_dir: Path, db_path: Path, basis: str) -> None:
    """Record that the published copy (and pages drawn from it) show `db_path` as it is now,
    made under `basis` (the plan, the settings that shape the marts, the day)."""
    stamp = {"warehouse": _warehouse_state(db_path), "basis": basis}
    temporary = published_dir / f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex}.json"
    temporary.write_text(json.dumps(stamp), encoding="utf-8")
    temporary.replace(published_dir / _STAMP)


def is_current(published_dir: Path, db_path: Path, basis: str) -> bool:
    """Whether the published copy was made from `db_path` as it is now, under `basis`."""
    if not published_database(published_dir).is_file():
        return False
    try:
        stamp = json.loads((published_dir / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(stamp, dict)
        and stamp.get("basis") == basis
        and stamp.get("warehouse") == _warehouse_state(db_path)
    )
