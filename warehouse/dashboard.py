"""The dashboard's tables, read from the published copy (its marts) only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from warehouse.db import sql
from warehouse.query import open_published

# Each is warehouse/sql/analyses/dashboard_<name>.sql.
QUERIES = ("completeness", "units", "indicators", "progress")


def dashboard_data(published: Path, commune: str | None = None) -> dict[str, pd.DataFrame]:
    """completeness, units, indicators and progress of the quarters started so far.

    On a province's copy, of the province, or of one `commune` (NSO code).

    Raises:
        FileNotFoundError: nothing has been published yet.
    """
    con = open_published(published, commune)
    try:
        return {name: con.execute(sql(f"analyses/dashboard_{name}")).df() for name in QUERIES}
    finally:
        con.close()
