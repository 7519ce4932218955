"""Connections, transactions and the SQL files every warehouse module runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent / "sql"

# Views are created in this order, each layer reading only the layers before it.
STAGING_VIEWS: tuple[str, ...] = (
    "stg_received_files",
    "stg_submissions",
    "stg_data_values",
    "stg_progress",
    "stg_findings",
    "stg_mail_attachments",
)
CORE_VIEWS: tuple[str, ...] = (
    "submissions",
    "data_values",
    "progress",
    "unit_year_values",
    "task_units",
    "mail_provenance",
)
MARTS: tuple[str, ...] = (
    "submissions",
    "submission_errors",
    "data_values",
    "expected_reports",
    "completeness",
    "task_progress",
    "indicators",
    "plan_summary",
)
# Core views that more than one mart reads: a publication makes each a table before the marts,
# so they read its rows instead of each working it out again (`indicators` and `plan_summary`
# at 100,000 files: 0.66–0.81 → 0.40 s, the table's making included).
SHARED_VIEWS: tuple[str, ...] = ("unit_year_values",)
VIEW_LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("staging", "staging", STAGING_VIEWS),
    ("core", "core", CORE_VIEWS),
    ("mart", "marts", MARTS),
)


def view_sql(schema: str, name: str) -> str:
    """The SQL of the view `schema.name`, from its layer's folder (VIEW_LAYERS)."""
    for layer, folder, names in VIEW_LAYERS:
        if layer == schema and name in names:
            return sql(f"{folder}/{name}")
    raise KeyError(f"{schema}.{name} is not one of the project's views")


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def identifier(name: str) -> str:
    """The name, quoted, if it is a plain lowercase identifier; SQL is never built from others.

    Raises:
        ValueError: the name is not a plain identifier.
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def string_literal(text: str) -> str:
    """A SQL string literal, for the statements (ATTACH, COPY TO) that take no parameters."""
    return "'" + text.replace("'", "''") + "'"


@cache
def sql(name: str) -> str:
    """The text of `warehouse/sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


WRITER_MEMORY = "256MB"
# The marts made into tables of a published copy. A province's (25,000 units, 100,000
# submissions) were made within 256 MB in all measured runs but one and never within 192 MB:
# 320 MB leaves room. A warehouse whose marts need more is published with
# PUBLISH_MEMORY_AT_MOST rather than not at all. The reading workers have stopped by then.
PUBLISH_MEMORY = "320MB"
PUBLISH_MEMORY_AT_MOST = "1GB"


def connect(db_path: Path, memory: str = WRITER_MEMORY) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the warehouse; DuckDB allows one writing process per file.

    DuckDB's buffers are capped (`memory`; beyond it, it spills to disk where it can): by
    default it would take 80 % of the machine to copy and publish a province's warehouse,
    where the writing process's whole tree is meant to stay within 1 GB.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute(f"set memory_limit = '{memory}'")
    return con


def connect_read_only(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, for published copies.

    Raises:
        FileNotFoundError: there is no database at `db_path`.
    """
    if not db_path.is_file():
        raise FileNotFoundError(f"không có kho dữ liệu tại {db_path}")
    return duckdb.connect(str(db_path), read_only=True)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything inside commits together or not at all."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()
