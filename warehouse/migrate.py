"""Numbered DDL migrations, applied in order and recorded in `meta.schema_version`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.db import SQL_DIR, VIEW_LAYERS, connect, identifier, sql, transaction

_MIGRATION_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The warehouse and the migration files disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def migrations() -> list[Migration]:
    """The migration files under `warehouse/sql/migrations`, by version.

    Raises:
        MigrationError: a file is misnamed or two files share a version.
    """
    found: dict[int, Migration] = {}
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named NNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migrations have version {version:03d}")
        found[version] = Migration(version, path.stem, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations, one transaction each, then recreate the views if they changed.

    Returns:
        The names of the migrations applied now (empty when the warehouse was up to date).

    Raises:
        MigrationError: an applied migration's file has changed since; migrations are
            immutable, a change is a new numbered file.
    """
    if not _has_meta(con):
        with transaction(con):
            con.execute(sql("meta"))
    applied = dict(con.execute("select version, checksum from meta.schema_version").fetchall())
    done: list[str] = []
    for migration in migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.name} changed after it was applied; "
                    "add a new numbered migration instead"
                )
            continue
        with transaction(con):
            con.execute(migration.text)
            con.execute(
                "insert into meta.schema_version (version, name, checksum) values (?, ?, ?)",
                [migration.version, migration.name, migration.checksum],
            )
        done.append(migration.name)
    stored = con.execute("select checksum from meta.view_checksum").fetchone()
    if done or stored is None or stored[0] != _views_checksum():
        create_views(con)
    return done


def _has_meta(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select count(*) from duckdb_tables() "
        "where database_name = current_database() and schema_name = 'meta' "
        "and table_name in ('schema_version', 'view_checksum')"
    ).fetchone()
    return found is not None and found[0] == 2


def _views_checksum() -> str:
    digest = hashlib.sha256()
    for schema, folder, names in VIEW_LAYERS:
        for name in names:
            digest.update(f"{schema}.{name}\n{sql(f'{folder}/{name}')}\n".encode())
    return digest.hexdigest()


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the staging, core and mart views from their SQL files, in one transaction.

    Views are code, not data: they are replaced whenever their files change, so editing a
    view needs no migration.
    """
    with transaction(con):
        for schema, folder, names in VIEW_LAYERS:
            for name in names:
                body = sql(f"{folder}/{name}")
                con.execute(
                    f"create or replace view {identifier(schema)}.{identifier(name)} as {body}"
                )
        con.execute("delete from meta.view_checksum")
        con.execute("insert into meta.view_checksum values (?)", [_views_checksum()])


def init(db_path: Path) -> list[str]:
    """Create or upgrade the warehouse at `db_path`; running it again changes nothing.

    Returns:
        The names of the migrations applied now.
    """
    con = connect(db_path)
    try:
        return apply(con)
    finally:
        con.close()
