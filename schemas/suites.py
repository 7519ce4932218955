"""Expectation suites built from the task schema, and the validation error codes.

The catalog, the data elements, the rules between them and the unit registry are the only
source of truth: every value set, bound and rule of the suites below is read from the `Schema`,
never from a hand-kept JSON suite. Validation (`schemas.validation`) feeds the suites one
pandas frame per kind of row, for a whole batch of submissions at once:

- `nop` (one row per submission): unit, period, whether the expected tables are there;
- `chi_tieu` (one row per value row): codes, value, derived columns such as the element's task;
- `tien_do` (one row per progress row): task, status;
- `quy_tac` (one row per submission): the values of the elements named in the rules, pivoted.

Each frame has the integer index column `row_id`, which maps every failure back to the
submission and the Excel cell. Derived columns (an element's task and type, a task's years, a
unit's history bounds) are computed in pandas, vectorised; Great Expectations compares them.

Each expectation carries its error code in `meta["code"]` and, in `meta["field"]`, the column
of the unit's table the finding points at. Every code is in `VALIDATION_ISSUES` with its
severity, its Vietnamese message and how to fix it, like the reader's `READ_ISSUES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from core.model import READ_ISSUES, CellRef, ReadIssue, Severity
from core.text import fold
from schemas.model import STATUSES
from schemas.schema import Schema

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

STATUS_KEYS: tuple[str, ...] = tuple(fold(s) for s in STATUSES)
# Canonical DHIS2 period identifiers with a valid quarter, half or month.
PERIOD_PATTERN = r"^\d{4}(?:Q[1-4]|S[12]|0[1-9]|1[0-2])?$"

# Index column of every frame: position of the row in the batch's row list.
ROW_ID = "row_id"

_STATUS_CHOICE = "Chọn một trong: Chưa triển khai, Đang triển khai, Hoàn thành."

# code -> (severity, message template, how to fix). `{where}` is "Trang tính 'X', ô E12" when
# the finding has a cell, else "Tệp". A rule's code is `V-RULE-<rule code>` (V-RULE-QT-5.3).
VALIDATION_ISSUES: dict[str, tuple[Severity, str, str]] = {
    # What is missing is owed, not wrong: the values sent are kept and completeness shows the
    # rest as still to come.
    "W-VALUES-MISSING": (
        "warning",
        "Tệp không có bảng số liệu chỉ tiêu (bảng có cột 'Mã chỉ tiêu' hoặc 'Tên chỉ tiêu' và "
        "'Giá trị'); số liệu chỉ tiêu kỳ {period} vẫn còn thiếu.",
        "Gửi bổ sung số liệu chỉ tiêu trên trang tính 'Chỉ tiêu' của tệp mẫu kỳ {period} (gửi lại "
        "cả tệp, gồm cả phần tiến độ).",
    ),
    "W-ELEMENTS-MISSING": (
        "warning",
        "Tệp chưa có số liệu của {count} chỉ tiêu đơn vị phải báo cáo kỳ {period}: {elements}.",
        "Nếu đã có số liệu, ghi vào cột 'Giá trị' của các chỉ tiêu trên rồi gửi lại cả tệp; nếu "
        "trong kỳ không phát sinh thì ghi 0; nếu chưa có số liệu thì để trống và ghi lý do vào cột "
        "'Ghi chú'.",
    ),
    "W-PROGRESS-MISSING": (
        "warning",
        "Tệp không có bảng tiến độ nhiệm vụ (bảng có cột 'Mã nhiệm vụ' và 'Tình trạng'); báo cáo "
        "tiến độ kỳ {period} vẫn còn thiếu.",
        "Gửi bổ sung tiến độ các nhiệm vụ trên trang tính 'Tiến độ' của tệp mẫu kỳ {period} (gửi "
        "lại cả tệp, gồm cả số liệu chỉ tiêu).",
    ),
    "V-COLUMN-MISSING": (
        "error",
        "{where}: bảng ở trang tính '{sheet}' thiếu cột '{header}'.",
        "Thêm lại cột '{header}' theo mẫu của xã (chép dòng tiêu đề từ tệp mẫu).",
    ),
    "V-UNIT-UNKNOWN": (
        "error",
        "{where}: mã đơn vị '{unit}' không có trong danh sách đơn vị của xã.",
        "Ghi đúng mã đơn vị như trong tệp mẫu xã đã gửi (ví dụ THON-01) rồi gửi lại.",
    ),
    "V-UNIT-INACTIVE": (
        "error",
        "{where}: đơn vị '{unit}' đã thôi báo cáo trong danh sách đơn vị của xã.",
        "Nếu ghi nhầm mã, sửa lại mã đơn vị; nếu đơn vị vẫn phải báo cáo, báo cán bộ tổng hợp "
        "của xã cập nhật danh sách.",
    ),
    "V-PERIOD-FORMAT": (
        "error",
        "{where}: kỳ báo cáo '{period}' không đúng dạng.",
        "Ghi kỳ báo cáo dạng 2026Q3 (quý), 2026S1 (nửa năm), 202607 (tháng) hoặc 2026 (năm).",
    ),
    "V-PERIOD-PLAN": (
        "error",
        "{where}: kỳ báo cáo {period} nằm ngoài kế hoạch {plan_start}-{plan_end}.",
        "Sửa lại năm của kỳ báo cáo: kế hoạch chỉ nhận số liệu từ năm {plan_start} đến năm "
        "{plan_end}.",
    ),
    "V-PERIOD-FUTURE": (
        "error",
        "{where}: kỳ báo cáo {period} chưa bắt đầu (bắt đầu ngày {start}, hôm nay là {today}).",
        "Sửa lại kỳ báo cáo cho đúng kỳ đã qua hoặc đang diễn ra.",
    ),
    "V-TASK-UNKNOWN": (
        "error",
        "{where}: mã nhiệm vụ '{task}' không có trong kế hoạch.",
        "Ghi đúng mã nhiệm vụ như trong tệp mẫu (từ 1.1 đến 7.2), ví dụ 5.3.",
    ),
    "V-TASK-TIMEFRAME": (
        "error",
        "{where}: nhiệm vụ {task} chỉ thực hiện trong các năm {start}-{end}, không báo cáo cho "
        "kỳ {period}.",
        "Xoá số liệu của nhiệm vụ {task} khỏi báo cáo kỳ này, hoặc sửa lại kỳ báo cáo.",
    ),
    "V-ELEMENT-UNKNOWN": (
        "error",
        "{where}: mã chỉ tiêu '{element}' không có trong danh mục chỉ tiêu.",
        "Ghi đúng mã chỉ tiêu như trong tệp mẫu, ví dụ 1.1.1; không tự thêm chỉ tiêu mới.",
    ),
    "V-ELEMENT-TASK": (
        "error",
        "{where}: chỉ tiêu {element} thuộc nhiệm vụ {element_task}, không thuộc nhiệm vụ {task} "
        "ghi cùng dòng.",
        "Sửa mã nhiệm vụ của dòng thành {element_task}, hoặc sửa lại mã chỉ tiêu cho đúng.",
    ),
    "V-ELEMENT-DUPLICATE": (
        "error",
        "{where}: chỉ tiêu {element} đã được ghi ở ô {first}; mỗi chỉ tiêu chỉ ghi một dòng.",
        "Xoá dòng trùng, chỉ để lại một dòng với số liệu đúng (cộng gộp lại nếu cần).",
    ),
    "V-VALUE-NEGATIVE": (
        "error",
        "{where}: giá trị {value} của chỉ tiêu {element} là số âm.",
        "Ghi số từ 0 trở lên; nếu chưa có số liệu thì để trống và ghi lý do vào cột 'Ghi chú'.",
    ),
    "V-VALUE-WHOLE": (
        "error",
        "{where}: chỉ tiêu {element} ({measure}) phải là số nguyên nhưng đang ghi {value}.",
        "Ghi số nguyên, không có phần thập phân (ví dụ 12).",
    ),
    "V-MONEY-DONG": (
        "error",
        "{where}: kinh phí {value} triệu đồng của chỉ tiêu {element} lớn bất thường (trên "
        "{limit} triệu đồng); có lẽ số đã ghi theo đồng chứ không phải triệu đồng.",
        "Đổi số sang triệu đồng: chia cho 1.000.000 (ví dụ 150.000.000 đồng ghi là 150).",
    ),
    "V-COUNT-LIMIT": (
        "error",
        "{where}: giá trị {value} của chỉ tiêu {element} ({measure}) lớn bất thường (trên "
        "{count_limit}); số liệu của một xã không thể lớn như vậy.",
        "Kiểm tra và gõ lại đúng con số (có thể thừa chữ số hoặc gõ nhầm cột).",
    ),
    "V-STATUS-INVALID": (
        "error",
        "{where}: tình trạng '{status}' của nhiệm vụ {task} không thuộc danh sách cho phép.",
        _STATUS_CHOICE,
    ),
    "V-STATUS-MISSING": (
        "error",
        "{where}: nhiệm vụ {task} chưa ghi tình trạng.",
        _STATUS_CHOICE,
    ),
    "V-RULE": (
        "error",
        "{where}: {rule_message}: chỉ tiêu {left} (ô {left_cell}) là {left_value}, lớn hơn chỉ "
        "tiêu {right} (ô {right_cell}) là {right_value}.",
        "Kiểm tra lại hai số liệu trên và sửa số bị ghi sai.",
    ),
    "W-NOT-RESPONSIBLE": (
        "warning",
        "{where}: đơn vị {unit} không được giao chủ trì hay phối hợp nhiệm vụ {task}; số liệu "
        "vẫn được nhận nhưng chỉ để tham khảo.",
        "Nếu ghi nhầm dòng, chuyển số liệu sang đúng nhiệm vụ; nếu đơn vị thực sự có tham gia "
        "nhiệm vụ này thì không cần sửa.",
    ),
    "W-OUTLIER": (
        "warning",
        "{where}: giá trị {value} của chỉ tiêu {element} khác xa các kỳ trước của đơn vị "
        "(thường từ {low} đến {high}, ở giữa là {median}).",
        "Kiểm tra lại con số; nếu đúng thì ghi lý do vào cột 'Ghi chú'.",
    ),
}

# Codes whose finding points at the unit or period label rather than a table cell.
UNIT_CODES = frozenset({"V-UNIT-UNKNOWN", "V-UNIT-INACTIVE"})
PERIOD_CODES = frozenset({"V-PERIOD-FORMAT", "V-PERIOD-PLAN", "V-PERIOD-FUTURE"})


def spec(code: str) -> tuple[Severity, str, str]:
    """Severity, message template and fix of any reading or validation code.

    Raises:
        KeyError: the code is in neither registry.
    """
    if code in READ_ISSUES:
        return READ_ISSUES[code]
    if code.startswith("V-RULE-"):
        return VALIDATION_ISSUES["V-RULE"]
    return VALIDATION_ISSUES[code]


def where(ref: CellRef | None) -> str:
    """How a message names a cell: "Trang tính 'Chỉ tiêu', ô E12", or "Tệp" without one."""
    return f"Trang tính '{ref.sheet}', ô {ref.address}" if ref else "Tệp"


def finding(code: str, ref: CellRef | None = None, **params: object) -> ReadIssue:
    """Builds the validation finding `code` from its template (see `VALIDATION_ISSUES`).

    Args:
        code: a key of `VALIDATION_ISSUES`, or `V-RULE-<rule code>`.
        ref: the cell concerned, if any.
        **params: the template's placeholders; unused ones are ignored.

    Returns:
        The finding: what is wrong, then what to do, in Vietnamese.
    """
    severity, template, fix = spec(code)
    text = template.format(where=where(ref), **params)
    return ReadIssue(
        code=code, message=f"{text} {fix.format(**params)}", ref=ref, severity=severity
    )


@cache
def _fix_pattern(fix: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", fix)
    return re.compile(r"\s*" + ".+?".join(re.escape(p) for p in parts) + r"$", re.DOTALL)


def split_message(found: ReadIssue) -> tuple[str, str]:
    """Splits a finding's message into (what is wrong, how to fix it) for the feedback sheet."""
    try:
        fix = spec(found.code)[2]
    except KeyError:
        return found.message, ""
    match = _fix_pattern(fix).search(found.message)
    if not match:
        return found.message, ""
    return found.message[: match.start()].strip(), found.message[match.start() :].strip()


def format_number(value: float | int) -> str:
    """A number as Vietnamese officers write it: 1.234.567,5."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    whole, _, frac = f"{value:,.3f}".rstrip("0").partition(".")
    return f"{whole.replace(',', '.')},{frac}"


# ---------------------------------------------------------------------------------------------
# Suites


@dataclass(frozen=True)
class Suites:
    """The four suites of a schema, and the value sets the frames are derived with."""

    submissions: ExpectationSuite
    values: ExpectationSuite
    progress: ExpectationSuite
    rules: ExpectationSuite
    rule_columns: dict[str, str]  # element code -> pivot column of `quy_tac`


def rule_columns(schema: Schema) -> dict[str, str]:
    """Element code -> column name in the rules frame (GX column names avoid dots)."""
    codes = sorted({c for r in schema.elements.rules for c in (r.left, r.right)})
    return {code: "e_" + code.replace(".", "_") for code in codes}


def responsibility_keys(schema: Schema) -> list[str]:
    """`task|unit` for every task a unit leads or coordinates (timeframe checked apart)."""
    return sorted(f"{task}|{unit}" for task, unit in schema.roles)


def build_suites(schema: Schema, name_prefix: str = "khcn") -> Suites:
    """Builds the expectation suites of a schema (Great Expectations is imported here).

    Args:
        schema: the loaded task schema.
        name_prefix: prefix of the suite names, as shown in Data Docs.

    Returns:
        One suite per frame; see the module docstring for the frames' columns.
    """
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    ex = gx.expectations
    units = sorted(u.code for u in schema.registry.units)
    active = sorted(u.code for u in schema.registry.units if u.active)
    tasks = sorted(t.code for t in schema.catalog.tasks)
    elements = sorted(e.code for e in schema.elements.elements)
    years = schema.plan_years
    pair: dict[str, Any] = {"ignore_row_if": "either_value_is_missing"}

    def meta(code: str, field: str | None = None, **extra: str) -> dict[str, Any]:
        return {"code": code, "field": field, **extra}

    submissions = gx.ExpectationSuite(name=f"{name_prefix}.nop")
    expectations: tuple[Any, ...] = (
        ex.ExpectColumnValuesToBeInSet(
            column="unit_code", value_set=units, meta=meta("V-UNIT-UNKNOWN", "unit_code")
        ),
        # Only known units: an unknown one is already V-UNIT-UNKNOWN.
        ex.ExpectColumnValuesToBeInSet(
            column="unit_known", value_set=active, meta=meta("V-UNIT-INACTIVE", "unit_code")
        ),
        ex.ExpectColumnValuesToMatchRegex(
            column="period", regex=PERIOD_PATTERN, meta=meta("V-PERIOD-FORMAT", "period")
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="period_year",
            min_value=years.start,
            max_value=years.stop - 1,
            meta=meta("V-PERIOD-PLAN", "period"),
        ),
        # `today_ord` is a column so that one suite serves every run date.
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="today_ord",
            column_B="period_start_ord",
            or_equal=True,
            meta=meta("V-PERIOD-FUTURE", "period"),
            **pair,
        ),
        # `need_*` is 1 when the unit must send that table this year, missing otherwise.
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_values",
            column_B="need_values",
            or_equal=True,
            meta=meta("W-VALUES-MISSING", None),
            **pair,
        ),
        # Elements the unit owes but left without a value or a note; missing when it sent no
        # values at all (W-VALUES-MISSING says that).
        ex.ExpectColumnValuesToBeBetween(
            column="n_elements_missing",
            max_value=0,
            meta=meta("W-ELEMENTS-MISSING", None),
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_progress",
            column_B="need_progress",
            or_equal=True,
            meta=meta("W-PROGRESS-MISSING", None),
            **pair,
        ),
    )
    for expectation in expectations:
        submissions.add_expectation(expectation)

    values = gx.ExpectationSuite(name=f"{name_prefix}.chi_tieu")
    expectations = (
        ex.ExpectColumnValuesToBeInSet(
            column="task_code", value_set=tasks, meta=meta("V-TASK-UNKNOWN", "task_code")
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="element_code",
            value_set=elements,
            meta=meta("V-ELEMENT-UNKNOWN", "element_code"),
        ),
        # `task_known` is the row's task code when it is in the catalog, else missing.
        ex.ExpectColumnPairValuesToBeEqual(
            column_A="task_known",
            column_B="element_task",
            meta=meta("V-ELEMENT-TASK", "task_code"),
            **pair,
        ),
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["sub", "element_code"],
            ignore_row_if="any_value_is_missing",
            meta=meta("V-ELEMENT-DUPLICATE", "element_code"),
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="period_year",
            column_B="task_start",
            or_equal=True,
            meta=meta("V-TASK-TIMEFRAME", "value"),
            **pair,
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="task_end",
            column_B="period_year",
            or_equal=True,
            meta=meta("V-TASK-TIMEFRAME", "value"),
            **pair,
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="value", min_value=0, meta=meta("V-VALUE-NEGATIVE", "value")
        ),
        ex.ExpectColumnPairValuesToBeEqual(
            column_A="value",
            column_B="value_whole",
            row_condition=Column("element_type").is_in(["count", "stock"]),
            meta=meta("V-VALUE-WHOLE", "value"),
            **pair,
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="value",
            max_value=schema.elements.money_limit,
            row_condition=Column("element_type") == "money",
            meta=meta("V-MONEY-DONG", "value"),
        ),
        ex.ExpectColumnValuesToBeBetween(
            column="value",
            max_value=schema.elements.count_limit,
            row_condition=Column("element_type").is_in(["count", "stock"]),
            meta=meta("V-COUNT-LIMIT", "value"),
        ),
        # `task_unit` is `task|unit` for a reported value of a known task and active unit.
        ex.ExpectColumnValuesToBeInSet(
            column="task_unit",
            value_set=responsibility_keys(schema),
            meta=meta("W-NOT-RESPONSIBLE", "value"),
        ),
        # Bounds from the unit's own history (robust z-score; see `schemas.validation`).
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="hist_high",
            column_B="value",
            or_equal=True,
            meta=meta("W-OUTLIER", "value"),
            **pair,
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="value",
            column_B="hist_low",
            or_equal=True,
            meta=meta("W-OUTLIER", "value"),
            **pair,
        ),
    )
    for expectation in expectations:
        values.add_expectation(expectation)

    progress = gx.ExpectationSuite(name=f"{name_prefix}.tien_do")
    expectations = (
        ex.ExpectColumnValuesToBeInSet(
            column="task_code", value_set=tasks, meta=meta("V-TASK-UNKNOWN", "task_code")
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="has_task_column",
            value_set=[1],
            meta=meta("V-COLUMN-MISSING", None, header="Mã nhiệm vụ"),
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="has_status_column",
            value_set=[1],
            meta=meta("V-COLUMN-MISSING", None, header="Tình trạng"),
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="status_key",
            value_set=list(STATUS_KEYS),
            meta=meta("V-STATUS-INVALID", "status"),
        ),
        ex.ExpectColumnValuesToNotBeNull(
            column="status_key",
            row_condition=Column("needs_status") == 1,
            meta=meta("V-STATUS-MISSING", "status"),
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="period_year",
            column_B="task_start",
            or_equal=True,
            meta=meta("V-TASK-TIMEFRAME", "task_code"),
            **pair,
        ),
        ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="task_end",
            column_B="period_year",
            or_equal=True,
            meta=meta("V-TASK-TIMEFRAME", "task_code"),
            **pair,
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="task_unit",
            value_set=responsibility_keys(schema),
            meta=meta("W-NOT-RESPONSIBLE", "task_code"),
        ),
    )
    for expectation in expectations:
        progress.add_expectation(expectation)

    # Rules between elements hold within one submission, so they run on a pivot with one row
    # per submission and one column per element named in a rule.
    columns = rule_columns(schema)
    rules = gx.ExpectationSuite(name=f"{name_prefix}.quy_tac")
    for rule in schema.elements.rules:
        rules.add_expectation(
            ex.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=columns[rule.right],
                column_B=columns[rule.left],
                or_equal=True,
                description=rule.message,
                meta=meta(f"V-RULE-{rule.code}", "value", left=rule.left, right=rule.right),
                **pair,
            )
        )
    return Suites(submissions, values, progress, rules, columns)
