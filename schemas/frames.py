"""The frames validation runs on, one per kind of row, for a whole batch of submissions.

`nop` has one row per submission, `chi_tieu` one per value row, `tien_do` one per progress row
and `quy_tac` the values the rules between elements compare, pivoted per submission. Every
frame is indexed by `row_id`, its row's position in the batch. Derived columns (an element's
task and type, a task's years, a unit's history bounds, whether a code is known) are computed
here, vectorised; Great Expectations only compares them.

What a batch looks up in the schema is indexed once per schema (`lookups`): a registry may list
tens of thousands of units, and a batch then costs what its own rows do, whatever the size of
the registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from core.model import ProgressRow, Submission, ValueRow
from core.periods import parse_period
from core.text import fold
from schemas.model import Element, Task, Unit
from schemas.schema import Schema
from schemas.suites import (
    PERIOD_PATTERN,
    ROW_ID,
    rule_columns,
)

# Robust z-score (Iglewicz and Hoaglin's modified z): a value is an outlier when
# |x - median| > 3.5 × 1.4826 × MAD of the unit's own history for that element.
OUTLIER_Z = 3.5
MIN_HISTORY = 4  # fewer past values say nothing about what is unusual
_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533  # used when more than half of the history is the same number

FRAMES = ("nop", "chi_tieu", "tien_do", "quy_tac")

# ---------------------------------------------------------------------------------------------
# The schema, indexed


@dataclass(frozen=True)
class Lookups:
    """A schema's units, tasks and elements by code, and the pivot columns of its rules."""

    units: dict[str, Unit]
    elements_of: dict[str, tuple[Element, ...]]  # task code -> its elements, in schema order
    tasks: dict[str, Task]
    elements: dict[str, Element]
    rule_columns: dict[str, str]

    @classmethod
    def of(cls, schema: Schema) -> Lookups:
        return cls(
            units={u.code: u for u in schema.registry.units},
            elements_of={t.code: schema.elements_of(t) for t in schema.catalog.tasks},
            tasks={t.code: t for t in schema.catalog.tasks},
            elements={e.code: e for e in schema.elements.elements},
            rule_columns=rule_columns(schema),
        )


_LOOKUPS: tuple[Schema, Lookups] | None = None


def lookups(schema: Schema) -> Lookups:
    """The schema's `Lookups`, built on first use and kept for the last schema seen."""
    global _LOOKUPS
    cached = _LOOKUPS
    if cached is None or cached[0] is not schema:
        cached = (schema, Lookups.of(schema))
        _LOOKUPS = cached
    return cached[1]


# ---------------------------------------------------------------------------------------------
# Frames


@dataclass
class Batch:
    """The rows of a batch in the order of the frames' `row_id`."""

    subs: list[Submission]
    values: list[tuple[int, ValueRow]] = field(default_factory=list)
    # Per submission: the elements it owes and left without a value or a note.
    elements_missing: dict[int, list[str]] = field(default_factory=dict)
    progress: list[tuple[int, ProgressRow]] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def period_facts(period: str | None) -> tuple[float, float, str | None]:
    """(year, start as ordinal, start as dd/mm/yyyy) of a canonical period; NaN when unusable."""
    if period is None or not re.match(PERIOD_PATTERN, period):
        return math.nan, math.nan, None
    try:
        parsed = parse_period(period)
    except ValueError:
        return math.nan, math.nan, None
    return float(parsed.year), float(parsed.start.toordinal()), parsed.start.strftime("%d/%m/%Y")


def submissions_frame(batch: Batch, schema: Schema, today: date) -> pd.DataFrame:
    look = lookups(schema)
    needs: dict[tuple[str, str], tuple[float, float]] = {}
    owed: dict[tuple[str, str], list[str]] = {}
    rows = []
    for i, sub in enumerate(batch.subs):
        year, start, _ = period_facts(sub.period)
        unit = look.units.get(sub.unit_code) if sub.unit_code else None
        need = (math.nan, math.nan)
        missing = math.nan
        table_found = not any(x.code == "R-TABLE-NOT-FOUND" for x in sub.issues)
        in_plan = not math.isnan(year) and int(year) in schema.plan_years
        if unit and unit.active and table_found and in_plan:
            key = (unit.code, str(sub.period))
            if key not in needs:
                tasks = schema.tasks_due(unit, parse_period(str(sub.period)))
                owed[key] = [e.code for t in tasks for e in look.elements_of[t.code]]
                needs[key] = (1.0 if owed[key] else math.nan, 1.0 if tasks else math.nan)
            need = needs[key]
            if sub.values:
                answered = {r.element_code for r in sub.values if r.value is not None or r.note}
                left = [code for code in owed[key] if code not in answered]
                batch.elements_missing[i] = left
                missing = float(len(left))
        rows.append(
            (
                i,
                sub.unit_code,
                math.nan if sub.unit_code is None else float(unit is not None),
                float(unit.active) if unit else math.nan,
                sub.period,
                year,
                start,
                len(sub.values),
                need[0],
                len(sub.progress),
                need[1],
                missing,
            )
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            ROW_ID,
            "unit_code",
            "unit_code_listed",
            "unit_code_active",
            "period",
            "period_year",
            "period_start_ord",
            "n_values",
            "need_values",
            "n_progress",
            "need_progress",
            "n_elements_missing",
        ],
    )
    frame["today_ord"] = float(today.toordinal())
    return frame


def history_bounds(history: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per (unit, element): median and the robust bounds of its past values.

    Computed once per run (`schemas.validation.validate_in_batches`), not per batch: the
    history is that of every unit of the run.
    """
    if history is None or history.empty:
        return None
    past = history.dropna(subset=["value"])
    grouped = past.groupby(["unit_code", "element_code"])["value"]
    stats = grouped.agg(n="count", median="median")
    deviation = (past["value"] - grouped.transform("median")).abs()
    keys = [past["unit_code"], past["element_code"]]
    stats["mad"] = deviation.groupby(keys).median()
    stats["mean_ad"] = deviation.groupby(keys).mean()
    scale = (stats["mad"] * _MAD_TO_SIGMA).where(
        stats["mad"] > 0, stats["mean_ad"] * _MEAN_AD_TO_SIGMA
    )
    usable = (stats["n"] >= MIN_HISTORY) & (scale > 0)
    stats["hist_low"] = (stats["median"] - OUTLIER_Z * scale).where(usable)
    stats["hist_high"] = (stats["median"] + OUTLIER_Z * scale).where(usable)
    return stats.loc[usable, ["median", "hist_low", "hist_high"]].rename(
        columns={"median": "hist_median"}
    )


def values_frame(
    batch: Batch, schema: Schema, subs: pd.DataFrame, bounds: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per value row; `bounds` from `history_bounds`, None without history."""
    sub_index, tasks, elements, values = [], [], [], []
    for i, sub in enumerate(batch.subs):
        for row in sub.values:
            batch.values.append((i, row))
            sub_index.append(i)
            tasks.append(row.task_code)
            elements.append(row.element_code)
            values.append(math.nan if row.value is None else float(row.value))
    frame = pd.DataFrame(
        {
            ROW_ID: np.arange(len(sub_index)),
            "sub": np.asarray(sub_index, dtype=np.int64),
            "task_code": pd.Series(tasks, dtype=object),
            "element_code": pd.Series(elements, dtype=object),
            "value": np.asarray(values, dtype=float),
        }
    )
    look = lookups(schema)
    frame["element_task"] = frame["element_code"].map({c: e.task for c, e in look.elements.items()})
    frame["element_type"] = frame["element_code"].map({c: e.type for c, e in look.elements.items()})
    frame["element_code_listed"] = _listed(frame["element_code"], look.elements)
    frame["task_code_listed"] = _listed(frame["task_code"], look.tasks)
    frame["task_known"] = frame["task_code"].where(frame["task_code_listed"] == 1)
    reported = frame["value"].notna()
    # The task a value belongs to: its element's, else the one written on the row.
    task = frame["element_task"].fillna(frame["task_known"]).where(reported)
    _add_task_columns(frame, task, schema, subs)
    frame["value_whole"] = frame["value"].round()
    if bounds is None:
        frame["hist_low"] = frame["hist_high"] = frame["hist_median"] = math.nan
    else:
        keys = pd.MultiIndex.from_arrays([frame["unit"], frame["element_code"]])
        found = bounds.reindex(keys)
        for column in ("hist_low", "hist_high", "hist_median"):
            frame[column] = found[column].to_numpy()
    return frame


def _add_task_columns(
    frame: pd.DataFrame, task: pd.Series, schema: Schema, subs: pd.DataFrame
) -> None:
    """Task years, period year and whether the unit answers for the task, for rows whose task
    counts."""
    look = lookups(schema)
    starts = {c: float(t.timeframe.start_year) for c, t in look.tasks.items()}
    ends = {c: float(t.timeframe.end_year) for c, t in look.tasks.items()}
    of_sub = frame["sub"].to_numpy()
    frame["unit"] = subs["unit_code"].to_numpy()[of_sub]
    year = subs["period_year"].to_numpy()[of_sub]
    # A period outside the plan is reported once (V-PERIOD-PLAN), not again on every row.
    inside = (year >= schema.plan_years.start) & (year < schema.plan_years.stop)
    frame["period_year"] = np.where(inside, year, np.nan)
    frame["task_start"] = task.map(starts)
    frame["task_end"] = task.map(ends)
    # Active units only, as the submissions frame found them (not a set of the registry's).
    unit = frame["unit"].where(subs["unit_code_active"].to_numpy()[of_sub] == 1)
    frame["task_unit_responsible"] = _responsible(task, unit, schema.roles)


def _listed(codes: pd.Series, known: Mapping[str, object]) -> pd.Series:
    """1 where the code is known, 0 where not, missing where there is no code."""
    return codes.isin(known.keys()).astype(float).where(codes.notna())


def _responsible(
    task: pd.Series, unit: pd.Series, roles: Mapping[tuple[str, str], object]
) -> pd.Series:
    """1 where the unit leads or coordinates the task, 0 where not, missing where either is.

    One probe of the schema's roles per row: the cost follows the batch, not the registry.
    """
    both = (task.notna() & unit.notna()).to_numpy()
    found = np.full(len(task), np.nan)
    pairs = zip(task.to_numpy()[both], unit.to_numpy()[both], strict=True)
    found[both] = [pair in roles for pair in pairs]
    return pd.Series(found, index=task.index)


def progress_frame(batch: Batch, schema: Schema, subs: pd.DataFrame) -> pd.DataFrame:
    sub_index, tasks, statuses, has_task, has_status, content = [], [], [], [], [], []
    folded: dict[str, str] = {}  # statuses repeat; folding is costly
    for i, sub in enumerate(batch.subs):
        for row in sub.progress:
            batch.progress.append((i, row))
            sub_index.append(i)
            tasks.append(row.task_code)
            if row.status and row.status not in folded:
                folded[row.status] = fold(row.status)
            statuses.append(folded[row.status] if row.status else None)
            has_task.append(1 if "task_code" in row.refs else 0)
            has_status.append(1 if "status" in row.refs else 0)
            texts = (row.status, row.results, row.difficulties, row.proposals, row.evidence)
            content.append(any(texts))
    frame = pd.DataFrame(
        {
            ROW_ID: np.arange(len(sub_index)),
            "sub": np.asarray(sub_index, dtype=np.int64),
            "task_code": pd.Series(tasks, dtype=object),
            "status_key": pd.Series(statuses, dtype=object),
            "has_task_column": np.asarray(has_task, dtype=np.int64),
            "has_status_column": np.asarray(has_status, dtype=np.int64),
        }
    )
    look = lookups(schema)
    frame["task_code_listed"] = _listed(frame["task_code"], look.tasks)
    known = frame["task_code"].where(frame["task_code_listed"] == 1)
    with_content = pd.Series(content, dtype=bool)
    _add_task_columns(frame, known.where(with_content), schema, subs)
    # A status is owed for a task the unit is responsible for in that year.
    role = _responsible(known, frame["unit"], schema.roles) == 1
    start = known.map({c: t.timeframe.start_year for c, t in look.tasks.items()})
    end = known.map({c: t.timeframe.end_year for c, t in look.tasks.items()})
    in_years = (frame["period_year"] >= start) & (frame["period_year"] <= end)
    frame["needs_status"] = (role & in_years & (frame["has_status_column"] == 1)).astype(np.int64)
    return frame


def rules_frame(batch: Batch, schema: Schema, values: pd.DataFrame) -> pd.DataFrame:
    """One row per submission with the first value of each element named in a rule.

    Great Expectations has no expectation across rows of one group, so the rows are pivoted
    here and the rule itself (`left <= right`) is checked by GX on the pivot.
    """
    columns = lookups(schema).rule_columns
    wanted = values[values["element_code"].isin(list(columns)) & values["value"].notna()]
    first = wanted.drop_duplicates(["sub", "element_code"])
    frame = pd.DataFrame({ROW_ID: np.arange(len(batch.subs))})
    for code, column in columns.items():
        rows = first[first["element_code"] == code]
        frame[column] = pd.Series(rows["value"].to_numpy(), index=rows["sub"].to_numpy())
        frame["r" + column] = pd.Series(rows[ROW_ID].to_numpy(), index=rows["sub"].to_numpy())
    return frame
