"""What a submission means, through the real ingest flow: missing parts are warnings, units and
elements may be named instead of coded, periods written in words or as dates.

The files are those of tests/data written by `make_defects.py` (`meaning()`); the registry gets
`Tên khác` aliases through `khcn units import`, and the catalog a name shared by two elements.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filemakers import write
from openpyxl import load_workbook
from typer.testing import CliRunner

from core.settings import Settings
from flows.ingest_submissions import ingest_submissions
from khcn.cli import app
from schemas.registry import load_registry, read_registry
from sources.read import read_path
from warehouse.publish import published_database

pytestmark = pytest.mark.usefixtures("prefect_api")

DATA = Path(__file__).parent / "data"
FILES = (
    "values_only_no_progress.xlsx",
    "unit_named_period_in_title.xlsx",
    "unit_alias_half_year_in_words.xlsx",
    "period_date_range.xlsx",
    "period_dates_with_dashes.xlsx",
    "period_range_not_a_period.xlsx",
    "elements_by_name_no_code_column.xlsx",
    "elements_by_name_empty_codes.xlsx",
    "element_name_unknown.xlsx",
    "element_name_ambiguous.xlsx",
    "unit_name_unknown.xlsx",
    "unit_name_ambiguous.xlsx",
    "Thôn Hạ/bao_cao_quy_3.xlsx",
)
SHARED_ALIAS = "Trường Tiểu học Nghĩa Hưng"
ALIASES = {
    "TH-NH-A": f"{SHARED_ALIAS}\nTrường TH Nghĩa Hưng A",
    "TH-NH-B": f"Trường TH Nghĩa Hưng B; {SHARED_ALIAS}",
}


def _registry_with_aliases(settings: Settings, folder: Path) -> Path:
    """The shipped registry as the analyst's workbook, with a `Tên khác` column."""
    registry = load_registry(settings.schemas_dir / "units.yaml")
    rows: list[list[object]] = [["Mã đơn vị", "Tên đơn vị", "Loại đơn vị", "Email", "Tên khác"]]
    rows += [[u.code, u.name, u.type, u.email, ALIASES.get(u.code)] for u in registry.units]
    return write(folder / "don_vi.xlsx", {"Đơn vị": rows})


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ingest of every file of the variations, and what the published warehouse holds."""
    tmp = tmp_path_factory.mktemp("meaning")
    schemas = tmp / "schemas"
    shutil.copytree(
        Path(__file__).parents[1] / "schemas",
        schemas,
        ignore=shutil.ignore_patterns("*.py", "__pycache__"),
    )
    settings = Settings(schemas_dir=schemas, data_dir=tmp / "data")
    # Two elements with one name: a row naming it is ambiguous.
    elements = schemas / "elements.yaml"
    text = elements.read_text(encoding="utf-8")
    elements.write_text(
        text.replace("Số báo cáo, đề xuất đầu tư hạ tầng số", "Số báo cáo, văn bản đề xuất"),
        encoding="utf-8",
    )
    runner = CliRunner()
    imported = runner.invoke(
        app,
        [
            "units",
            "import",
            str(_registry_with_aliases(settings, tmp)),
            "--out",
            str(schemas / "units.yaml"),
        ],
    )
    assert imported.exit_code == 0, imported.output
    for name in FILES:
        target = settings.data_dir / "inbox" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / name, target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KHCN_SCHEMAS_DIR", str(schemas))
        patch.setenv("KHCN_DATA_DIR", str(settings.data_dir))
        report = ingest_submissions().to_dict()
        status = runner.invoke(app, ["status", "--period", "2026Q3", "--json"])
        printed = runner.invoke(app, ["status", "--period", "2026Q3"])
    assert status.exit_code == 0, status.output
    assert printed.exit_code == 0, printed.output
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        submissions = {
            row[0]: row[1:]
            for row in con.execute(
                "select file_name, unit_code, period, status from mart.submissions"
            ).fetchall()
        }
        values = con.execute(
            "select s.file_name, v.element_code, v.value from mart.data_values v "
            "join mart.submissions s using (submission_id) order by 1, 2"
        ).fetchall()
        errors = con.execute(
            "select file_name, sheet, cell, error_code, message from mart.submission_errors "
            "order by file_name, line"
        ).fetchall()
    return {
        "report": report,
        "submissions": submissions,
        "values": values,
        "errors": errors,
        "status": json.loads(status.output),
        "printed": printed.output,
        "settings": settings,
    }


def _values(ingested: dict[str, Any], file: str) -> dict[str, float]:
    return {element: value for name, element, value in ingested["values"] if name == file}


def _errors(ingested: dict[str, Any], file: str) -> list[tuple[str | None, str | None, str]]:
    return [
        (sheet, cell, code) for name, sheet, cell, code, _ in ingested["errors"] if name == file
    ]


def _message(ingested: dict[str, Any], file: str, code: str) -> str:
    return next(m for name, _, _, c, m in ingested["errors"] if name == file and c == code)


def test_every_file_is_recorded(ingested: dict[str, Any]) -> None:
    assert ingested["report"]["listed"] == len(FILES)
    assert sorted(ingested["submissions"]) == sorted(Path(f).name for f in FILES)


def test_value_only_workbook_loads_with_a_warning(ingested: dict[str, Any]) -> None:
    file = "values_only_no_progress.xlsx"
    assert ingested["submissions"][file] == ("UBND", "2026Q3", "accepted")
    assert _values(ingested, file) == {"1.1.1": 3, "1.1.2": 120, "3.1.1": 1234.5}
    assert set(_errors(ingested, file)) == {
        (None, None, "W-PROGRESS-MISSING"),
        (None, None, "W-ELEMENTS-MISSING"),
    }
    message = _message(ingested, file, "W-PROGRESS-MISSING")
    assert "tiến độ" in message and "2026Q3" in message
    # UBND owes 25 elements in 2026Q3 and sent three.
    owed = _message(ingested, file, "W-ELEMENTS-MISSING")
    assert "22 chỉ tiêu" in owed and "1.1.3, 1.2.1" in owed
    # The unit is told in its feedback workbook.
    [feedback] = [p for p in ingested["report"]["feedback"] if "values_only_no_progress" in p]
    book = load_workbook(feedback, read_only=True)
    listed = [row[3] for row in book["Lỗi cần sửa"].iter_rows(values_only=True)]
    assert {"W-PROGRESS-MISSING", "W-ELEMENTS-MISSING"} <= set(listed)


def test_status_shows_values_received_progress_missing(ingested: dict[str, Any]) -> None:
    units = {u["unit_code"]: u for u in ingested["status"]["units"]}
    ubnd = units["UBND"]
    assert (ubnd["values_received"], ubnd["progress_received"]) == (True, False)
    # Received after the quarter's deadline: late, not missing.
    assert ubnd["report_state"] == "late"
    assert units["THON-05"]["report_state"] == "awaiting_resend"
    assert units["THON-01"]["report_state"] == "not_sent"
    # A file whose period could not be read is no report for any period.
    assert units["THON-04"]["report_state"] == "not_sent"
    assert (units["THON-02"]["values_received"], units["THON-02"]["progress_received"]) == (
        True,
        True,
    )
    overall = ingested["status"]["overall"]
    assert overall["expected"] == len(units)
    assert overall["not_sent"] == sum(1 for u in units.values() if u["report_state"] == "not_sent")
    rejected = {c for c, u in units.items() if u["report_state"] == "awaiting_resend"}
    assert rejected == {"THON-05", "THON-06"}
    assert overall["awaiting_resend"] == 2
    missing = {u["unit_code"]: u["report_state"] for u in ingested["status"]["missing"]}
    assert missing["THON-05"] == "awaiting_resend" and missing["THON-01"] == "not_sent"
    printed = ingested["printed"]
    assert "Chưa nộp (" in printed and "Đã nộp nhưng còn thiếu số liệu hoặc tiến độ (" in printed
    assert "UBND" in printed.split("Đã nộp nhưng còn thiếu")[1]


def test_unit_by_name_and_period_in_title(ingested: dict[str, Any]) -> None:
    file = "unit_named_period_in_title.xlsx"
    assert ingested["submissions"][file] == ("TH-NH-A", "2026Q3", "accepted")
    assert _values(ingested, file) == {"5.3.1": 4, "5.3.3": 120}
    assert _errors(ingested, file) == [(None, None, "W-ELEMENTS-MISSING")]
    assert "2.1.1, 2.1.2, 5.3.2, 5.3.4." in _message(ingested, file, "W-ELEMENTS-MISSING")


def test_unit_by_alias_and_half_year_in_words(ingested: dict[str, Any]) -> None:
    file = "unit_alias_half_year_in_words.xlsx"
    assert ingested["submissions"][file] == ("TH-NH-B", "2026S1", "accepted")
    assert _values(ingested, file) == {"5.3.1": 2}


def test_unit_folder_named_after_the_unit(ingested: dict[str, Any]) -> None:
    file = "bao_cao_quy_3.xlsx"
    assert ingested["submissions"][file] == ("THON-07", "2026Q3", "accepted")
    assert _values(ingested, file) == {"2.1.1": 4}


@pytest.mark.parametrize(
    ("file", "unit", "expected", "warnings"),
    [
        ("period_date_range.xlsx", "THON-02", {"2.1.1": 1, "2.1.2": 2}, []),
        ("period_dates_with_dashes.xlsx", "THON-03", {"2.1.1": 3}, ["W-ELEMENTS-MISSING"]),
    ],
)
def test_period_as_dates(
    ingested: dict[str, Any], file: str, unit: str, expected: dict[str, float], warnings: list[str]
) -> None:
    assert ingested["submissions"][file] == (unit, "2026Q3", "accepted")
    assert _values(ingested, file) == expected
    assert _errors(ingested, file) == [(None, None, code) for code in warnings]


def test_dates_that_are_no_period_name_the_close_ones(ingested: dict[str, Any]) -> None:
    file = "period_range_not_a_period.xlsx"
    assert ingested["submissions"][file] == ("THON-04", None, "rejected")
    assert ("Chỉ tiêu", "B5", "R-PERIOD-RANGE") in _errors(ingested, file)
    message = _message(ingested, file, "R-PERIOD-RANGE")
    assert "01/7/2026 đến ngày 15/9/2026" in message
    assert "2026Q3 (01/07/2026 - 30/09/2026)" in message
    assert _values(ingested, file) == {}


def test_elements_by_name_without_code_column(ingested: dict[str, Any]) -> None:
    file = "elements_by_name_no_code_column.xlsx"
    assert ingested["submissions"][file] == ("P-KT", "2026Q3", "accepted")
    assert _values(ingested, file) == {"1.1.1": 5, "1.1.2": 200, "1.3.1": 7}
    # Only what is owed is said: P-KT reports on 14 tasks.
    assert _errors(ingested, file) == [(None, None, "W-ELEMENTS-MISSING")]


def test_elements_by_name_where_codes_are_empty(ingested: dict[str, Any]) -> None:
    file = "elements_by_name_empty_codes.xlsx"
    assert ingested["submissions"][file] == ("P-VHXH", "2026Q3", "accepted")
    assert _values(ingested, file) == {"1.1.1": 2, "1.1.2": 80, "1.1.3": 12}


def test_element_name_unknown_names_the_nearest(ingested: dict[str, Any]) -> None:
    file = "element_name_unknown.xlsx"
    assert ingested["submissions"][file][2] == "rejected"
    assert _errors(ingested, file) == [("Chỉ tiêu", "C9", "R-ELEMENT-NAME-UNKNOWN")]
    message = _message(ingested, file, "R-ELEMENT-NAME-UNKNOWN")
    assert "'Số hội thảo khoa học'" in message
    assert "1.4.2 Số hội nghị, hội thảo, sự kiện" in message


def test_element_name_ambiguous_names_the_candidates(ingested: dict[str, Any]) -> None:
    file = "element_name_ambiguous.xlsx"
    assert ingested["submissions"][file][2] == "rejected"
    assert _errors(ingested, file) == [("Chỉ tiêu", "C8", "R-ELEMENT-NAME-AMBIGUOUS")]
    message = _message(ingested, file, "R-ELEMENT-NAME-AMBIGUOUS")
    assert "2.1.1 Số báo cáo, văn bản đề xuất" in message
    assert "4.1.1 Số báo cáo, văn bản đề xuất" in message


def test_unit_name_unknown_names_the_nearest(ingested: dict[str, Any]) -> None:
    file = "unit_name_unknown.xlsx"
    assert ingested["submissions"][file] == (None, "2026Q3", "rejected")
    assert ("Chỉ tiêu", "A4", "R-UNIT-NAME-UNKNOWN") in _errors(ingested, file)
    message = _message(ingested, file, "R-UNIT-NAME-UNKNOWN")
    assert "'Trường Tiểu học Nghĩa Hưng C'" in message
    assert "Trường Tiểu học Nghĩa Hưng A (TH-NH-A)" in message


def test_unit_name_ambiguous_names_the_candidates(ingested: dict[str, Any]) -> None:
    file = "unit_name_ambiguous.xlsx"
    assert ingested["submissions"][file] == (None, "2026Q3", "rejected")
    assert ("Chỉ tiêu", "A4", "R-UNIT-NAME-AMBIGUOUS") in _errors(ingested, file)
    message = _message(ingested, file, "R-UNIT-NAME-AMBIGUOUS")
    assert "(TH-NH-A)" in message and "(TH-NH-B)" in message


def test_registry_aliases_survive_import(ingested: dict[str, Any]) -> None:
    settings: Settings = ingested["settings"]
    registry = load_registry(settings.schemas_dir / "units.yaml")
    school = registry.unit("TH-NH-B")
    assert school is not None
    assert school.aliases == ("Trường TH Nghĩa Hưng B", SHARED_ALIAS)


def test_read_registry_splits_aliases_by_line_and_semicolon(tmp_path: Path) -> None:
    path = write(
        tmp_path / "don_vi.xlsx",
        {
            "Đơn vị": [
                ["Mã đơn vị", "Tên đơn vị", "Loại đơn vị", "Tên khác"],
                ["THON-01", "Thôn Đông", "Thôn", "Xóm Đông\nThôn 1 ; Đông"],
                ["THON-02", "Thôn Tây", "Thôn", None],
            ]
        },
    )
    registry = read_registry(path)
    assert [u.aliases for u in registry.units] == [("Xóm Đông", "Thôn 1", "Đông"), ()]


@pytest.mark.parametrize(
    "title",
    [
        "BÁO CÁO KẾT QUẢ THỰC HIỆN NHIỆM VỤ KHCN NĂM 2026",
        "BÁO CÁO SỐ LIỆU (Từ ngày 15/6/2026 đến ngày 14/9/2026)",
    ],
)
def test_a_title_gives_way_to_the_label(tmp_path: Path, title: str) -> None:
    # A year in the title or the data cut-off dates of Decree 09 above a quarter's label.
    rows = [
        [title],
        ["Mã đơn vị", "THON-02"],
        ["Kỳ báo cáo", "Quý III/2026"],
        [],
        ["Mã chỉ tiêu", "Tên chỉ tiêu", "Giá trị"],
        ["2.1.1", "Số báo cáo, văn bản đề xuất", 1],
    ]
    sub = read_path(write(tmp_path / "bao_cao.xlsx", {"Chỉ tiêu": rows}), settings=Settings())
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-02", "2026Q3", [])
