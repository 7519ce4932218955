"""The plan's appendix becomes the task catalog, whatever it was exported as."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import docx
import openpyxl
import pytest
from typer.testing import CliRunner

from core.settings import SCHEMAS_DIR
from khcn.cli import app
from schemas.appendix import parse_appendix, read_rows
from schemas.catalog import load_catalog
from schemas.errors import SchemaError
from schemas.model import Catalog
from schemas.parties import load_parties

PLAN = range(2026, 2031)
runner = CliRunner()


def _import(path: Path) -> Catalog:
    parties = load_parties(SCHEMAS_DIR / "parties.yaml")
    return parse_appendix(read_rows(path), str(path), parties, PLAN)


def _lines(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def _write_docx(lines: list[list[str]], target: Path) -> Path:
    document = docx.Document()
    table_lines = [cells for cells in lines if len(cells) > 1]
    for cells in lines[: lines.index(table_lines[0])]:
        document.add_paragraph(cells[0])
    table = document.add_table(rows=0, cols=6)
    for cells in table_lines:
        row = table.add_row().cells
        for index, text in enumerate(cells[:6]):
            row[index].text = text
    document.save(str(target))
    return target


def _write_xlsx(lines: list[list[str]], target: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for cells in lines:
        sheet.append(cells)
    book.save(target)
    return target


def test_reference_appendix_gives_the_plan(reference_appendix: Path) -> None:
    catalog = _import(reference_appendix)

    assert [g.code for g in catalog.groups] == ["1", "2", "3", "4", "5", "6", "7"]
    assert len(catalog.tasks) == 15
    assert [t.code for t in catalog.tasks][:5] == ["1.1", "1.2", "1.3", "1.4", "2.1"]
    assert "tinh thần sẵn sàng tiên phong" in catalog.task("1.4").content
    assert catalog.task("3.1").content.endswith("theo yêu cầu của thực tiễn phát triển")
    tf = {t.code: t.timeframe for t in catalog.tasks}
    assert (tf["3.1"].kind, tf["3.1"].start_year, tf["3.1"].end_year) == ("period", 2026, 2028)
    assert tf["6.1"].kind == "annual"
    assert (tf["1.1"].kind, tf["1.1"].start_year, tf["1.1"].end_year) == ("continuous", 2026, 2030)
    assert catalog.task("1.4").lead.parties == ("phong-vhxh",)
    assert catalog.task("2.1").coordinators.parties == (
        "phong-vhxh",
        "co-quan-don-vi",
        "truong-hoc",
        "thon",
    )
    assert all(t.lead.parties for t in catalog.tasks)
    assert catalog.group("6").title.startswith("Tăng cường liên kết giữa khu vực nhà nước")


def test_shipped_catalog_is_the_reference_import(reference_appendix: Path) -> None:
    shipped = load_catalog(
        SCHEMAS_DIR / "catalog.yaml", load_parties(SCHEMAS_DIR / "parties.yaml"), PLAN
    )
    assert shipped == _import(reference_appendix)


def test_docx_and_xlsx_exports_give_the_identical_catalog(
    reference_appendix: Path, tmp_path: Path
) -> None:
    lines = _lines(reference_appendix)
    expected = _import(reference_appendix).model_dump(exclude={"source"})

    from_docx = _import(_write_docx(lines, tmp_path / "phu-luc.docx"))
    from_xlsx = _import(_write_xlsx(lines, tmp_path / "phu-luc.xlsx"))

    assert from_docx.model_dump(exclude={"source"}) == expected
    assert from_xlsx.model_dump(exclude={"source"}) == expected


def test_merged_group_row_in_word_is_read_once(reference_appendix: Path, tmp_path: Path) -> None:
    path = _write_docx(_lines(reference_appendix), tmp_path / "merged.docx")
    document = docx.Document(str(path))
    table = document.tables[0]
    group_row = next(r for r in table.rows if r.cells[0].text == "2")
    group_row.cells[1].merge(group_row.cells[5])
    document.save(str(path))

    catalog = _import(path)

    assert catalog.group("2").title == _import(reference_appendix).group("2").title


def test_spelling_variants_change_nothing(reference_appendix: Path, tmp_path: Path) -> None:
    text = reference_appendix.read_text(encoding="utf-8")
    variant = unicodedata.normalize("NFD", text.replace("hoá", "hóa").replace("\u2013", "-"))
    assert variant != text
    path = tmp_path / "variant.txt"
    path.write_text(variant, encoding="utf-8")

    assert _import(path).model_dump(exclude={"source"}) == _import(reference_appendix).model_dump(
        exclude={"source"}
    )


def test_unknown_timeframe_fails_naming_the_row(reference_appendix: Path, tmp_path: Path) -> None:
    text = reference_appendix.read_text(encoding="utf-8")
    path = tmp_path / "bad.txt"
    path.write_text(text.replace("Hàng năm", "Khi có điều kiện"), encoding="utf-8")

    with pytest.raises(SchemaError) as caught:
        _import(path)

    [problem] = caught.value.problems
    row = next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("6.1\t"))
    assert problem.row == str(row)
    assert "6.1" in problem.message and "Khi có điều kiện" in problem.message


def test_unresolved_party_is_reported_not_dropped(reference_appendix: Path, tmp_path: Path) -> None:
    text = reference_appendix.read_text(encoding="utf-8")
    path = tmp_path / "bad.txt"
    path.write_text(text.replace("Phòng Kinh tế;", "Hội Nông dân xã;"), encoding="utf-8")

    with pytest.raises(SchemaError) as caught:
        _import(path)

    assert any("3.1" in p.message and "hoi nong dan xa" in p.message for p in caught.value.problems)


def test_task_outside_its_group_and_bad_stt_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(
        "Stt\tNội dung nhiệm vụ\tĐơn vị chủ trì\tĐơn vị phối hợp\tKết quả/sản phẩm\t"
        "Thời gian thực hiện\n"
        "1\tNhóm một\t\t\t\t\n"
        "2.1\tViệc\tUBND xã\t\tBáo cáo\tThường xuyên\n"
        "a)\tViệc khác\tUBND xã\t\tBáo cáo\tThường xuyên\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as caught:
        _import(path)
    rows = {p.row: p.message for p in caught.value.problems}
    assert "không nằm dưới nhóm 2" in rows["3"]
    assert "STT «a)»" in rows["4"]


def test_cli_import_failure_writes_nothing(
    reference_appendix: Path, schemas_dir: Path, tmp_path: Path
) -> None:
    target = schemas_dir / "catalog.yaml"
    before = target.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text(reference_appendix.read_text(encoding="utf-8").replace("Thường xuyên", "Sớm"))

    result = runner.invoke(app, ["--schemas-dir", str(schemas_dir), "catalog", "import", str(bad)])

    assert result.exit_code == 1
    assert "bad.txt, dòng" in result.stderr and "«Sớm»" in result.stderr
    assert target.read_bytes() == before
    assert not list(schemas_dir.glob(".catalog.yaml.*"))


def test_cli_import_then_show_json(reference_appendix: Path, schemas_dir: Path) -> None:
    (schemas_dir / "catalog.yaml").unlink()
    result = runner.invoke(
        app, ["--schemas-dir", str(schemas_dir), "catalog", "import", str(reference_appendix)]
    )
    assert result.exit_code == 0, result.output

    shown = runner.invoke(app, ["--schemas-dir", str(schemas_dir), "catalog", "show", "--json"])

    assert shown.exit_code == 0, shown.output
    import json

    tasks = json.loads(shown.stdout)
    assert len(tasks) == 15
    first = tasks[0]
    assert set(first) == {
        "code",
        "group_code",
        "group_title",
        "content",
        "lead",
        "coordinators",
        "results",
        "timeframe",
        "elements",
    }
    assert first["timeframe"] == {
        "text": "Thường xuyên",
        "kind": "continuous",
        "start_year": 2026,
        "end_year": 2030,
    }
    assert [e["code"] for e in first["elements"]] == ["1.1.1", "1.1.2", "1.1.3"]
    assert sum(len(t["elements"]) for t in tasks) == 32
