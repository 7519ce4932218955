"""Validating batches of submissions with Great Expectations, and summarising a run.

`validate` turns a batch of read submissions into one `Verdict` each. All value rows of the
batch go into one pandas frame (likewise submissions, progress rows, and the pivot the rules
between elements need), each suite of `schemas.suites` runs once on its frame, and every failed
row comes back through the `row_id` index column to its submission and Excel cell. The cost of
a Great Expectations run is mostly fixed, so batches should be large (thousands of files).

Reading issues are findings already: they are carried into the verdict unchanged, and a file
that could not be read at all is rejected with its reading issue only.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.model import CellRef, ProgressRow, Submission, ValueRow
from core.periods import parse_period
from core.text import fold
from schemas.schema import Schema
from schemas.suites import (
    PERIOD_CODES,
    PERIOD_PATTERN,
    ROW_ID,
    UNIT_CODES,
    Suites,
    build_suites,
    finding,
    format_number,
    responsibility_keys,
    rule_columns,
)
from schemas.verdict import Finding, Status, Verdict

if TYPE_CHECKING:
    from rich.console import RenderableType

# Robust z-score (Iglewicz and Hoaglin's modified z): a value is an outlier when
# |x - median| > 3.5 × 1.4826 × MAD of the unit's own history for that element.
OUTLIER_Z = 3.5
MIN_HISTORY = 4  # fewer past values say nothing about what is unusual
_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533  # used when more than half of the history is the same number

FRAMES = ("nop", "chi_tieu", "tien_do", "quy_tac")
_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID],
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}
_DOCS_SITE = "khcn"
_LISTED = 12  # missing elements named in one warning; the rest are counted


# ---------------------------------------------------------------------------------------------
# Great Expectations: one ephemeral context per process, created on first use


class _Engine:
    """The Great Expectations context, its pandas datasource and the suites of one schema."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        source = self.context.data_sources.add_pandas("khcn")
        self.batches = {
            name: source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("lo")
            for name in FRAMES
        }
        self._suites: tuple[Schema, Suites] | None = None
        self._docs_dir: Path | None = None
        self._checkpoints: dict[str, Any] = {}

    def suites(self, schema: Schema) -> Suites:
        if self._suites is None or self._suites[0] is not schema:
            self._suites = (schema, build_suites(schema))
            self._checkpoints.clear()
        return self._suites[1]

    def run(self, name: str, frame: pd.DataFrame, suite: Any, docs_dir: Path | None) -> Any:
        """Validates one frame; with `docs_dir`, through a checkpoint that updates Data Docs."""
        if docs_dir is None:
            batch = self.batches[name].get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format=_RESULT_FORMAT)
        checkpoint = self._checkpoint(name, suite, docs_dir)
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        return next(iter(result.run_results.values()))

    def _checkpoint(self, name: str, suite: Any, docs_dir: Path) -> Any:
        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction

        if self._docs_dir != docs_dir:
            if self._docs_dir is not None:
                self.context.delete_data_docs_site(_DOCS_SITE)
            self.context.add_data_docs_site(
                site_name=_DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
            self._docs_dir = docs_dir
            self._checkpoints.clear()
        if name not in self._checkpoints:
            for store, key in (
                (self.context.checkpoints, name),
                (self.context.validation_definitions, name),
                (self.context.suites, suite.name),
            ):
                if any(item.name == key for item in store.all()):
                    store.delete(key)
            saved = self.context.suites.add(suite.copy() if hasattr(suite, "copy") else suite)
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=self.batches[name], suite=saved)
            )
            self._checkpoints[name] = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[UpdateDataDocsAction(name="data_docs", site_names=[_DOCS_SITE])],
                    result_format=_RESULT_FORMAT,
                )
            )
        return self._checkpoints[name]


_ENGINE: _Engine | None = None


def engine() -> _Engine:
    """The process's Great Expectations engine (importing GX costs seconds: done once)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


# ---------------------------------------------------------------------------------------------
# Frames


@dataclass
class _Batch:
    """The rows of a batch in the order of the frames' `row_id`."""

    subs: list[Submission]
    values: list[tuple[int, ValueRow]] = field(default_factory=list)
    # Per submission: the elements it owes and left without a value or a note.
    elements_missing: dict[int, list[str]] = field(default_factory=dict)
    progress: list[tuple[int, ProgressRow]] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _period_facts(period: str | None) -> tuple[float, float, str | None]:
    """(year, start as ordinal, start as dd/mm/yyyy) of a canonical period; NaN when unusable."""
    if period is None or not re.match(PERIOD_PATTERN, period):
        return math.nan, math.nan, None
    try:
        parsed = parse_period(period)
    except ValueError:
        return math.nan, math.nan, None
    return float(parsed.year), float(parsed.start.toordinal()), parsed.start.strftime("%d/%m/%Y")


def _submissions_frame(batch: _Batch, schema: Schema, today: date) -> pd.DataFrame:

    needs: dict[tuple[str, str], tuple[float, float]] = {}
    owed: dict[tuple[str, str], list[str]] = {}
    rows = []
    for i, sub in enumerate(batch.subs):
        year, start, _ = _period_facts(sub.period)
        unit = schema.registry.unit(sub.unit_code) if sub.unit_code else None
        need = (math.nan, math.nan)
        missing = math.nan
        table_found = not any(x.code == "R-TABLE-NOT-FOUND" for x in sub.issues)
        in_plan = not math.isnan(year) and int(year) in schema.plan_years
        if unit and unit.active and table_found and in_plan:
            key = (unit.code, str(sub.period))
            if key not in needs:
                tasks = schema.tasks_due(unit, parse_period(str(sub.period)))
                owed[key] = [e.code for t in tasks for e in schema.elements_of(t)]
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
                sub.unit_code if unit else None,
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
            "unit_known",
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


def _history_bounds(history: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per (unit, element): median and the robust bounds of its past values."""
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


def _values_frame(
    batch: _Batch, schema: Schema, subs: pd.DataFrame, history: pd.DataFrame | None
) -> pd.DataFrame:
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
    by_code = {e.code: e for e in schema.elements.elements}
    task_codes = {t.code for t in schema.catalog.tasks}
    frame["element_task"] = frame["element_code"].map({c: e.task for c, e in by_code.items()})
    frame["element_type"] = frame["element_code"].map({c: e.type for c, e in by_code.items()})
    frame["task_known"] = frame["task_code"].where(frame["task_code"].isin(task_codes))
    reported = frame["value"].notna()
    # The task a value belongs to: its element's, else the one written on the row.
    task = frame["element_task"].fillna(frame["task_known"]).where(reported)
    _add_task_columns(frame, task, schema, subs)
    frame["value_whole"] = frame["value"].round()
    bounds = _history_bounds(history)
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
    """Task years, period year and the `task|unit` key, for rows whose task counts."""
    starts = {t.code: float(t.timeframe.start_year) for t in schema.catalog.tasks}
    ends = {t.code: float(t.timeframe.end_year) for t in schema.catalog.tasks}
    active = {u.code for u in schema.registry.units if u.active}
    frame["unit"] = subs["unit_code"].to_numpy()[frame["sub"].to_numpy()]
    year = subs["period_year"].to_numpy()[frame["sub"].to_numpy()]
    # A period outside the plan is reported once (V-PERIOD-PLAN), not again on every row.
    inside = (year >= schema.plan_years.start) & (year < schema.plan_years.stop)
    frame["period_year"] = np.where(inside, year, np.nan)
    frame["task_start"] = task.map(starts)
    frame["task_end"] = task.map(ends)
    unit = frame["unit"].where(frame["unit"].isin(active))
    frame["task_unit"] = (task + "|" + unit).where(task.notna() & unit.notna())


def _progress_frame(batch: _Batch, schema: Schema, subs: pd.DataFrame) -> pd.DataFrame:
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
    task_codes = {t.code for t in schema.catalog.tasks}
    known = frame["task_code"].where(frame["task_code"].isin(task_codes))
    with_content = pd.Series(content, dtype=bool)
    _add_task_columns(frame, known.where(with_content), schema, subs)
    # A status is owed for a task the unit is responsible for in that year.
    role = (known + "|" + frame["unit"]).isin(set(responsibility_keys(schema)))
    start = known.map({t.code: t.timeframe.start_year for t in schema.catalog.tasks})
    end = known.map({t.code: t.timeframe.end_year for t in schema.catalog.tasks})
    in_years = (frame["period_year"] >= start) & (frame["period_year"] <= end)
    frame["needs_status"] = (role & in_years & (frame["has_status_column"] == 1)).astype(np.int64)
    return frame


def _rules_frame(batch: _Batch, schema: Schema, values: pd.DataFrame) -> pd.DataFrame:
    """One row per submission with the first value of each element named in a rule.

    Great Expectations has no expectation across rows of one group, so the rows are pivoted
    here and the rule itself (`left <= right`) is checked by GX on the pivot.
    """
    columns = rule_columns(schema)
    wanted = values[values["element_code"].isin(list(columns)) & values["value"].notna()]
    first = wanted.drop_duplicates(["sub", "element_code"])
    frame = pd.DataFrame({ROW_ID: np.arange(len(batch.subs))})
    for code, column in columns.items():
        rows = first[first["element_code"] == code]
        frame[column] = pd.Series(rows["value"].to_numpy(), index=rows["sub"].to_numpy())
        frame["r" + column] = pd.Series(rows[ROW_ID].to_numpy(), index=rows["sub"].to_numpy())
    return frame


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


class _Collector:
    """Turns failed rows into findings, per submission, once per (code, cell)."""

    def __init__(self, batch: _Batch, schema: Schema, today: date) -> None:
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
                _, _, start = _period_facts(sub.period)
                left = self.batch.elements_missing.get(rid, [])
                shown = ", ".join(left[:_LISTED])
                if len(left) > _LISTED:
                    shown += f" và {len(left) - _LISTED} chỉ tiêu khác"
                self.add(
                    rid,
                    finding(
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
                self.add(sub, finding(code, ref, **params), key=key)

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
                finding(
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
                self.add(sub, finding(code, _ref(row, meta.get("field")), **params), key=key)

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
                    finding(
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


def _order(found: Finding) -> tuple[int, str, int, int, str]:
    ref = found.ref
    if ref is None:
        return (0, "", 0, 0, found.code)
    return (1, ref.sheet, ref.row, len(ref.column), ref.column)


# ---------------------------------------------------------------------------------------------
# Entry points


def validate(
    submissions: Sequence[Submission],
    schema: Schema,
    *,
    today: date,
    history: pd.DataFrame | None = None,
    data_docs_dir: Path | None = None,
) -> list[Verdict]:
    """Validates a batch of submissions against the task schema, in one run per suite.

    Args:
        submissions: the batch, as read (`sources.read`); the caller may chunk a large run.
        schema: the task schema the suites are built from.
        today: the run date; a period that starts after it is an error.
        history: past accepted values, columns `unit_code, element_code, period, value`, for
            the outlier warnings; without it no value is flagged as unusual.
        data_docs_dir: when given, the runs go through checkpoints that write Great
            Expectations Data Docs into this folder.

    Returns:
        One verdict per submission, in order: reading issues first, then validation findings
        ordered by sheet and cell.
    """
    verdicts = [Verdict(sub, list(sub.issues)) for sub in submissions]
    readable = [i for i, sub in enumerate(submissions) if not sub.unreadable]
    if not readable:
        return verdicts
    batch = _Batch([submissions[i] for i in readable])
    subs = _submissions_frame(batch, schema, today)
    values = _values_frame(batch, schema, subs, history)
    progress = _progress_frame(batch, schema, subs)
    rules = _rules_frame(batch, schema, values)
    batch.frames = {"nop": subs, "chi_tieu": values, "tien_do": progress, "quy_tac": rules}

    gx = engine()
    suites = gx.suites(schema)
    docs = Path(data_docs_dir) if data_docs_dir else None
    collect = _Collector(batch, schema, today)
    for name, suite, handle in (
        ("nop", suites.submissions, collect.submissions),
        ("chi_tieu", suites.values, collect.values),
        ("tien_do", suites.progress, collect.progress),
        ("quy_tac", suites.rules, collect.rules),
    ):
        frame = batch.frames[name]
        if frame.empty:
            continue
        handle(gx.run(name, frame, suite, docs), frame)
    for position, index in enumerate(readable):
        found = sorted(collect.found.get(position, {}).values(), key=_order)
        verdicts[index].findings.extend(found)
        if verdicts[index].errors:
            # A rejected file is sent again whole; elements it seems to lack are mostly rows
            # the errors already point at.
            verdicts[index].findings[:] = [
                f for f in verdicts[index].findings if f.code != "W-ELEMENTS-MISSING"
            ]
    return verdicts


def validate_in_batches(
    submissions: Sequence[Submission],
    schema: Schema,
    *,
    today: date,
    history: pd.DataFrame | None = None,
    batch_size: int = 5000,
    data_docs_dir: Path | None = None,
) -> list[Verdict]:
    """`validate` over consecutive chunks of `batch_size` submissions."""
    verdicts: list[Verdict] = []
    for start in range(0, len(submissions), batch_size):
        chunk = submissions[start : start + batch_size]
        verdicts.extend(
            validate(chunk, schema, today=today, history=history, data_docs_dir=data_docs_dir)
        )
    return verdicts


# ---------------------------------------------------------------------------------------------
# Run summary

_STATUS_LABELS: dict[Status, str] = {
    "accepted": "Được chấp nhận",
    "warned": "Chấp nhận, có cảnh báo",
    "rejected": "Bị từ chối",
}


@dataclass(frozen=True)
class RunSummary:
    """Counts by verdict and the most frequent findings of a run."""

    total: int
    by_status: dict[Status, int]
    top_findings: list[tuple[str, str, int, int]]  # code, severity, findings, files
    by_unit: dict[str, dict[Status, int]]

    def table_rows(self) -> list[dict[str, object]]:
        """Rows for a Prefect table artifact: one per verdict, then one per frequent code."""
        rows: list[dict[str, object]] = [
            {"mục": _STATUS_LABELS[s], "mã": s, "số tệp": self.by_status.get(s, 0), "số lỗi": ""}
            for s in _STATUS_LABELS
        ]
        rows += [
            {"mục": "lỗi" if sev == "error" else "cảnh báo", "mã": code, "số tệp": files,
             "số lỗi": n}
            for code, sev, n, files in self.top_findings
        ]  # fmt: skip
        return rows

    def markdown(self) -> str:
        """A markdown report for a Prefect artifact."""
        lines = [
            f"# Kết quả kiểm tra: {self.total} tệp",
            "",
            "| Kết quả | Số tệp |",
            "|---|---:|",
        ]
        lines += [f"| {_STATUS_LABELS[s]} | {self.by_status.get(s, 0)} |" for s in _STATUS_LABELS]
        if self.top_findings:
            lines += ["", "## Lỗi, cảnh báo thường gặp", "", "| Mã | Loại | Số lần | Số tệp |"]
            lines.append("|---|---|---:|---:|")
            for code, severity, count, files in self.top_findings:
                kind = "lỗi" if severity == "error" else "cảnh báo"
                lines.append(f"| `{code}` | {kind} | {count} | {files} |")
        return "\n".join(lines) + "\n"

    def renderable(self) -> RenderableType:
        """Rich tables for the terminal."""
        from rich.console import Group
        from rich.table import Table

        verdicts = Table(title=f"Kết quả kiểm tra: {self.total} tệp")
        verdicts.add_column("Kết quả")
        verdicts.add_column("Số tệp", justify="right")
        for status, label in _STATUS_LABELS.items():
            verdicts.add_row(label, str(self.by_status.get(status, 0)))
        if not self.top_findings:
            return verdicts
        top = Table(title="Lỗi, cảnh báo thường gặp")
        for name, justify in (("Mã", "left"), ("Loại", "left"), ("Số lần", "right"),
                              ("Số tệp", "right")):  # fmt: skip
            top.add_column(name, justify=justify)  # type: ignore[arg-type]
        for code, severity, count, files in self.top_findings:
            top.add_row(code, "lỗi" if severity == "error" else "cảnh báo", str(count), str(files))
        return Group(verdicts, top)


def summarize(verdicts: Iterable[Verdict], top: int = 10) -> RunSummary:
    """Counts verdicts by status and findings by code.

    Args:
        verdicts: the run's verdicts.
        top: how many of the most frequent codes to keep.
    """
    by_status: Counter[Status] = Counter()
    counts: Counter[str] = Counter()
    files: Counter[str] = Counter()
    severity: dict[str, str] = {}
    by_unit: dict[str, Counter[Status]] = defaultdict(Counter)
    total = 0
    for verdict in verdicts:
        total += 1
        by_status[verdict.status] += 1
        by_unit[verdict.submission.unit_code or "?"][verdict.status] += 1
        for found in verdict.findings:
            counts[found.code] += 1
            severity[found.code] = found.severity
        for code in {f.code for f in verdict.findings}:
            files[code] += 1
    return RunSummary(
        total=total,
        by_status={s: by_status.get(s, 0) for s in _STATUS_LABELS},
        top_findings=[(c, severity[c], n, files[c]) for c, n in counts.most_common(top)],
        by_unit={unit: dict(c) for unit, c in sorted(by_unit.items())},
    )
