"""Expectation suites built from the task schema, and the validation error codes.

The catalog, the data elements, the rules between them and the unit registry are the only
source of truth: every value set, bound and rule of the suites below is read from the `Schema`,
never from a hand-kept JSON suite. Validation (`schemas.validation`) feeds the suites one
pandas frame per kind of row (`schemas.frames`), for a whole batch of submissions at once:

- `nop` (one row per submission): unit, period, whether the expected tables are there;
- `chi_tieu` (one row per value row): codes, value, derived columns such as the element's task;
- `tien_do` (one row per progress row): task, status;
- `quy_tac` (one row per submission): the values of the elements named in the rules, pivoted.

Each frame has the integer index column `row_id`, which maps every failure back to the
submission and the Excel cell. Derived columns (an element's task and type, a task's years, a
unit's history bounds) are computed in pandas, vectorised; Great Expectations compares them.

Membership in the registry and the catalog (is the unit listed, is it active, is the task or
element known, does the unit answer for the task) is a derived column too, 1 or 0 (missing
where there is nothing to check), and the suites expect 1. The suites thus hold no list that
grows with the registry: Great Expectations serialises an expectation's arguments several
times per run, which cost seconds per batch when they held every unit code.

Each expectation carries its error code in `meta["code"]` and, in `meta["field"]`, the column
of the unit's table the finding points at. Every code is in the one registry of `core.codes`
with its severity, its Vietnamese message and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def build_suites(schema: Schema, name_prefix: str = "khcn") -> Suites:
    """Builds the expectation suites of a schema (Great Expectations is imported here).

    Args:
        schema: the loaded task schema.
        name_prefix: prefix of the suite names, as shown in Data Docs.

    Returns:
        One suite per frame; see the module docstring for the frames' columns.
    """
    columns = rule_columns(schema)
    return Suites(
        _suite(f"{name_prefix}.nop", _submission_expectations(schema)),
        _suite(f"{name_prefix}.chi_tieu", _value_expectations(schema)),
        _suite(f"{name_prefix}.tien_do", _progress_expectations(schema)),
        _suite(f"{name_prefix}.quy_tac", _rule_expectations(schema, columns)),
        columns,
    )


# Pair expectations skip rows where either side is missing: missing means "not applicable".
_PAIR: dict[str, Any] = {"ignore_row_if": "either_value_is_missing"}


def meta(code: str, field: str | None = None, **extra: str) -> dict[str, Any]:
    """An expectation's meta: its error code and the unit's column a finding points at."""
    return {"code": code, "field": field, **extra}


def _suite(name: str, expectations: tuple[Any, ...]) -> ExpectationSuite:
    import great_expectations as gx

    # Given whole rather than added one by one: adding asks the current Great Expectations
    # context whether the suite is saved, so building suites before the engine existed failed.
    return gx.ExpectationSuite(name=name, expectations=list(expectations))


def _listed(ex: Any, column: str, found_meta: dict[str, Any]) -> Any:
    """A 1/0 membership column (missing: nothing to check) must be 1."""
    return ex.ExpectColumnValuesToBeInSet(column=column, value_set=[1], meta=found_meta)


def _submission_expectations(schema: Schema) -> tuple[Any, ...]:
    """`nop`, one row per submission: unit, period, the tables it owes."""
    import great_expectations as gx

    ex = gx.expectations
    years = schema.plan_years
    pair = _PAIR
    return (
        _listed(ex, "unit_code_listed", meta("V-UNIT-UNKNOWN", "unit_code")),
        # Missing for an unknown unit: that is already V-UNIT-UNKNOWN.
        _listed(ex, "unit_code_active", meta("V-UNIT-INACTIVE", "unit_code")),
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


def _value_expectations(schema: Schema) -> tuple[Any, ...]:
    """`chi_tieu`, one row per value row: codes, values, timeframes, responsibility, history."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    ex = gx.expectations
    pair = _PAIR
    return (
        _listed(ex, "task_code_listed", meta("V-TASK-UNKNOWN", "task_code")),
        _listed(ex, "element_code_listed", meta("V-ELEMENT-UNKNOWN", "element_code")),
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
        # Set for a reported value of a known task and an active unit: 1 when the unit leads
        # or coordinates the task.
        _listed(ex, "task_unit_responsible", meta("W-NOT-RESPONSIBLE", "value")),
        # Bounds from the unit's own history (robust z-score; see `schemas.frames`).
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


def _progress_expectations(schema: Schema) -> tuple[Any, ...]:
    """`tien_do`, one row per progress row: task, columns, status, timeframe, responsibility."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    ex = gx.expectations
    pair = _PAIR
    return (
        _listed(ex, "task_code_listed", meta("V-TASK-UNKNOWN", "task_code")),
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
        _listed(ex, "task_unit_responsible", meta("W-NOT-RESPONSIBLE", "task_code")),
    )


def _rule_expectations(schema: Schema, columns: dict[str, str]) -> tuple[Any, ...]:
    """`quy_tac`: rules between elements hold within one submission, so they run on a pivot
    with one row per submission and one column per element named in a rule."""
    import great_expectations as gx

    return tuple(
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=columns[rule.right],
            column_B=columns[rule.left],
            or_equal=True,
            description=rule.message,
            meta=meta(f"V-RULE-{rule.code}", "value", left=rule.left, right=rule.right),
            **_PAIR,
        )
        for rule in schema.elements.rules
    )
