"""The period report: its scope, the workbook read back (layout, formats, charts), the PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from report_support import QUARTERS, publish_three_quarters
from typer.testing import CliRunner

from core.settings import Settings
from khcn.cli import app
from schemas.schema import Schema
from warehouse.publish import published_database
from warehouse.report import report_scope

runner = CliRunner()
TODAY = date(2026, 11, 30)
ENGLISH = re.compile(r"\b(rejected|accepted|superseded|true|false|none|nan|total)\b", re.I)


@pytest.fixture
def published(settings: Settings, schema: Schema) -> Path:
    return publish_three_quarters(settings, schema)


def _env(settings: Settings) -> dict[str, str]:
    return {"KHCN_SCHEMAS_DIR": str(settings.schemas_dir), "KHCN_DATA_DIR": str(settings.data_dir)}


def _report(settings: Settings, period: str, *extra: str) -> Path:
    result = runner.invoke(app, ["report", "--period", period, *extra], env=_env(settings))
    assert result.exit_code == 0, result.output
    return settings.reports / f"bao-cao_{period}.xlsx"


def _mart(published: Path, text: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(published_database(published)), read_only=True)
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


def _find(sheet: Worksheet, text: str) -> int:
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value == text:
                return cell.row
    raise AssertionError(f"{text!r} not in sheet {sheet.title}")


def _categories(sheet: Worksheet, series: Any) -> list[Any]:
    ref = series.cat.strRef or series.cat.numRef
    return _cells(sheet, ref.f)


def _cells(sheet: Worksheet, ref: str) -> list[Any]:
    """The values of a chart reference such as 'Báo cáo'!$B$12:$B$18."""
    name, cells = ref.rsplit("!", 1)
    assert name.strip("'") == sheet.title, ref
    found = sheet[cells.replace("$", "")]
    if not isinstance(found, tuple):
        return [found.value]
    return [c.value for row in found for c in row]


def test_scope_of_quarter_half_year_and_plan() -> None:
    years = range(2026, 2031)
    quarter = report_scope("2026Q3", years, TODAY)
    assert (quarter.periods, quarter.years, quarter.label) == (
        ("2026Q3",),
        (2026,),
        "quý III năm 2026",
    )
    assert report_scope("2026S1", years, TODAY).periods == ("2026Q1", "2026Q2")
    year = report_scope("2026", years, TODAY)
    assert year.periods == ("2026Q1", "2026Q2", "2026Q3", "2026Q4")
    assert year.label == "năm 2026"
    plan = report_scope("2026-2030", years, TODAY)
    assert plan.periods == year.periods  # the plan so far: quarters started by today
    assert plan.years == (2026,)
    later = report_scope("2026-2030", years, date(2028, 2, 1))
    assert later.periods[-1] == "2028Q1" and later.years == (2026, 2027, 2028)
    with pytest.raises(ValueError, match="báo cáo lập theo quý"):
        report_scope("202607", years, TODAY)
    for outside in ("2031Q1", "2025", "2026-2031", "2028-2027"):
        with pytest.raises(ValueError, match="nằm ngoài kế hoạch 2026-2030"):
            report_scope(outside, years, TODAY)


def test_period_outside_the_plan_is_one_vietnamese_line(
    published: Path, settings: Settings
) -> None:
    result = runner.invoke(app, ["report", "--period", "2031Q1"], env=_env(settings))
    assert result.exit_code == 1
    assert result.output.strip() == "Lỗi: kỳ «2031Q1» nằm ngoài kế hoạch 2026-2030"
    garbled = runner.invoke(app, ["report", "--period", "quý 3"], env=_env(settings))
    assert garbled.exit_code == 1
    assert len(garbled.output.strip().splitlines()) == 1
    assert not list(settings.reports.glob("*.xlsx"))


def test_quarter_workbook_layout_formats_and_charts(published: Path, settings: Settings) -> None:
    book = load_workbook(_report(settings, "2026Q3", "--no-pdf"))
    assert book.sheetnames == ["Báo cáo", "Mức đầy đủ", "Chưa nộp", "Số liệu", "Tiến độ"]
    main = book["Báo cáo"]
    assert main["A1"].value == "UBND XÃ NGHĨA HƯNG"
    assert main["D1"].value == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert main["D2"].value == "Độc lập - Tự do - Hạnh phúc"
    assert main["A5"].value == "BÁO CÁO"
    assert main["A7"].value == "Kỳ báo cáo: quý III năm 2026"
    assert _find(main, "TM. ỦY BAN NHÂN DÂN") > _find(main, "III. Tình hình thực hiện các nhiệm vụ")
    for sheet in book.worksheets:
        assert int(sheet.page_setup.paperSize) == 9  # A4
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert not ENGLISH.search(cell.value), (sheet.title, cell.coordinate)

    charts = main._charts
    assert len(charts) == 3
    completeness, indicators, tasks = charts

    # I. completeness by unit type and period: the pivot's rates, the total last.
    shares = dict(
        _mart(
            published,
            "select coalesce(unit_type, 'Tổng cộng'), accepted_rate / 100 "
            "from mart.completeness where period = '2026Q3'",
        )
    )
    (series,) = completeness.series
    assert _cells(main, series.tx.strRef.f) == ["2026Q3"]
    categories = _categories(main, series)
    values = _cells(main, series.val.numRef.f)
    assert categories[-1] == "Tổng cộng"
    assert dict(zip(categories, values, strict=True)) == pytest.approx(shares)
    total_row = _find(main, "Tổng cộng")
    assert main.cell(total_row, 2).number_format == "0.0%"
    assert main.cell(total_row, 1).font.b

    # II. indicators against targets: two series, the actual then the target.
    assert [_cells(main, s.tx.strRef.f) for s in indicators.series] == [["Thực hiện"], ["Mục tiêu"]]
    expected = _mart(
        published,
        "select indicator_code || ' (' || year || ')', actual, target from mart.indicators "
        "where year = 2026 order by indicator_code",
    )
    actual, target = (_cells(main, s.val.numRef.f) for s in indicators.series)
    labels = _categories(main, indicators.series[0])
    assert labels == [e[0] for e in expected]
    assert actual == pytest.approx([e[1] for e in expected])
    assert target == pytest.approx([e[2] for e in expected])
    share_row = _find(main, "CS-NS-KHCN (2026)")
    assert main.cell(share_row, 5).number_format == "0.0%"

    # III. task status: three stacked series by task; the totals row follows, outside the chart.
    assert tasks.grouping == "stacked"
    names = [_cells(main, s.tx.strRef.f)[0] for s in tasks.series]
    assert names == ["Chưa triển khai", "Đang triển khai", "Hoàn thành"]
    completed = _cells(main, tasks.series[2].val.numRef.f)
    last_ref = tasks.series[2].val.numRef.f.rsplit("$", 1)[1]
    totals = main.cell(int(last_ref) + 1, 1)
    assert totals.value == "Tổng cộng"
    assert main.cell(totals.row, 7).value == sum(v or 0 for v in completed)
    done = _mart(
        published,
        "select sum(units_completed) from mart.task_progress where period = '2026Q3'",
    )
    assert main.cell(totals.row, 7).value == done[0][0]

    # The missing units: Vietnamese states, the count last.
    missing = book["Chưa nộp"]
    column = [c.value for c in missing["F"] if c.value]
    assert "Bị từ chối, cần gửi lại" in column
    assert missing.cell(missing.max_row, 1).value == "Tổng cộng"
    # Unit text is text, never markup or a formula.
    narratives = book["Tiến độ"]
    texts = [c.value for c in narratives["D"] if isinstance(c.value, str)]
    assert any("<b>1.1</b>" in t for t in texts)


def test_year_and_plan_reports_cover_their_quarters(published: Path, settings: Settings) -> None:
    for period in ("2026", "2026-2030"):
        book = load_workbook(_report(settings, period, "--no-pdf"))
        main = book["Báo cáo"]
        series = main._charts[0].series
        titles = [_cells(main, s.tx.strRef.f)[0] for s in series]
        assert titles[: len(QUARTERS)] == list(QUARTERS)
        detail = book["Mức đầy đủ"]
        periods = {c.value for c in detail["A"][3:]}
        assert set(QUARTERS) <= periods
        values = book["Số liệu"]
        assert values["F3"].value == "Trong kỳ"
        assert {c.value for c in values["D"][3:] if c.value} == {2026}


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_pdf_has_heading_tables_and_charts(published: Path, settings: Settings) -> None:
    result = runner.invoke(app, ["report", "--period", "2026"], env=_env(settings))
    assert result.exit_code == 0, result.output
    pdf = settings.reports / "bao-cao_2026.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "BÁO CÁO",
        "Kỳ báo cáo: năm 2026",
        "TM. ỦY BAN NHÂN DÂN",
        "Tỷ lệ chấp nhận theo loại đơn vị, kỳ",
        "Chỉ số: thực hiện so với mục tiêu",
        "Trạng thái nhiệm vụ",
        "Chưa triển khai Đang triển khai Hoàn thành",
    ):
        assert expected in text, expected
    pages = subprocess.run(
        ["pdftoppm", "-png", "-r", "50", str(pdf), str(settings.reports / "page")],
        capture_output=True,
        check=True,
    )
    assert pages.returncode == 0
    assert len(list(settings.reports.glob("page-*.png"))) >= 2


def test_report_before_any_publication(settings: Settings) -> None:
    result = runner.invoke(app, ["report", "--period", "2026Q3"], env=_env(settings))
    assert result.exit_code == 1
    assert result.output.startswith("Lỗi: chưa có bản công bố của kho dữ liệu")
