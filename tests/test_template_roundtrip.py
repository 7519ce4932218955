"""Templates handed to every unit, filled in, sent back in four formats, read back exactly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from khcn.settings import Settings
from schemas.periods import parse_period
from schemas.schema import Schema, load_schema
from sources.read import read_path
from sources.samples import fill_workbook, sample_progress, sample_values
from sources.template import (
    META_SHEET,
    PROGRESS_SHEET,
    STATUSES,
    TEMPLATE_VERSION,
    VALUES_SHEET,
    write_template,
)
from tests import filemakers

PERIOD = parse_period("2026Q3")
FORMATS = (".xlsx", ".ods", ".xls", ".csv")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict, dict]]:
    """Every sample unit's 2026Q3 template, filled in, with what was typed."""
    folder = tmp_path_factory.mktemp("filled")
    schema = _schema(folder)
    rng = random.Random(7)
    made = []
    for unit in schema.registry.units:
        tasks = schema.tasks_due(unit, PERIOD)
        path = write_template(schema, unit, PERIOD, folder)
        values: dict[str, object] = dict(sample_values(schema, unit, tasks, rng))
        if values:  # a zero and a decimal in every workbook that has room for them
            values[next(iter(values))] = 0
            values[list(values)[-1]] = 1234.5
        progress = sample_progress(tasks, PERIOD, rng)
        fill_workbook(path, values, progress)
        made.append((path, values, progress))
    return made


def _schema(folder: Path) -> Schema:
    from khcn.settings import SCHEMAS_DIR

    return load_schema(Settings(schemas_dir=SCHEMAS_DIR, data_dir=folder))


def _copy(path: Path, suffix: str) -> Path:
    """The same content saved in another format, as a unit's office suite would."""
    if suffix == ".xlsx":
        return path
    book = CalamineWorkbook.from_path(str(path))
    sheets = {
        name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for name in book.sheet_names
    }
    target = path.with_name(f"{path.stem}-copy{suffix}")
    if suffix != ".csv":
        return filemakers.write(target, sheets)
    unit, period = path.stem.split("_")
    header = ["Mã đơn vị", "Kỳ báo cáo", *sheets[VALUES_SHEET][8], *sheets[PROGRESS_SHEET][8][2:]]
    rows: list[list[object]] = [header]
    for row in sheets[VALUES_SHEET][9:]:
        rows.append([unit, period, *row, *[""] * 5])
    for row in sheets[PROGRESS_SHEET][9:]:
        rows.append([unit, period, row[0], "", "", "", "", "", *row[2:]])
    return filemakers.write_csv(target, rows, encoding="utf-8-sig", delimiter=";")


def test_template_holds_the_units_tasks(filled: list[tuple[Path, dict, dict]]) -> None:
    by_unit = {path.stem.split("_")[0]: path for path, _, _ in filled}
    assert len(by_unit) == 17
    book = load_workbook(by_unit["TH-NH-A"])
    assert book.sheetnames[0] == "Hướng dẫn"
    values = book[VALUES_SHEET]
    codes = [values.cell(r, 2).value for r in range(10, values.max_row + 1)]
    assert codes == ["2.1.1", "2.1.2", "5.3.1", "5.3.2", "5.3.3", "5.3.4"]
    assert values.cell(10, 2).number_format == "@" and values.cell(10, 2).protection.locked
    assert not values.cell(10, 5).protection.locked and values.protection.sheet
    progress = book[PROGRESS_SHEET]
    [dropdown] = progress.data_validations.dataValidation
    assert dropdown.formula1 == '"' + ",".join(STATUSES) + '"'
    assert str(dropdown.sqref) == "C10:C11"
    meta = book[META_SHEET]
    assert meta.sheet_state == "veryHidden"
    assert {r[0]: r[1] for r in meta.iter_rows(values_only=True)} == {
        "template_version": TEMPLATE_VERSION,
        "unit_code": "TH-NH-A",
        "period": "2026Q3",
    }


def test_annual_task_only_in_the_period_that_closes_the_year(settings: Settings) -> None:
    schema = load_schema(settings)
    ubnd = schema.registry.unit("UBND")
    assert ubnd is not None
    q3 = [t.code for t in schema.tasks_due(ubnd, parse_period("2026Q3"))]
    q4 = [t.code for t in schema.tasks_due(ubnd, parse_period("2026Q4"))]
    assert "6.1" not in q3 and "6.1" in q4
    later = [t.code for t in schema.tasks_due(ubnd, parse_period("2029Q1"))]
    assert "3.1" in q3 and "3.1" not in later


@pytest.mark.parametrize("suffix", FORMATS)
def test_filled_templates_read_back_exactly(
    filled: list[tuple[Path, dict, dict]], suffix: str
) -> None:
    for path, values, progress in filled:
        sub = read_path(_copy(path, suffix))

        assert [i.message for i in sub.issues] == []
        assert (sub.unit_code, sub.period) == tuple(path.stem.split("_"))
        read = {row.element_code: row.value for row in sub.values}
        assert {code: v for code, v in read.items() if v is not None} == values
        assert all(read[code] is None for code in set(read) - set(values))
        assert {p.task_code: p.status for p in sub.progress} == {
            code: fields["Tình trạng"] for code, fields in progress.items()
        }
        assert {p.task_code: p.evidence for p in sub.progress} == {
            code: fields["Minh chứng"] for code, fields in progress.items()
        }
        if suffix != ".csv":
            assert sub.template_version == TEMPLATE_VERSION
            first = sub.values[0].ref
            assert (first.sheet, first.row, first.column) == (VALUES_SHEET, 10, "E")
