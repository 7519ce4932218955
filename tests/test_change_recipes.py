"""The changes docs/architecture.md promises are one-file changes, made for real: a new data
element is one entry in elements.yaml, and it reaches the template, validation and the marts."""

from __future__ import annotations

import random
from typing import Any

import duckdb
import pytest
from openpyxl import load_workbook

from core.periods import parse_period
from core.settings import Settings
from demo.samples import fill_workbook, sample_progress
from flows.ingest_submissions import ingest_submissions
from outputs.template import HEADER_ROW, VALUES_SHEET, write_template
from schemas.schema import load_schema
from warehouse.publish import published_database

NEW = '  - {code: "1.1.9", task: "1.1", name: "Số mô hình chuyển đổi số ở thôn", measure: "mô hình", type: count}\n'  # noqa: E501


def _published(settings: Settings, query: str, *params: object) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


@pytest.mark.usefixtures("prefect_api")
def test_a_new_element_is_one_entry_in_elements_yaml(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = settings.schemas_dir / "elements.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = text.index("\n", text.index('code: "1.1.3"')) + 1
    path.write_text(text[:anchor] + NEW + text[anchor:], encoding="utf-8")  # the one change
    monkeypatch.setenv("KHCN_SCHEMAS_DIR", str(settings.schemas_dir))
    monkeypatch.setenv("KHCN_DATA_DIR", str(settings.data_dir))
    schema = load_schema(settings)
    rng = random.Random(3)
    period = parse_period("2026Q2")
    unit = next(
        u
        for u in schema.registry.units
        if any(t.code == "1.1" for t in schema.tasks_due(u, period))
    )
    workbook = write_template(
        schema, unit, period, settings.data_dir / "inbox" / f"{unit.code}_2026Q2.xlsx"
    )
    sheet = load_workbook(workbook)[VALUES_SHEET]
    listed = [row[1] for row in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    assert "1.1.9" in listed
    fill_workbook(
        workbook, {"1.1.9": 4}, sample_progress(schema.tasks_due(unit, period), period, rng)
    )

    report = ingest_submissions()

    assert [f.verdict for f in report.files] in (["accepted"], ["warned"]), report.files[0].errors
    assert _published(
        settings,
        "select value from mart.data_values where element_code = ? and unit_code = ?",
        "1.1.9",
        unit.code,
    ) == [(4.0,)]
