"""The unit registry, the elements file and the responsibility matrix built from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from core.settings import Settings
from khcn.cli import app
from schemas.errors import SchemaError
from schemas.registry import read_registry, write_registry
from schemas.schema import load_schema

runner = CliRunner()
HEADER = ["Mã đơn vị", "Tên đơn vị", "Loại đơn vị", "Email"]


def _xlsx(rows: list[list[object]], path: Path, title_rows: int = 2) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for _ in range(title_rows):
        sheet.append(["DANH SÁCH ĐƠN VỊ BÁO CÁO"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_registry_from_xlsx_under_a_title(tmp_path: Path) -> None:
    path = _xlsx(
        [
            ["Ma don vi", "Ten don vi", "LOẠI ĐƠN VỊ"],
            ["UBND", "UBND xã Nghĩa Hưng", "UBND"],
            ["TH-01", "Trường Tiểu học Nghĩa Hưng", "truong hoc"],
            [None, None, None],
            ["THON-01", "Thôn Đông", "Thôn"],
        ],
        tmp_path / "don-vi.xlsx",
    )
    registry = read_registry(path)
    assert [(u.code, u.type) for u in registry.units] == [
        ("UBND", "UBND"),
        ("TH-01", "Trường học"),
        ("THON-01", "Thôn"),
    ]
    assert registry.sample is False


def test_registry_errors_name_every_row(tmp_path: Path) -> None:
    path = _xlsx(
        [
            HEADER,
            ["UBND", "UBND xã", "UBND", ""],
            ["P-KT", "Phòng Kinh tế", "Phòng", ""],
            ["P-KT", "Phòng Kinh tế 2", "Phòng", ""],
            ["X-1", "", "Phòng", ""],
            ["X-2", "Hội Nông dân", "Đoàn thể", ""],
        ],
        tmp_path / "sai.xlsx",
    )
    with pytest.raises(SchemaError) as caught:
        read_registry(path)
    found = {(p.row, p.message.split(" ")[0]) for p in caught.value.problems}
    assert found == {(6, "Mã"), (7, "thiếu"), (8, "Loại")}
    assert "trùng với dòng 5" in str(caught.value)
    assert all(p.file == str(path) for p in caught.value.problems)


def test_registry_csv_semicolon_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "don-vi.csv"
    path.write_text(
        "Mã đơn vị;Tên đơn vị;Loại đơn vị;Đang hoạt động\n"
        "UBND;UBND xã;UBND;Có\nTHON-09;Thôn Cũ;Thôn;Không\n",
        encoding="utf-8-sig",
    )
    registry = read_registry(path)
    assert [(u.code, u.active) for u in registry.units] == [("UBND", True), ("THON-09", False)]


def test_renamed_department_still_leads_its_task(settings: Settings, tmp_path: Path) -> None:
    path = _xlsx(
        [
            HEADER,
            ["UBND", "Ủy ban nhân dân xã Nghĩa Hưng", "UBND", ""],
            ["VHXH", "Phòng Văn hóa - Xã hội", "Phòng", ""],
            ["TT", "Trung tâm Dịch vụ sự nghiệp công xã Nghĩa Hưng", "Trung tâm", ""],
        ],
        tmp_path / "don-vi.xlsx",
    )
    write_registry(read_registry(path), settings.schemas_dir / "units.yaml")
    schema = load_schema(settings)
    unit = schema.registry.unit("VHXH")
    task = schema.catalog.task("1.4")
    assert unit is not None and task is not None
    assert schema.role(task, unit, 2026) == "lead"
    assert schema.role(schema.catalog.task("1.3"), schema.registry.unit("TT"), 2026) == "lead"
    assert schema.unmatched_parties() == ["doanh-nghiep", "phong-kinh-te", "thon", "truong-hoc"]


def test_matrix_follows_roles_and_timeframes(settings: Settings) -> None:
    schema = load_schema(settings)
    cells = {(a.task, a.unit, a.year): a.role for a in schema.matrix()}
    assert len(cells) == 15 * len(schema.registry.units) * 5
    assert cells[("1.1", "UBND", 2026)] == "lead"
    assert cells[("1.1", "P-VHXH", 2030)] == "coordinate"
    assert cells[("3.1", "UBND", 2028)] == "lead"
    assert cells[("3.1", "UBND", 2029)] is None
    assert cells[("5.3", "TH-NH-A", 2027)] == "coordinate"
    assert cells[("1.1", "TH-NH-A", 2027)] is None
    assert cells[("2.1", "THON-01", 2026)] == "coordinate"
    assert cells[("4.2", "DN-HTX", 2026)] == "coordinate"
    assert cells[("1.3", "TT-DVC", 2026)] == "lead"
    assert schema.unmatched_parties() == []


def test_sample_registry_is_marked_as_sample(settings: Settings) -> None:
    text = (settings.schemas_dir / "units.yaml").read_text(encoding="utf-8")
    assert text.startswith("# DỮ LIỆU MẪU")
    assert load_schema(settings).registry.sample is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["elements"].append(dict(d["elements"][0])), "mã chỉ tiêu 1.1.1 bị trùng"),
        (lambda d: d["elements"][0].update(task="9.9"), "nhiệm vụ 9.9 không có"),
        (lambda d: d["elements"][0].update(type="percent"), "«percent» không hợp lệ"),
        (lambda d: d["rules"][0].update(left="5.3.9"), "chỉ tiêu 5.3.9 không có"),
        (lambda d: d["indicators"][0].update(numerator="3.1.9"), "chỉ tiêu 3.1.9 không có"),
        (lambda d: d.update(money_limit=-1), "số dương"),
    ],
)
def test_elements_file_is_checked_when_loaded(
    settings: Settings, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = settings.schemas_dir / "elements.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    with pytest.raises(SchemaError) as caught:
        load_schema(settings)

    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_shipped_elements_cover_the_plan(settings: Settings) -> None:
    schema = load_schema(settings)
    assert len(schema.elements.elements) == 32
    assert {e.task for e in schema.elements.elements} == {t.code for t in schema.catalog.tasks}
    assert [r.code for r in schema.elements.rules] == ["QT-5.3", "QT-5.2", "QT-3.1"]
    assert schema.elements.money_limit == 1_000_000


def test_cli_units_import_errors_exit_nonzero_and_keep_the_old_file(
    schemas_dir: Path, tmp_path: Path
) -> None:
    before = (schemas_dir / "units.yaml").read_bytes()
    bad = tmp_path / "sai.csv"
    bad.write_text("Mã đơn vị,Tên đơn vị,Loại đơn vị\nA,,Phòng\n", encoding="utf-8")

    result = runner.invoke(app, ["--schemas-dir", str(schemas_dir), "units", "import", str(bad)])

    assert result.exit_code == 1
    assert f"{bad}, dòng 2: thiếu Tên đơn vị" in result.stderr
    assert (schemas_dir / "units.yaml").read_bytes() == before


def test_cli_matrix_json(schemas_dir: Path) -> None:
    result = runner.invoke(
        app, ["--schemas-dir", str(schemas_dir), "catalog", "matrix", "--year", "2029", "--json"]
    )
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)
    assert {c["year"] for c in cells} == {2029}
    assert {"task": "3.1", "unit": "UBND", "year": 2029, "role": None} in cells
    assert {"task": "1.4", "unit": "P-VHXH", "year": 2029, "role": "lead"} in cells
    text = runner.invoke(app, ["--schemas-dir", str(schemas_dir), "catalog", "matrix"])
    assert text.exit_code == 0 and "P-VHXH" in text.stdout
