"""Findings from Great Expectations' results: every failed row back to its submission and cell."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from typing import Any

import pandas as pd

from core.codes import PERIOD_CODES, UNIT_CODES
from core.model import CellRef, ProgressRow, Submission, ValueRow, issue
from schemas.frames import Batch, period_facts
from schemas.schema import Schema
from schemas.suites import (
    ROW_ID,
    format_number,
    rule_columns,
)
from schemas.verdict import Finding

_LISTED = 12  # missing elements named in one warning; the rest are counted

# ---------------------------------------------------------------------------------------------
# Findings from results


def _unexpected(result: Any) -> list[int]:
    return [int(item[ROW_ID]) for item in result.result.get("unexpected_index_list") or []]


def _ref(row: ValueRow | ProgressRow, name: str | None) -> CellRef:
    return row.refs.get(name, row.ref) if name else row.ref


def _label_ref(sub: Submission, name: str) -> CellRef | None:
    """The cell a unit or period was read from, when a table column carried it."""
    rows: list[ValueRow | ProgressRow] = [*sub.values, *sub.progress]
    for row in rows:
        if name in row.refs:
            return row.refs[name]
    return None


def _num(value: object) -> str:
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return format_number(value)
    return str(value)


class Collector:
    """Turns failed rows into findings, per submission, once per (code, cell)."""

    def __init__(self, batch: Batch, schema: Schema, today: date) -> None:
        self.batch, self.schema, self.today = batch, schema, today
        self.found: dict[int, dict[tuple[str, str | None], Finding]] = defaultdict(dict)
        self.elements = {e.code: e for e in schema.elements.elements}

    def add(self, sub: int, found: Finding, key: str | None = None) -> None:
        where = key or (f"{found.ref.sheet}!{found.ref.address}" if found.ref else None)
        self.found[sub].setdefault((found.code, where), found)

    def submissions(self, result: Any, frame: pd.DataFrame) -> None:
        years = self.schema.plan_years
        for check in result.results:
            if check.success:
                continue
            meta = check.expectation_config.meta
            code = meta["code"]
            for rid in _unexpected(check):
                sub = self.batch.subs[rid]
                if code in UNIT_CODES:
                    ref = _label_ref(sub, "unit_code")
                elif code in PERIOD_CODES:
                    ref = _label_ref(sub, "period")
                else:
                    ref = None
                _, _, start = period_facts(sub.period)
                left = self.batch.elements_missing.get(rid, [])
                shown = ", ".join(left[:_LISTED])
                if len(left) > _LISTED:
                    shown += f" và {len(left) - _LISTED} chỉ tiêu khác"
                self.add(
                    rid,
                    issue(
                        code,
                        ref,
                        unit=sub.unit_code,
                        period=sub.period,
                        plan_start=years.start,
                        plan_end=years.stop - 1,
                        start=start,
                        today=self.today.strftime("%d/%m/%Y"),
                        count=len(left),
                        elements=shown,
                    ),
                )

    def values(self, result: Any, frame: pd.DataFrame) -> None:
        # Column arrays once: a row lookup per failure (`iloc`) costs far more.
        columns = ("element_task", "task_start", "task_end", "hist_low", "hist_high", "hist_median")
        data = {name: frame[name].to_numpy() for name in columns}
        for check in result.results:
            if check.success:
                continue
            meta = check.expectation_config.meta
            code = meta["code"]
            failed = _unexpected(check)
            if code == "V-ELEMENT-DUPLICATE":
                self._duplicates(failed, frame)
                continue
            for rid in failed:
                sub, row = self.batch.values[rid]
                record = {name: values[rid] for name, values in data.items()}
                element = self.elements.get(row.element_code or "")
                task = record["element_task"]
                if code in ("V-ELEMENT-TASK", "V-TASK-UNKNOWN") or not isinstance(task, str):
                    task = row.task_code
                params = {
                    "unit": self.batch.subs[sub].unit_code,
                    "period": self.batch.subs[sub].period,
                    "task": task,
                    "element": row.element_code,
                    "element_task": record["element_task"],
                    "measure": element.measure if element else "",
                    "value": _num(row.value),
                    "limit": format_number(self.schema.elements.money_limit),
                    "count_limit": format_number(self.schema.elements.count_limit),
                    "start": _num(record["task_start"]),
                    "end": _num(record["task_end"]),
                    "low": _num(max(0.0, record["hist_low"])) if code == "W-OUTLIER" else "",
                    "high": _num(round(record["hist_high"], 1)) if code == "W-OUTLIER" else "",
                    "median": _num(record["hist_median"]),
                }
                ref = _ref(row, meta.get("field"))
                # One warning per task and file is enough to point the unit at it.
                key = f"chi-tieu|{task}" if code == "W-NOT-RESPONSIBLE" else None
                self.add(sub, issue(code, ref, **params), key=key)

    def _duplicates(self, failed: list[int], frame: pd.DataFrame) -> None:
        first: dict[tuple[int, str], ValueRow] = {}
        for rid in sorted(failed):
            sub, row = self.batch.values[rid]
            key = (sub, str(row.element_code))
            if key not in first:
                first[key] = row
                continue
            original = _ref(first[key], "element_code")
            self.add(
                sub,
                issue(
                    "V-ELEMENT-DUPLICATE",
                    _ref(row, "element_code"),
                    element=row.element_code,
                    first=original.address,
                ),
            )

    def progress(self, result: Any, frame: pd.DataFrame) -> None:
        data = {name: frame[name].to_numpy() for name in ("task_start", "task_end")}
        for check in result.results:
            if check.success:
                continue
            meta = check.expectation_config.meta
            code = meta["code"]
            for rid in _unexpected(check):
                sub, row = self.batch.progress[rid]
                record = {name: values[rid] for name, values in data.items()}
                params = {
                    "unit": self.batch.subs[sub].unit_code,
                    "period": self.batch.subs[sub].period,
                    "task": row.task_code,
                    "status": row.status,
                    "start": _num(record["task_start"]),
                    "end": _num(record["task_end"]),
                    "header": meta.get("header"),
                    "sheet": row.ref.sheet,
                }
                key = None
                if code == "V-COLUMN-MISSING":
                    key = f"{row.ref.sheet}|{meta.get('header')}"
                elif code == "W-NOT-RESPONSIBLE":
                    key = f"tien-do|{row.task_code}"
                self.add(sub, issue(code, _ref(row, meta.get("field")), **params), key=key)

    def rules(self, result: Any, frame: pd.DataFrame) -> None:
        columns = rule_columns(self.schema)
        messages = {f"V-RULE-{r.code}": r.message for r in self.schema.elements.rules}
        for check in result.results:
            if check.success:
                continue
            meta = check.expectation_config.meta
            left, right = meta["left"], meta["right"]
            for rid in _unexpected(check):
                record = frame.iloc[rid]
                _, left_row = self.batch.values[int(record["r" + columns[left]])]
                _, right_row = self.batch.values[int(record["r" + columns[right]])]
                left_ref, right_ref = _ref(left_row, "value"), _ref(right_row, "value")
                self.add(
                    rid,
                    issue(
                        meta["code"],
                        left_ref,
                        rule_message=messages[meta["code"]],
                        left=left,
                        right=right,
                        left_cell=left_ref.address,
                        right_cell=right_ref.address,
                        left_value=_num(left_row.value),
                        right_value=_num(right_row.value),
                    ),
                )


def finding_order(found: Finding) -> tuple[int, str, int, int, str]:
    ref = found.ref
    if ref is None:
        return (0, "", 0, 0, found.code)
    return (1, ref.sheet, ref.row, len(ref.column), ref.column)
