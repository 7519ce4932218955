"""Past and current figures: what the validator compares against, and any past state."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from warehouse.db import connect, sql
from warehouse.migrate import apply

VALUE_HISTORY_COLUMNS = ("unit_code", "element_code", "period", "value")


def value_history(db_path: Path, units: Iterable[str] | None = None) -> pd.DataFrame:
    """The current accepted values, for outlier checks against a unit's own history.

    Args:
        db_path: the warehouse file.
        units: only these units' values (those of the files being judged); default all.

    Returns:
        One row per value with columns `unit_code, element_code, period, value`; empty (with
        those columns) before the first load.
    """
    if not db_path.is_file():
        return pd.DataFrame({column: [] for column in VALUE_HISTORY_COLUMNS})
    con = connect(db_path)
    try:
        apply(con)
        wanted = None if units is None else sorted(set(units))
        return con.execute(sql("analyses/value_history"), {"units": wanted}).df()
    finally:
        con.close()


def values_as_of(db_path: Path, run_id: int) -> pd.DataFrame:
    """The current values as they stood right after load run `run_id`.

    Returns:
        Columns `unit_code, period, task_code, element_code, value, submission_id, version`.
    """
    con = connect(db_path)
    try:
        apply(con)
        return con.execute(sql("analyses/values_as_of"), {"run_id": run_id}).df()
    finally:
        con.close()
