"""Targets by year: the schema file and its checks, the analyst's workbook, the marts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner
from warehouse_support import full_values, make_file

from core.settings import Settings
from khcn.cli import app
from schemas.errors import SchemaError
from schemas.schema import Schema, load_schema
from schemas.targets import load_targets, read_targets_workbook, write_template
from warehouse.load import load, sync_schema
from warehouse.migrate import init

runner = CliRunner()


def _edit(schemas_dir: Path, change: dict[str, object]) -> Path:
    path = schemas_dir / "targets.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(change)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_targets_and_resolution_57_default(schema: Schema) -> None:
    targets = schema.targets
    # Resolution 57: at least 3 % of the budget, every plan year, unless the file says otherwise.
    assert [targets.indicator("CS-NS-KHCN", y) for y in schema.plan_years] == [3.0] * 5
    assert targets.element("1.1.1", 2026) is not None
    assert all(targets.element("1.1.1", y) for y in schema.plan_years)
    # The unit count is the target of a count_units indicator; no number is set for it.
    assert targets.indicator("CS-STEM-TH", 2026) is None


def test_a_year_in_the_file_overrides_the_default(schemas_dir: Path, settings: Settings) -> None:
    _edit(schemas_dir, {"indicators": {"CS-NS-KHCN": {2027: 4.5}}})
    targets = load_schema(settings).targets
    assert targets.indicator("CS-NS-KHCN", 2027) == 4.5
    assert targets.indicator("CS-NS-KHCN", 2026) == 3.0


def test_every_problem_named_with_file_and_entry(schemas_dir: Path, settings: Settings) -> None:
    path = _edit(
        schemas_dir,
        {
            "elements": {"9.9.9": {2026: 1}, "1.1.1": {2031: 2, 2026: -1, 2027: "nhiều"}},
            "indicators": {"CS-STEM-TH": {2026: 4}, "KHONG-CO": {2026: 1}},
        },
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(settings)
    messages = [str(p) for p in caught.value.problems]
    assert all(m.startswith(f"{path}, dòng ") for m in messages), messages
    text = "\n".join(messages)
    assert "elements.9.9.9: mã chỉ tiêu 9.9.9 không có trong elements.yaml" in text
    assert "năm 2031 nằm ngoài kế hoạch 2026-2030" in text
    assert "năm 2026: mục tiêu «-1» phải là một số không âm" in text
    assert "năm 2027: mục tiêu «nhiều» phải là một số" in text
    assert "chỉ số CS-STEM-TH lấy mục tiêu là mọi đơn vị" in text
    assert "indicators.KHONG-CO" in text
    assert len(messages) == 6


def test_without_a_targets_file_only_the_defaults_hold(schemas_dir: Path, schema: Schema) -> None:
    (schemas_dir / "targets.yaml").unlink()
    targets = load_targets(schemas_dir / "targets.yaml", schema.elements, schema.plan_years)
    assert targets.elements == {}
    assert targets.indicator("CS-NS-KHCN", 2030) == 3.0


def test_template_then_import_round_trip(schemas_dir: Path, schema: Schema, tmp_path: Path) -> None:
    book_path = tmp_path / "muc-tieu.xlsx"
    env = {"KHCN_SCHEMAS_DIR": str(schemas_dir), "KHCN_DATA_DIR": str(tmp_path / "data")}
    made = runner.invoke(app, ["targets", "template", "--out", str(book_path)], env=env)
    assert made.exit_code == 0, made.output
    book = load_workbook(book_path)
    sheet = book["Mục tiêu"]
    header = [c.value for c in sheet[4]]
    assert header == ["Loại", "Mã", "Tên", "Đơn vị tính", "2026", "2027", "2028", "2029", "2030"]
    rows = {(r[0].value, r[1].value): r for r in sheet.iter_rows(min_row=5)}
    assert rows[("Chỉ số", "CS-NS-KHCN")][4].value == 3
    assert ("Chỉ số", "CS-STEM-TH") not in rows
    rows[("Chỉ tiêu", "5.2.2")][6].value = 77  # 2028
    rows[("Chỉ số", "CS-DT-KNS")][8].value = 95.5  # 2030
    book.save(book_path)

    done = runner.invoke(app, ["targets", "import", str(book_path)], env=env)
    assert done.exit_code == 0, done.output
    written = yaml.safe_load((schemas_dir / "targets.yaml").read_text(encoding="utf-8"))
    assert written["sample"] is False
    fresh = load_schema(Settings(schemas_dir=schemas_dir, data_dir=tmp_path / "data"))
    assert fresh.targets.element("5.2.2", 2028) == 77
    assert fresh.targets.indicator("CS-DT-KNS", 2030) == 95.5
    assert fresh.targets.element("1.1.1", 2026) == schema.targets.element("1.1.1", 2026)


def test_import_names_sheet_row_and_column(schema: Schema, tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.xlsx", schema.elements, schema.targets, schema.plan_years)
    book = load_workbook(path)
    sheet = book["Mục tiêu"]
    sheet["F5"] = "nhiều"  # 2027 of the first element
    sheet["B6"] = "9.9.9"
    sheet["A7"] = "Khác"
    sheet["J4"] = "2031"
    book.save(path)
    with pytest.raises(SchemaError) as caught:
        read_targets_workbook(path, schema.elements, schema.plan_years)
    text = str(caught.value)
    assert "sheet Mục tiêu, hàng 5, cột F: năm 2027: mục tiêu «nhiều» phải là một số" in text
    assert "sheet Mục tiêu, hàng 6, cột B: mã chỉ tiêu «9.9.9» không có" in text
    assert "sheet Mục tiêu, hàng 7, cột A: Loại «Khác»: ghi Chỉ tiêu hoặc Chỉ số" in text
    assert "sheet Mục tiêu, hàng 4, cột J: cột «2031» không phải năm của kế hoạch" in text


def test_cli_import_failure_is_vietnamese_and_non_zero(schemas_dir: Path, tmp_path: Path) -> None:
    env = {"KHCN_SCHEMAS_DIR": str(schemas_dir), "KHCN_DATA_DIR": str(tmp_path / "data")}
    bogus = tmp_path / "khong-phai.xlsx"
    bogus.write_bytes(b"not a workbook")
    before = (schemas_dir / "targets.yaml").read_bytes()
    result = runner.invoke(app, ["targets", "import", str(bogus)], env=env)
    assert result.exit_code == 1
    assert "không đọc được bảng tính" in result.output
    assert (schemas_dir / "targets.yaml").read_bytes() == before


def test_marts_carry_target_actual_percent_and_met(settings: Settings, schema: Schema) -> None:
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = [
        make_file(settings, unit, "2026Q3", full_values(schema, unit, "2026Q3", 2.0))
        for unit in ("UBND", "MN-NH", "THON-03")
    ]
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        rows = con.execute(
            "select element_code, year, target, actual, percent_of_target, met "
            "from mart.plan_summary where year = 2026 and target is not null"
        ).fetchall()
        later = con.execute(
            "select count(*), count(target), count(met) from mart.plan_summary where year = 2030"
        ).fetchone()
        indicator = con.execute(
            "select target, actual, percent_of_target, met from mart.indicators "
            "where indicator_code = 'CS-NS-KHCN' and year = 2026"
        ).fetchone()
    finally:
        con.close()
    assert len(rows) == len(schema.targets.elements) // 5
    reported = [r for r in rows if r[3] is not None]
    assert reported, "some targeted element was reported"
    for code, _year, target, actual, percent, met in reported:
        assert target == schema.targets.element(code, 2026)
        assert percent == pytest.approx(round(100 * actual / target, 1))
        assert met == (actual >= target)
    assert later is not None and later[1] > 0 and later[2] == 0  # nothing reported for 2030
    assert indicator is not None
    target, actual, percent, met = indicator
    assert target == 3.0 and actual is not None
    assert percent == pytest.approx(round(100 * actual / 3.0, 1))
    assert met == (actual >= 3.0)


def test_cli_show_lists_every_year(schemas_dir: Path, tmp_path: Path) -> None:
    env = {"KHCN_SCHEMAS_DIR": str(schemas_dir), "KHCN_DATA_DIR": str(tmp_path / "data")}
    result = runner.invoke(app, ["targets", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = {row["code"]: row for row in json.loads(result.stdout)}
    assert shown["CS-NS-KHCN"]["targets"] == {str(y): 3.0 for y in range(2026, 2031)}
    assert shown["CS-STEM-TH"]["targets"]["2026"] is None
    assert shown["1.1.1"]["kind"] == "Chỉ tiêu"
    table = runner.invoke(app, ["targets", "show"], env=env)
    assert table.exit_code == 0
    assert "mục tiêu mẫu" in table.output  # the shipped file is a sample
