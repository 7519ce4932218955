"""The plan's targets by year (`schemas/targets.yaml`): per data element and per indicator.

The analyst fills a workbook (`khcn targets template`, then `khcn targets import`); the file is
checked like the other schema files, every problem naming the file and the row. An indicator's
`default_target` in `elements.yaml` (Resolution 57's 3 % of the budget for CS-NS-KHCN) holds
for every plan year the targets file leaves empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import Problem, ProblemList, SchemaError
from schemas.model import Elements, Indicator
from schemas.yamlio import read_yaml, write_yaml

SHEET = "Mục tiêu"
KIND_ELEMENT = "Chỉ tiêu"
KIND_INDICATOR = "Chỉ số"
_HEADINGS = ("Loại", "Mã", "Tên", "Đơn vị tính")
_HEADER = (
    "# Mục tiêu theo năm của kế hoạch: chỉ tiêu (tổng của xã) và chỉ số.\n"
    "# Sửa bằng bảng tính: khcn targets template --out muc-tieu.xlsx, điền, rồi\n"
    "# khcn targets import muc-tieu.xlsx. Năm để trống: chỉ số dùng mục tiêu mặc định.\n"
)
_SAMPLE_HEADER = "# DỮ LIỆU MẪU: thay bằng mục tiêu thật của xã (khcn targets import TỆP).\n"


@dataclass(frozen=True)
class Targets:
    """Targets keyed by (code, year); the indicators' defaults already applied."""

    source: str
    sample: bool = False
    elements: dict[tuple[str, int], float] = field(default_factory=dict)
    indicators: dict[tuple[str, int], float] = field(default_factory=dict)

    def element(self, code: str, year: int) -> float | None:
        return self.elements.get((code, year))

    def indicator(self, code: str, year: int) -> float | None:
        return self.indicators.get((code, year))


def targetable(indicator: Indicator) -> bool:
    """An indicator compared against a number; `all_units` compares against the unit count."""
    return indicator.target_op in (">=", "<=")


def load_targets(path: Path, elements: Elements, years: range) -> Targets:
    """Read and check the targets file; without one, only the indicators' defaults hold.

    Raises:
        SchemaError: naming the file and the entry of each unknown code, year outside the
            plan, or value that is not a number ≥ 0.
    """
    data: dict[str, Any] = read_yaml(path) if path.exists() else {}
    file, problems = str(path), ProblemList()
    known_elements = {e.code for e in elements.elements}
    indicators = {i.code: i for i in elements.indicators}
    found: dict[str, dict[tuple[str, int], float]] = {}
    for section, label in (("elements", "chỉ tiêu"), ("indicators", "chỉ số")):
        entries = data.get(section) or {}
        found[section] = {}
        if not isinstance(entries, dict):
            problems.add(file, section, "phải là bảng mã: {năm: mục tiêu}")
            continue
        for code, by_year in entries.items():
            row = f"{section}.{code}"
            code = str(code)
            wrong = _unknown_code(section, label, code, known_elements, indicators)
            if wrong is None and not isinstance(by_year, dict):
                wrong = "phải là bảng {năm: mục tiêu}"
            if wrong is not None:
                problems.add(file, row, wrong)
                continue
            for year, value in by_year.items():
                checked = _year_value(year, value, years)
                if isinstance(checked, str):
                    problems.add(file, row, checked)
                elif checked is not None:
                    found[section][(code, checked[0])] = checked[1]
    problems.raise_if_any()
    indicator_targets = {
        (i.code, year): i.default_target
        for i in elements.indicators
        if i.default_target is not None and targetable(i)
        for year in years
    }
    indicator_targets.update(found["indicators"])
    return Targets(
        source=path.name,
        sample=bool(data.get("sample", False)),
        elements=found["elements"],
        indicators=indicator_targets,
    )


def _unknown_code(
    section: str,
    label: str,
    code: str,
    known_elements: set[str],
    indicators: dict[str, Indicator],
) -> str | None:
    """Why a code of the targets file takes no target, or None when it does."""
    unknown = f"mã {label} {code} không có trong elements.yaml"
    if section == "elements":
        return None if code in known_elements else unknown
    if code not in indicators:
        return unknown
    return None if targetable(indicators[code]) else _not_targetable(indicators[code])


def _not_targetable(indicator: Indicator) -> str:
    if indicator.target_op == "all_units":
        return f"chỉ số {indicator.code} lấy mục tiêu là mọi đơn vị, không đặt số"
    return f"chỉ số {indicator.code} chưa có target_op (>= hoặc <=) trong elements.yaml"


def _year_value(year: Any, value: Any, years: range) -> tuple[int, float] | str | None:
    """A checked (year, target), a problem in Vietnamese, or None for an empty cell."""
    try:
        number = int(str(year).strip())
    except ValueError:
        return f"năm «{year}» không hợp lệ"
    if number not in years:
        return f"năm {number} nằm ngoài kế hoạch {years[0]}-{years[-1]}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return f"năm {number}: mục tiêu «{value}» phải là một số"
    try:
        target = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else value
        target = float(target)
    except (TypeError, ValueError):
        return f"năm {number}: mục tiêu «{value}» phải là một số"
    if target != target or target < 0:  # NaN or negative
        return f"năm {number}: mục tiêu «{value}» phải là một số không âm"
    return number, target


def write_targets(
    path: Path, elements: dict[tuple[str, int], float], indicators: dict[tuple[str, int], float]
) -> None:
    """Write the targets file (atomically), years in order, codes in the given order."""
    write_yaml(
        path,
        {"sample": False, "elements": _nested(elements), "indicators": _nested(indicators)},
        _HEADER,
    )


def _nested(flat: dict[tuple[str, int], float]) -> dict[str, dict[int, float | int]]:
    nested: dict[str, dict[int, float | int]] = {}
    for (code, year), value in flat.items():
        nested.setdefault(code, {})[year] = int(value) if float(value).is_integer() else value
    return {code: dict(sorted(by_year.items())) for code, by_year in nested.items()}


def write_template(path: Path, elements: Elements, targets: Targets, years: range) -> Path:
    """The workbook the analyst fills: one row per element and per targetable indicator,
    one column per plan year, today's targets filled in."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET
    sheet["A1"] = "Mục tiêu theo năm của kế hoạch KHCN, ĐMST và CĐS"
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = (
        "Điền mục tiêu vào các cột năm (số không âm); để trống nếu chưa đặt. "
        "Chỉ tiêu: tổng của cả xã trong năm. Không sửa cột Loại và Mã."
    )
    headings = (*_HEADINGS, *(str(y) for y in years))
    for col, heading in enumerate(headings, start=1):
        cell = sheet.cell(4, col, heading)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    rows: list[tuple[str, str, str, str, dict[int, float | None]]] = [
        (KIND_ELEMENT, e.code, e.name, e.measure, {y: targets.element(e.code, y) for y in years})
        for e in elements.elements
    ] + [
        (KIND_INDICATOR, i.code, i.name, "", {y: targets.indicator(i.code, y) for y in years})
        for i in elements.indicators
        if targetable(i)
    ]
    for r, (kind, code, name, measure, by_year) in enumerate(rows, start=5):
        for col, value in enumerate((kind, code, name, measure), start=1):
            sheet.cell(r, col, value).data_type = "s"
        for col, year in enumerate(years, start=len(_HEADINGS) + 1):
            sheet.cell(r, col, by_year[year])
    last = 4 + len(rows)
    numbers = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
    numbers.error = "Mục tiêu phải là một số không âm"
    numbers.showErrorMessage = True
    first_year = sheet.cell(5, len(_HEADINGS) + 1).coordinate
    last_year = sheet.cell(last, len(headings)).coordinate
    numbers.add(f"{first_year}:{last_year}")
    sheet.add_data_validation(numbers)
    for letter, width in zip("ABCD", (10, 12, 60, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=5, max_row=last, min_col=3, max_col=3):
        row[0].alignment = Alignment(wrap_text=True)
    sheet.freeze_panes = "E5"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def read_targets_workbook(
    path: Path, elements: Elements, years: range
) -> tuple[dict[tuple[str, int], float], dict[tuple[str, int], float]]:
    """The element and indicator targets the analyst typed into the template.

    Raises:
        SchemaError: naming the sheet, row and column of every unknown code, unknown year
            column, or value that is not a number ≥ 0.
    """
    from python_calamine import CalamineWorkbook

    file = str(path)
    try:
        book = CalamineWorkbook.from_path(file)
    except Exception as exc:  # calamine raises its own error types for unreadable files
        raise SchemaError([Problem(file, None, f"không đọc được bảng tính ({exc})")]) from None
    name = SHEET if SHEET in book.sheet_names else book.sheet_names[0]
    rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    header_at = next(
        (i for i, r in enumerate(rows) if [_text(c) for c in r[:2]] == ["Loại", "Mã"]), None
    )
    if header_at is None:
        raise SchemaError(
            [Problem(file, None, f"sheet {name}: không thấy hàng tiêu đề «Loại», «Mã», …")]
        )
    problems = ProblemList()
    heading_row = f"sheet {name}, hàng {header_at + 1}"
    year_columns = _year_columns(rows[header_at], years, heading_row, file, problems)
    known_elements = {e.code for e in elements.elements}
    indicators = {i.code: i for i in elements.indicators}
    targets: dict[str, dict[tuple[str, int], float]] = {KIND_ELEMENT: {}, KIND_INDICATOR: {}}
    for number, cells in enumerate(rows[header_at + 1 :], start=header_at + 2):
        kind, code = (_text(cells[i]) if i < len(cells) else "" for i in (0, 1))
        values = {y: cells[c] if c < len(cells) else None for y, c in year_columns.items()}
        if not kind and not code:
            continue
        where = f"sheet {name}, hàng {number}"
        wrong = _unknown_row(kind, code, where, known_elements, indicators)
        if wrong is not None:
            problems.add(file, *wrong)
            continue
        into = targets[kind]
        for year, value in values.items():
            checked = _year_value(year, value, years)
            if isinstance(checked, str):
                letter = _letter(year_columns[year])
                problems.add(file, f"{where}, cột {letter}", checked + "; sửa rồi nạp lại")
            elif checked is not None:
                into[(code, checked[0])] = checked[1]
    problems.raise_if_any()
    return targets[KIND_ELEMENT], targets[KIND_INDICATOR]


def _year_columns(
    header: list[Any], years: range, where: str, file: str, problems: ProblemList
) -> dict[int, int]:
    """Year -> column of the template's year headings; any other heading is a problem."""
    columns: dict[int, int] = {}
    for col, heading in enumerate(header[len(_HEADINGS) :], start=len(_HEADINGS)):
        text = _text(heading)
        if not text:
            continue
        if not text.isdigit() or int(text) not in years:
            problems.add(
                file, f"{where}, cột {_letter(col)}", f"cột «{text}» không phải năm của kế hoạch"
            )
            continue
        columns[int(text)] = col
    return columns


def _unknown_row(
    kind: str, code: str, where: str, known_elements: set[str], indicators: dict[str, Indicator]
) -> tuple[str, str] | None:
    """(where, why) when a row's kind or code takes no target, else None."""
    if kind == KIND_ELEMENT and code in known_elements:
        return None
    if kind == KIND_INDICATOR and code in indicators:
        indicator = indicators[code]
        return None if targetable(indicator) else (where, _not_targetable(indicator))
    if kind not in (KIND_ELEMENT, KIND_INDICATOR):
        return f"{where}, cột A", f"Loại «{kind}»: ghi Chỉ tiêu hoặc Chỉ số"
    return f"{where}, cột B", f"mã {kind.lower()} «{code}» không có"


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col + 1)


def sample_header() -> str:
    """The header of a shipped file of illustrative targets."""
    return _SAMPLE_HEADER + _HEADER
