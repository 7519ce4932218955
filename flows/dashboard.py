"""The dashboard of a run: drawn from the copy as it is published (`publish(beside=)`, while
DuckDB writes the Parquet files), saved once the copy is in place, so pages follow
publications in order, under the writer's lock.

The page is derived: when it cannot be drawn the load still stands, the run log says why, and
`khcn dashboard` draws it again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import get_run_logger

from warehouse.publish import Publication

if TYPE_CHECKING:
    import duckdb


def drawing(name: str, level: str = "xã") -> Callable[[duckdb.DuckDBPyConnection], str | None]:
    """What draws the page of the commune (or province) `name` from the copy's connection."""
    return partial(_draw, name=name, level=level)


def _draw(con: duckdb.DuckDBPyConnection, *, name: str, level: str) -> str | None:
    try:
        # Imported when drawn: plotly and pandas cost a second of every start.
        from outputs.dashboard import render_dashboard
        from warehouse.dashboard import dashboard_frames

        return render_dashboard(dashboard_frames(con), name, level)
    except Exception as exc:  # any failure of a derived page must not undo a finished load
        get_run_logger().warning("Không ghi được bảng theo dõi: %s", exc)
        return None


def save_drawn(publication: Publication, published: Path) -> None:
    """Save the page drawn beside `publication`, if it could be drawn."""
    if isinstance(publication.beside, str):
        from outputs.dashboard import DASHBOARD, save_dashboard

        save_dashboard(published / DASHBOARD, publication.beside)
