"""The dashboard's tables, read from the published copy (its marts) only."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from warehouse.db import sql
from warehouse.query import open_published

# Each is warehouse/sql/analyses/dashboard_<name>.sql.
QUERIES = ("completeness", "units", "indicators", "progress")


def dashboard_data(published: Path, commune: str | None = None) -> dict[str, pd.DataFrame]:
    """completeness, units, indicators and progress of the quarters started so far.

    On a province's copy, of the province (its units named with their commune's code, as
    communes reuse unit codes), or of one `commune` (NSO code).

    Raises:
        FileNotFoundError: nothing has been published yet.
    """
    con = open_published(published, commune)
    try:
        return dashboard_frames(con)
    finally:
        con.close()


def dashboard_frames(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The same tables from a connection to a published copy (or one being published)."""
    scope = con.execute(sql("analyses/dashboard_scope")).fetchone()
    by_commune = bool(scope and scope[0])
    return {name: con.execute(sql(f"analyses/{_query(name, by_commune)}")).df() for name in QUERIES}


def _query(name: str, by_commune: bool) -> str:
    """The query's file: a province's units as a whole are its communes' units, told apart."""
    if name == "units" and by_commune:
        return "dashboard_units_province"
    return f"dashboard_{name}"
