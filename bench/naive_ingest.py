"""The script a commune's analyst would write with the same packages, for comparison.

Per file: `pandas.read_excel` (openpyxl) of the two tables under the template's heading, one
Great Expectations run over the values (codes present, values numbers ≥ 0), and `to_sql` of
both tables into a DuckDB file through SQLAlchemy. The Great Expectations context and suite are
built once, as anyone would; nothing else is shared between files.

    .venv/bin/python bench/naive_ingest.py FILE... --db naive.duckdb
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from sqlalchemy import create_engine

HEADER_ROW = 9  # the template's table header, under the motto, title, unit and period


def naive_ingest(files: Sequence[Path], db: Path) -> float:
    """Ingest `files` one by one into `db`; returns the seconds the files took (set-up apart)."""
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("naive")
        .add_dataframe_asset("values")
        .add_batch_definition_whole_dataframe("file")
    )
    suite = gx.ExpectationSuite(
        name="values",
        expectations=[
            gxe.ExpectColumnValuesToNotBeNull(column="Mã chỉ tiêu"),
            gxe.ExpectColumnValuesToBeBetween(column="Giá trị", min_value=0),
        ],
    )
    engine = create_engine(f"duckdb:///{db}")
    started = time.perf_counter()
    for path in files:
        values = pd.read_excel(path, sheet_name="Chỉ tiêu", header=HEADER_ROW - 1)
        progress = pd.read_excel(path, sheet_name="Tiến độ", header=HEADER_ROW - 1)
        values = values[values["Mã chỉ tiêu"].notna()].copy()
        progress = progress[progress["Mã nhiệm vụ"].notna()].copy()
        values["Giá trị"] = pd.to_numeric(values["Giá trị"], errors="coerce")
        result = batch.get_batch(batch_parameters={"dataframe": values}).validate(suite)
        if result.success:
            values.assign(file=path.name).astype(str).to_sql(
                "data_values", engine, if_exists="append", index=False
            )
            progress.assign(file=path.name).astype(str).to_sql(
                "progress", engine, if_exists="append", index=False
            )
    engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    print(f"{naive_ingest(args.files, args.db):.3f}")


if __name__ == "__main__":
    main()
