"""Read-only SQL against the published copy, and SQL from people, bounded and inert."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from core.settings import Settings
from warehouse.db import string_literal
from warehouse.publish import published_database


def open_published(source: Path, commune: str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published copy (its folder or the file itself).

    The connection cannot write and cannot reach other files, so any SQL text is safe to run.

    Args:
        source: the published folder or file.
        commune: on a province's copy, read `mart.*` as this commune's marts (NSO code).

    Raises:
        FileNotFoundError: nothing has been published there yet.
        ValueError: `commune` has no figures in this copy, or it is no province's copy.
    """
    path = published_database(source) if source.is_dir() else source
    if not path.is_file():
        raise FileNotFoundError(f"chưa có bản công bố của kho dữ liệu tại {path}")
    if commune is None:
        return duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
    from warehouse.province import scope_commune

    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {string_literal(str(path))} as published (read_only)")
        scope_commune(con, commune)
        con.execute("set enable_external_access = false")
    except BaseException:
        con.close()
        raise
    return con


def query(
    published_dir: Path, sql_text: str, params: dict[str, Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement on the published copy.

    Args:
        published_dir: the published folder (or a published DuckDB file).
        sql_text: the statement; it can only read.
        params: values for `$name` placeholders.

    Returns:
        The column names and the rows.

    Raises:
        FileNotFoundError: nothing has been published yet.
        duckdb.Error: the statement failed (syntax, unknown table, attempted write...).
    """
    con = open_published(published_dir)
    try:
        cursor = con.execute(sql_text, params or {})
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall() if columns else []
    finally:
        con.close()


@dataclass(frozen=True)
class QueryLimits:
    """How long, how much memory, how many threads and rows one statement may use."""

    timeout_seconds: float
    memory_bytes: int
    threads: int
    max_rows: int

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        """The limits of `khcn query` and the query service."""
        return cls(
            timeout_seconds=settings.query_timeout_seconds,
            memory_bytes=settings.query_memory_bytes,
            threads=settings.query_threads,
            max_rows=settings.query_max_rows,
        )


@dataclass(frozen=True)
class QueryResult:
    """Rows of one bounded statement, at most `max_rows` of them."""

    table: pa.Table
    truncated: bool
    seconds: float

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        return list(zip(*(c.to_pylist() for c in self.table.columns), strict=True))

    def unique_columns(self) -> list[str]:
        """The column names, a name used twice getting `_2`, `_3`... after it."""
        names: list[str] = []
        for name in self.columns:
            unique, n = name, 1
            while unique in names:
                n += 1
                unique = f"{name}_{n}"
            names.append(unique)
        return names

    def records(self) -> list[dict[str, Any]]:
        """The rows as mappings from `unique_columns()` to values."""
        names = self.unique_columns()
        return [dict(zip(names, row, strict=True)) for row in self.rows]


class QueryError(Exception):
    """A statement that could not run; `str()` is one Vietnamese line saying what to do.

    Attributes:
        kind: `missing` (nothing to query), `timeout`, `memory`, `refused` (files, writes,
            settings), `invalid` (the SQL itself).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _detail(exc: BaseException) -> str:
    """DuckDB's first line without its `Xxx Error:` prefix, control characters made visible.

    The message echoes the statement, which may carry text a unit sent.
    """
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.sub(r"^[A-Za-z ]*Error:\s*", "", first)
    first = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", first)
    return first[:300].rstrip(" .!")


def _explain(exc: duckdb.Error, limits: QueryLimits) -> QueryError:
    """The Vietnamese answer to a failed statement."""
    detail = _detail(exc)
    if isinstance(exc, duckdb.InterruptException):
        return QueryError(
            "timeout",
            f"truy vấn chạy quá {limits.timeout_seconds:g} giây nên đã bị dừng; hãy thu hẹp "
            "truy vấn (thêm điều kiện where, bớt cột, dùng limit) rồi chạy lại.",
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        mib = limits.memory_bytes // (1024 * 1024)
        return QueryError(
            "memory",
            f"truy vấn cần quá {mib} MiB bộ nhớ nên đã bị dừng; hãy thu hẹp truy vấn "
            "(lọc bớt dòng, bớt cột, tránh nối bảng không điều kiện) rồi chạy lại.",
        )
    if isinstance(exc, duckdb.PermissionException):
        return QueryError(
            "refused",
            "truy vấn không được đọc hay ghi tệp, mở kho khác hay nạp tiện ích "
            "(read_csv, copy, attach, install...); chỉ truy vấn các bảng của bản công bố, "
            "ví dụ mart.completeness.",
        )
    if "read-only" in detail or "configuration has been locked" in detail:
        return QueryError(
            "refused",
            f"bản công bố chỉ cho đọc: không ghi, sửa, xoá hay đổi cấu hình được ({detail}); "
            "chỉ dùng câu lệnh select.",
        )
    if isinstance(exc, duckdb.ParserException):
        return QueryError("invalid", f"câu SQL sai cú pháp: {detail}; hãy sửa rồi chạy lại.")
    if isinstance(exc, duckdb.CatalogException):
        return QueryError(
            "invalid",
            f"không có bảng, cột hay hàm này: {detail}; các bảng công bố nằm trong schema "
            "mart (xem docs/warehouse.md).",
        )
    return QueryError("invalid", f"truy vấn không chạy được: {detail}; hãy sửa rồi chạy lại.")


def _database_file(source: Path) -> Path:
    path = published_database(source) if source.is_dir() else source
    if not path.is_file():
        raise QueryError("missing", f"chưa có bản công bố của kho dữ liệu tại {path}")
    return path


def _bounded_connection(
    database: Path, limits: QueryLimits, commune: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection to its own in-memory engine with `database` attached read-only, then closed
    to every file, extension and setting.

    The database is attached, not opened: DuckDB shares one engine between connections to the
    same path in a process, so a reader would keep the copy it first saw after a publish
    swapped the file, and connections with other limits would be refused. An engine of its
    own reads the file current when it attached. External access is turned off right after
    the attach, before any statement of the caller runs, and the configuration is locked so
    no statement can turn it back on.
    """
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": limits.threads,
            "memory_limit": f"{limits.memory_bytes}B",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        con.execute(f"attach {string_literal(str(database))} as published (read_only)")
        con.execute("use published")
        if commune is not None:
            from warehouse.province import scope_commune

            scope_commune(con, commune)
        # A bar drawn on the terminal of whoever started the service or the command.
        con.execute("set enable_progress_bar = false")
        con.execute("set enable_external_access = false")
        con.execute("set disabled_filesystems = 'LocalFileSystem'")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_bounded(
    source: Path,
    sql_text: str,
    limits: QueryLimits,
    params: dict[str, Any] | list[Any] | None = None,
    commune: str | None = None,
) -> QueryResult:
    """Run SQL on a published copy (its folder or a DuckDB file) within `limits`.

    The statement cannot write, read other files, load extensions or change settings; it is
    interrupted after `limits.timeout_seconds`, stopped when it needs more than
    `limits.memory_bytes`, and at most `limits.max_rows` rows are returned.

    Args:
        source: the published folder, or a DuckDB file to read the same way.
        sql_text: the statement (several separated by `;` return the last one's rows).
        limits: the bounds.
        params: values for `$name` (a mapping) or `?` (a list) placeholders.
        commune: on a province's copy, read `mart.*` as this commune's marts.

    Returns:
        The rows, and whether more were cut.

    Raises:
        QueryError: nothing to query, or the statement failed or was stopped.
    """
    database = _database_file(source)
    started = time.monotonic()
    try:
        con = _bounded_connection(database, limits, commune)
    except ValueError as exc:
        raise QueryError("invalid", str(exc)) from None
    except duckdb.Error as exc:
        raise QueryError("missing", f"không mở được kho {database}: {_detail(exc)}") from None
    # DuckDB has no statement timeout of its own; interrupting from a timer is its way. The
    # lock keeps a late timer from interrupting a connection being closed.
    guard = threading.Lock()
    finished = False

    def interrupt() -> None:
        with guard:
            if not finished:
                con.interrupt()

    timer = threading.Timer(limits.timeout_seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = con.sql(sql_text, params=params)
        if relation is None:
            table = pa.table({})
            truncated = False
        else:
            table, truncated = _first_rows(relation.to_arrow_reader(1024), limits.max_rows)
    except duckdb.Error as exc:
        raise _explain(exc, limits) from None
    finally:
        timer.cancel()
        with guard:
            finished = True
            con.close()
    return QueryResult(table, truncated, time.monotonic() - started)


def _first_rows(reader: pa.RecordBatchReader, max_rows: int) -> tuple[pa.Table, bool]:
    """At most `max_rows` rows from a stream, and whether there were more; reads no further."""
    batches = []
    count = 0
    for batch in reader:
        batches.append(batch)
        count += batch.num_rows
        if count > max_rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows), count > max_rows
