"""Read-only SQL against the published copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from warehouse.publish import published_database


def open_published(source: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published copy (its folder or the file itself).

    The connection cannot write and cannot reach other files, so any SQL text is safe to run.

    Raises:
        FileNotFoundError: nothing has been published there yet.
    """
    path = published_database(source) if source.is_dir() else source
    if not path.is_file():
        raise FileNotFoundError(f"chưa có bản công bố của kho dữ liệu tại {path}")
    return duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})


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
