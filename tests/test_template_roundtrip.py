"""Templates handed to every unit, filled in, sent back in four formats, read back exactly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from core.periods import parse_period
from core.settings import Settings
from demo.samples import fill_workbook, sample_progress, sample_values
from outputs.template import (
    META_SHEET,
    PROGRESS_SHEET,
    STATUSES,
    TEMPLATE_VERSION,
    VALUES_SHEET,
    write_template,
)
from schemas.schema import Schema, load_schema
from sources.read import read_path
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
    from core.settings import SCHEMAS_DIR

    return load_schema(Settings(schemas_dir=SCHEMAS_DIR, data_dir=folder))


def _table_rows(rows: list[list[object]]) -> list[list[object]]:
    body = rows[9:]
    blank = next((i for i, row in enumerate(body) if all(c in ("", None) for c in row)), None)
    return body[:blank]


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
    # One CSV holds both tables: each sheet's rows up to the blank row above its signature.
    for row in _table_rows(sheets[VALUES_SHEET]):
        rows.append([unit, period, *row, *[""] * 5])
    for row in _table_rows(sheets[PROGRESS_SHEET]):
        rows.append([unit, period, row[0], "", "", "", "", "", *row[2:]])
    return filemakers.write_csv(target, rows, encoding="utf-8-sig", delimiter=";")


def test_template_holds_the_units_tasks(filled: list[tuple[Path, dict, dict]]) -> None:
    by_unit = {path.stem.split("_")[0]: path for path, _, _ in filled}
    assert len(by_unit) == 17
    book = load_workbook(by_unit["TH-NH-A"])
    assert book.sheetnames[0] == "Hướng dẫn"
    values = book[VALUES_SHEET]
    codes = [values.cell(r, 2).value for r in range(10, values.max_row + 1)]
    # The table, a blank row, then the signature block.
    assert codes[: codes.index(None)] == ["2.1.1", "2.1.2", "5.3.1", "5.3.2", "5.3.3", "5.3.4"]
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


def test_template_guards_what_units_type_and_prints_on_a4(
    filled: list[tuple[Path, dict, dict]],
) -> None:
    by_unit = {path.stem.split("_")[0]: path for path, _, _ in filled}
    book = load_workbook(by_unit["TH-NH-A"])
    values = book[VALUES_SHEET]
    rules = {r.type: r for r in values.data_validations.dataValidation}
    # 2.1.1 and 2.1.2 count documents, 5.3.x count activities and pupils: whole numbers ≥ 0.
    assert set(rules) == {"whole"}
    whole = rules["whole"]
    assert (whole.operator, whole.formula1, whole.showErrorMessage) == (
        "greaterThanOrEqual",
        "0",
        True,
    )
    assert {str(c) for c in whole.sqref.ranges} == {f"E{r}" for r in range(10, 16)}
    assert "số nguyên không âm" in whole.error and "Ghi chú" in whole.error
    ubnd = load_workbook(by_unit["UBND"])[VALUES_SHEET]
    amounts = {r.type: r for r in ubnd.data_validations.dataValidation}["decimal"]
    money_rows = [
        r for r in range(10, 60) if ubnd.cell(r, 4).value == "triệu đồng"
    ]  # fmt: skip
    assert money_rows and {str(c) for c in amounts.sqref.ranges} == {f"E{r}" for r in money_rows}
    # Unit and period: shown, locked under the sheet's protection.
    for sheet in (values, book[PROGRESS_SHEET]):
        assert sheet.protection.sheet
        assert sheet["B5"].value == "TH-NH-A" and sheet["B5"].protection.locked
        assert sheet["B7"].value == "2026Q3" and sheet["B7"].protection.locked
        assert int(sheet.page_setup.paperSize) == 9  # A4
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet["A1"].value == "UBND XÃ NGHĨA HƯNG"
        assert "THỦ TRƯỞNG ĐƠN VỊ" in [c.value for row in sheet.iter_rows() for c in row]


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
