"""Real workbooks with seeded errors, read by the real reader and validated in one batch.

Each seeded file starts from the template the service hands out (`outputs.template`), filled in
with clean values, then one or more defects are typed into it, as a unit officer would. Every
seeded error must come back with its code and its Excel cell; clean files get no finding.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from filemakers import write, xlsm_bytes
from openpyxl.workbook.workbook import Workbook

from core.periods import parse_period
from core.settings import Settings
from outputs.template import write_template
from schemas.schema import Schema, load_schema
from schemas.validation import validate
from schemas.verdict import Verdict
from sources.read import read_path

TODAY = date(2029, 5, 20)
PERIOD = "2029Q1"
VALUES, PROGRESS, META = "Chỉ tiêu", "Tiến độ", "_khcn"
FIRST_ROW = 10  # the template's first data row, under the header in row 9
INACTIVE = "THON-08"
# THCS-NH's past values of 5.3.3: median 110, robust bounds about 84 to 136.
HISTORY = pd.DataFrame(
    {
        "unit_code": ["THCS-NH"] * 5,
        "element_code": ["5.3.3"] * 5,
        "period": ["2028Q1", "2028Q2", "2028Q3", "2028Q4", "2027Q4"],
        "value": [100.0, 110.0, 120.0, 105.0, 115.0],
    }
)
Expected = set[tuple[str, str | None, str | None]]  # (code, sheet, cell)


def clean_value(code: str, kind: str) -> float:
    """A value that passes every check and rule."""
    special = {"3.1.2": 5000.0, "5.2.3": 50.0, "5.3.3": 120.0}
    return special.get(code, 100.0 if kind == "money" else 3.0)


class Book:
    """A filled-in template, with the edits a unit officer might make."""

    def __init__(self, schema: Schema, unit: str, period: str, folder: Path) -> None:
        template = schema.registry.unit(unit)
        assert template is not None
        path = write_template(schema, template, parse_period(period), folder / "template.xlsx")
        self.wb: Workbook = openpyxl.load_workbook(path)
        kinds = {e.code: e.type for e in schema.elements.elements}
        for row in self._rows(VALUES):
            code = self.values[f"B{row}"].value
            self.values[f"E{row}"] = clean_value(code, kinds[code])
        for row in self._rows(PROGRESS):
            self.progress[f"C{row}"] = "Đang triển khai"
            self.progress[f"D{row}"] = "Đã triển khai theo kế hoạch"

    @property
    def values(self) -> openpyxl.worksheet.worksheet.Worksheet:
        return self.wb[VALUES]

    @property
    def progress(self) -> openpyxl.worksheet.worksheet.Worksheet:
        return self.wb[PROGRESS]

    def _rows(self, sheet: str) -> list[int]:
        ws = self.wb[sheet]
        return [r for r in range(FIRST_ROW, ws.max_row + 1) if ws[f"A{r}"].value]

    def row_of(self, element: str) -> int:
        return next(r for r in self._rows(VALUES) if self.values[f"B{r}"].value == element)

    def task_row(self, task: str) -> int:
        return next(r for r in self._rows(PROGRESS) if self.progress[f"A{r}"].value == task)

    def set_value(self, element: str, value: object) -> str:
        address = f"E{self.row_of(element)}"
        self.values[address] = value
        return address

    def add_value(self, task: str, element: str, value: object) -> int:
        # Into the blank row that parts the table from the signature block.
        row = max(self._rows(VALUES)) + 1
        for column, cell in zip("ABCE", (task, element, "thêm", value), strict=True):
            self.values[f"{column}{row}"] = cell
        self.values[f"A{row}"].data_type = self.values[f"B{row}"].data_type = "s"
        return row

    def add_progress(self, task: str, status: str) -> int:
        row = max(self._rows(PROGRESS)) + 1
        self.progress[f"A{row}"] = task
        self.progress[f"C{row}"] = status
        return row

    def set_unit(self, code: str) -> None:
        for sheet in (VALUES, PROGRESS):
            self.wb[sheet]["B5"] = code
        self._meta("unit_code", code)

    def set_period(self, period: str) -> None:
        for sheet in (VALUES, PROGRESS):
            self.wb[sheet]["B7"] = period
        self._meta("period", period)

    def _meta(self, key: str, value: str) -> None:
        meta = self.wb[META]
        row = next(r for r in range(1, meta.max_row + 1) if meta[f"A{r}"].value == key)
        meta[f"B{row}"] = value

    def save(self, path: Path) -> Path:
        """Saves in the format of the path's suffix (values only outside .xlsx)."""
        if path.suffix == ".xlsx":
            self.wb.save(path)
            return path
        sheets = {
            ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in self.wb.worksheets
        }
        if path.suffix == ".xlsm":
            buffer = io.BytesIO()
            self.wb.save(buffer)
            path.write_bytes(xlsm_bytes(buffer.getvalue()))
            return path
        return write(path, sheets)


@dataclass
class Seed:
    name: str
    edit: Callable[[Book], Expected]
    unit: str = "THCS-NH"
    period: str = PERIOD
    suffix: str = ".xlsx"
    expected: Expected = field(default_factory=set)


def _one(code: str, sheet: str | None, cell: str | None) -> Expected:
    return {(code, sheet, cell)}


def _negative(b: Book) -> Expected:
    return _one("V-VALUE-NEGATIVE", VALUES, b.set_value("5.3.1", -2))


def _fraction(b: Book) -> Expected:
    return _one("V-VALUE-WHOLE", VALUES, b.set_value("5.3.2", 1.5))


def _stock_fraction(b: Book) -> Expected:
    return _one("V-VALUE-WHOLE", VALUES, b.set_value("5.2.3", 50.5))


def _dong(b: Book) -> Expected:
    return _one("V-MONEY-DONG", VALUES, b.set_value("2.2.1", 150_000_000))


def _count_absurd(b: Book) -> Expected:
    return _one("V-COUNT-LIMIT", VALUES, b.set_value("5.3.2", 5_000_000))


def _money_negative(b: Book) -> Expected:
    return _one("V-VALUE-NEGATIVE", VALUES, b.set_value("4.2.1", -5))


def _rule_53(b: Book) -> Expected:
    return _one("V-RULE-QT-5.3", VALUES, b.set_value("5.3.4", 200))


def _rule_52(b: Book) -> Expected:
    return _one("V-RULE-QT-5.2", VALUES, b.set_value("5.2.2", 60))


def _rule_31(b: Book) -> Expected:
    return _one("V-RULE-QT-3.1", VALUES, b.set_value("3.1.1", 6000))


def _duplicate(b: Book) -> Expected:
    row = b.add_value("5.3", "5.3.1", 4)
    return _one("V-ELEMENT-DUPLICATE", VALUES, f"B{row}")


def _element_unknown(b: Book) -> Expected:
    row = b.row_of("5.3.1")
    b.values[f"B{row}"] = "5.3.9"
    return _one("V-ELEMENT-UNKNOWN", VALUES, f"B{row}")


def _element_task(b: Book) -> Expected:
    row = b.row_of("5.3.1")
    b.values[f"A{row}"] = "2.1"
    return _one("V-ELEMENT-TASK", VALUES, f"A{row}")


def _task_unknown_value(b: Book) -> Expected:
    row = b.row_of("2.1.1")
    b.values[f"A{row}"] = "8.1"
    return _one("V-TASK-UNKNOWN", VALUES, f"A{row}")


def _task_unknown_progress(b: Book) -> Expected:
    row = b.task_row("2.1")
    b.progress[f"A{row}"] = "9.9"
    return _one("V-TASK-UNKNOWN", PROGRESS, f"A{row}")


def _status_invalid(b: Book) -> Expected:
    row = b.task_row("5.3")
    b.progress[f"C{row}"] = "Xong rồi"
    return _one("V-STATUS-INVALID", PROGRESS, f"C{row}")


def _status_missing(b: Book) -> Expected:
    row = b.task_row("5.3")
    b.progress[f"C{row}"] = None
    return _one("V-STATUS-MISSING", PROGRESS, f"C{row}")


def _unit_unknown(b: Book) -> Expected:
    b.set_unit("THCS-XYZ")
    return _one("V-UNIT-UNKNOWN", None, None)


def _unit_inactive(b: Book) -> Expected:
    return _one("V-UNIT-INACTIVE", None, None)


def _before_plan(b: Book) -> Expected:
    b.set_period("2025Q4")
    return _one("V-PERIOD-PLAN", None, None)


def _after_plan(b: Book) -> Expected:
    b.set_period("2031Q1")
    return {("V-PERIOD-PLAN", None, None), ("V-PERIOD-FUTURE", None, None)}


def _future(b: Book) -> Expected:
    b.set_period("2029Q3")
    return _one("V-PERIOD-FUTURE", None, None)


def _timeframe(b: Book) -> Expected:
    # Task 3.1 runs 2026-2028 only.
    row = b.add_value("3.1", "3.1.1", 100)
    task_row = b.add_progress("3.1", "Đang triển khai")
    return {("V-TASK-TIMEFRAME", VALUES, f"E{row}"), ("V-TASK-TIMEFRAME", PROGRESS, f"A{task_row}")}


def _not_responsible(b: Book) -> Expected:
    row = b.add_value("1.1", "1.1.1", 2)
    task_row = b.add_progress("1.1", "Hoàn thành")
    return {
        ("W-NOT-RESPONSIBLE", VALUES, f"E{row}"),
        ("W-NOT-RESPONSIBLE", PROGRESS, f"A{task_row}"),
    }


def _village_stem(b: Book) -> Expected:
    row = b.add_value("5.3", "5.3.1", 2)
    return _one("W-NOT-RESPONSIBLE", VALUES, f"E{row}")


def _outlier(b: Book) -> Expected:
    return _one("W-OUTLIER", VALUES, b.set_value("5.3.3", 5000))


def _no_progress_sheet(b: Book) -> Expected:
    b.wb.remove(b.progress)
    return _one("W-PROGRESS-MISSING", None, None)


def _no_values_sheet(b: Book) -> Expected:
    b.wb.remove(b.values)
    return _one("W-VALUES-MISSING", None, None)


def _element_left_empty(b: Book) -> Expected:
    # An empty cell is no value: the element is still owed, the file accepted with a warning.
    b.set_value("5.3.2", None)
    return _one("W-ELEMENTS-MISSING", None, None)


def _element_empty_with_note(b: Book) -> Expected:
    # The unit said why it has no figure: nothing is owed.
    b.set_value("5.3.2", None)
    b.values[f"F{b.row_of('5.3.2')}"] = "Chưa tổ chức cuộc thi trong kỳ"
    return set()


def _no_status_column(b: Book) -> Expected:
    b.progress.delete_cols(3)
    return _one("V-COLUMN-MISSING", PROGRESS, f"A{FIRST_ROW}")


def _no_task_column(b: Book) -> Expected:
    b.progress.delete_cols(1)
    return _one("V-COLUMN-MISSING", PROGRESS, f"A{FIRST_ROW}")


def _not_a_number(b: Book) -> Expected:
    return _one("R-VALUE-NOT-NUMBER", VALUES, b.set_value("5.3.1", "năm cuộc"))


def _many(b: Book) -> Expected:
    found = _negative(b) | _status_invalid(b) | _rule_53(b) | _duplicate(b)
    return found | _one("V-VALUE-WHOLE", VALUES, b.set_value("2.1.2", 0.25))


def _many_ubnd(b: Book) -> Expected:
    return _dong(b) | _rule_52(b) | _money_negative(b) | _element_unknown(b)


SEEDS = [
    Seed("am", _negative),
    Seed("le", _fraction),
    Seed("stock_le", _stock_fraction, unit="UBND"),
    Seed("dong", _dong, unit="UBND"),
    Seed("kinh_phi_am", _money_negative, unit="UBND"),
    Seed("dem_qua_lon", _count_absurd),
    Seed("quy_tac_53", _rule_53),
    Seed("quy_tac_52", _rule_52, unit="UBND"),
    Seed("quy_tac_31", _rule_31, unit="UBND", period="2028Q4"),
    Seed("trung_dong", _duplicate),
    Seed("chi_tieu_la", _element_unknown),
    Seed("sai_nhiem_vu", _element_task),
    Seed("nhiem_vu_la", _task_unknown_value),
    Seed("nhiem_vu_la_tien_do", _task_unknown_progress),
    Seed("tinh_trang_sai", _status_invalid),
    Seed("tinh_trang_trong", _status_missing),
    Seed("don_vi_la", _unit_unknown),
    Seed("don_vi_ngung", _unit_inactive, unit=INACTIVE),
    Seed("truoc_ke_hoach", _before_plan),
    Seed("sau_ke_hoach", _after_plan),
    Seed("tuong_lai", _future),
    Seed("ngoai_thoi_gian", _timeframe, unit="UBND"),
    Seed("khong_phu_trach", _not_responsible),
    Seed("thon_stem", _village_stem, unit="THON-01"),
    Seed("bat_thuong", _outlier),
    Seed("thieu_tien_do", _no_progress_sheet),
    Seed("thieu_chi_tieu", _no_values_sheet),
    Seed("thieu_so_lieu", _element_left_empty),
    Seed("thieu_cot_tinh_trang", _no_status_column),
    Seed("thieu_cot_nhiem_vu", _no_task_column),
    Seed("khong_phai_so", _not_a_number),
    Seed("nhieu_loi", _many),
    Seed("nhieu_loi_ubnd", _many_ubnd, unit="UBND"),
    Seed("am_xls", _negative, suffix=".xls"),
    Seed("le_ods", _fraction, suffix=".ods"),
    Seed("dong_xls", _dong, unit="UBND", suffix=".xls"),
    Seed("quy_tac_ods", _rule_53, suffix=".ods"),
    Seed("nhieu_loi_xlsm", _many, suffix=".xlsm"),
]
CLEAN = [
    Seed("sach_thcs", lambda b: set()),
    Seed("sach_ubnd", lambda b: set(), unit="UBND"),
    Seed("sach_ubnd_q4", lambda b: set(), unit="UBND", period="2028Q4"),
    Seed("sach_thon", lambda b: set(), unit="THON-01", suffix=".xls"),
    Seed("sach_pkt", lambda b: set(), unit="P-KT", suffix=".ods"),
    Seed("sach_dn", lambda b: set(), unit="DN-HTX", suffix=".xlsm"),
]


def _accented_status(b: Book) -> Expected:
    # Status typed without diacritics or in another case is still one of the allowed ones.
    b.progress[f"C{b.task_row('2.1')}"] = "hoan thanh"
    b.progress[f"C{b.task_row('5.3')}"] = "ĐANG TRIỂN KHAI"
    return set()


CLEAN.append(Seed("sach_tinh_trang_khong_dau", _accented_status))
CLEAN.append(Seed("sach_trong_co_ghi_chu", _element_empty_with_note))


@pytest.fixture
def inactive_schema(settings: Settings) -> Schema:
    """The schema with one village no longer reporting."""
    path = settings.schemas_dir / "units.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for unit in data["units"]:
        if unit["code"] == INACTIVE:
            unit["active"] = False
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_schema(settings)


def make_files(seeds: list[Seed], folder: Path) -> list[Path]:
    """Writes each seed's workbook (neutral names: the file name must not claim a unit)."""
    shipped = load_schema(Settings())
    paths = []
    for n, seed in enumerate(seeds):
        scratch = folder / f"tmp{n}"
        scratch.mkdir(parents=True)
        book = Book(shipped, seed.unit, seed.period, scratch)
        seed.expected = seed.edit(book)
        paths.append(book.save(folder / f"nop_{n:02d}_{seed.name}{seed.suffix}"))
    return paths


@pytest.fixture
def seeded(tmp_path: Path, inactive_schema: Schema) -> list[tuple[Seed, Path, Verdict]]:
    seeds = SEEDS + CLEAN
    paths = make_files(seeds, tmp_path / "inbox")
    submissions = [read_path(p, settings=Settings()) for p in paths]
    verdicts = validate(submissions, inactive_schema, today=TODAY, history=HISTORY)
    return list(zip(seeds, paths, verdicts, strict=True))


def _reported(verdict: Verdict) -> Expected:
    return {(f.code, f.ref.sheet if f.ref else None, f.ref.address if f.ref else None)
            for f in verdict.findings}  # fmt: skip


def test_every_seeded_error_is_reported_at_its_cell(
    seeded: list[tuple[Seed, Path, Verdict]],
) -> None:
    assert len(SEEDS) >= 30
    seen_codes: set[str] = set()
    for seed, path, verdict in seeded:
        reported = _reported(verdict)
        assert reported == seed.expected, (path.name, reported ^ seed.expected)
        seen_codes |= {code for code, _, _ in reported}
        if not seed.expected:
            assert verdict.status == "accepted", path.name
        elif any(code.startswith(("V-", "R-")) for code, _, _ in seed.expected):
            assert verdict.status == "rejected", path.name
        else:
            assert verdict.status == "warned", path.name
    from core.codes import VALIDATION_ISSUES

    families = {"V-RULE" if c.startswith("V-RULE-") else c for c in seen_codes}
    # The reader canonicalises periods or reports R-PERIOD-INVALID, so a malformed period only
    # reaches validation from other sources; tests/test_validation.py covers it.
    missing = set(VALIDATION_ISSUES) - families - {"V-PERIOD-FORMAT"}
    assert not missing, missing


def test_messages_name_the_sheet_and_cell(seeded: list[tuple[Seed, Path, Verdict]]) -> None:
    for _, _, verdict in seeded:
        for found in verdict.findings:
            if found.ref is not None:
                assert f"Trang tính '{found.ref.sheet}', ô {found.ref.address}" in found.message


def test_unreadable_file_is_rejected_with_its_reading_issue_only(
    tmp_path: Path, inactive_schema: Schema
) -> None:
    path = tmp_path / "hong.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    submission = read_path(path, settings=Settings())
    [verdict] = validate([submission], inactive_schema, today=TODAY)
    assert verdict.status == "rejected"
    assert [f.code for f in verdict.findings] == [i.code for i in submission.issues]
    assert all(f.code.startswith("R-FILE-") for f in verdict.findings)


CSV_HEADER = ["Mã đơn vị", "Kỳ báo cáo", "Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu",
              "Đơn vị tính", "Giá trị", "Ghi chú", "Tình trạng", "Kết quả đạt được"]  # fmt: skip


def csv_rows(unit: str, values: dict[str, object], statuses: dict[str, str]) -> list[list[object]]:
    """One long table as units export it: value rows, then progress rows."""
    rows: list[list[object]] = [CSV_HEADER]
    for element, value in values.items():
        task = element.rsplit(".", 1)[0]
        rows.append([unit, PERIOD, task, element, "tên", "đơn vị", value, None, None, None])
    for task, status in statuses.items():
        rows.append([unit, PERIOD, task, None, None, None, None, None, status, "đã làm"])
    return rows


CSV_VALUES = {"2.1.1": 2, "2.1.2": 1, "5.3.1": 3, "5.3.2": 1, "5.3.3": 120, "5.3.4": 5}
CSV_STATUSES = {"2.1": "Hoàn thành", "5.3": "Đang triển khai"}


def test_csv_findings_point_at_csv_cells(tmp_path: Path, inactive_schema: Schema) -> None:
    clean = write(tmp_path / "sach.csv", {"x": csv_rows("THCS-NH", CSV_VALUES, CSV_STATUSES)})
    unknown = write(
        tmp_path / "la.csv", {"x": csv_rows("THCS-XYZ", CSV_VALUES, CSV_STATUSES)}, delimiter=";"
    )
    broken = dict(CSV_VALUES, **{"5.3.4": 2.5, "2.1.2": -1})
    bad = write(tmp_path / "sai.csv", {"x": csv_rows("THCS-NH", broken, {"2.1": "Xong"})})
    paths = [clean, unknown, bad]
    verdicts = validate(
        [read_path(p, settings=Settings()) for p in paths], inactive_schema, today=TODAY
    )
    assert _reported(verdicts[0]) == set()
    # With a unit column, the unit's finding points at its first cell.
    assert _reported(verdicts[1]) == {("V-UNIT-UNKNOWN", "la", "A2")}
    assert _reported(verdicts[2]) == {
        ("V-VALUE-NEGATIVE", "sai", "G3"),
        ("V-VALUE-WHOLE", "sai", "G7"),
        ("V-STATUS-INVALID", "sai", "I8"),
    }
