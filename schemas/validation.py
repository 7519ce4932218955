"""Validating batches of submissions with Great Expectations: the engine and the entry points.

`validate` turns a batch of read submissions into one `Verdict` each. All value rows of the
batch go into one pandas frame (likewise submissions, progress rows, and the pivot the rules
between elements need: `schemas.frames`), each suite of `schemas.suites` runs on its
frame, and every failed row comes back through the `row_id` index column to its submission and
Excel cell (`schemas.findings`); `schemas.summary` sums a run up. The cost of
a Great Expectations run is mostly fixed (per expectation, not per row), so batches should be
large (thousands of files), and each suite runs first for whether its expectations hold and
then, for those that do not, for their failing rows. The context and the suites are built once
per process; no suite holds anything of the registry, so its size costs nothing here.

Reading issues are findings already: they are carried into the verdict unchanged, and a file
that could not be read at all is rejected with its reading issue only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from core.deferred import deferred
from core.model import Submission
from schemas.findings import Collector, finding_order
from schemas.frames import (
    FRAMES,
    Batch,
    history_bounds,
    progress_frame,
    rules_frame,
    submissions_frame,
    values_frame,
)
from schemas.schema import Schema
from schemas.suites import (
    ROW_ID,
    Suites,
    build_suites,
)
from schemas.verdict import Verdict

_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID],
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}
# Whether each expectation holds, without the rows that break it.
_CHECK_FORMAT: dict[str, Any] = {"result_format": "BOOLEAN_ONLY"}
_DOCS_SITE = "khcn"

# ---------------------------------------------------------------------------------------------
# Great Expectations: one ephemeral context per process, created on first use


class _Engine:
    """The Great Expectations context, its pandas datasource and the suites of one schema."""

    def __init__(self) -> None:
        # Great Expectations imports scipy.stats and altair (1 s of its 2.6 s) for one
        # expectation no suite here uses (KL divergence) and its charts.
        with deferred("scipy.stats", "altair"):
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
        self._suites: tuple[object, Suites] | None = None
        self._docs_dir: Path | None = None
        self._checkpoints: dict[str, Any] = {}
        self._undocumented: list[Any] = []  # results validated since Data Docs were written

    def suites(self, schema: Schema) -> Suites:
        """The suites of a schema, built once per process while what they read stays equal.

        They read the elements and the plan years only (membership in the registry and the
        catalog is a column of the frames), so runs with other registries share them, and
        telling whether they changed costs nothing that grows with the registry.
        """
        key = (schema.elements, schema.plan_years)
        if self._suites is None or self._suites[0] != key:
            self._suites = (key, build_suites(schema))
            self._checkpoints.clear()
        return self._suites[1]

    def run(self, name: str, frame: pd.DataFrame, suite: Any, docs_dir: Path | None) -> Any:
        """Validates one frame; with `docs_dir`, through a checkpoint that keeps the result for
        the Data Docs `write_docs` writes."""
        with _configurations_kept():
            if docs_dir is None:
                return self._check(name, frame, suite)
            checkpoint = self._checkpoint(name, suite, docs_dir)
            result = checkpoint.run(batch_parameters={"dataframe": frame})
        self._undocumented.extend(result.run_results.items())
        return next(iter(result.run_results.values()))

    def _check(self, name: str, frame: pd.DataFrame, suite: Any) -> Any:
        """Runs the suite in two passes: which expectations fail, then their failing rows.

        Great Expectations' cost per run is mostly fixed per expectation, and asking for every
        failing row more than doubles it; a batch of accepted files has no failing row to ask
        for, and most expectations hold in any batch. The second pass runs the failed
        expectations again, as configured, and returns their rows; a suite whose every
        expectation holds returns the first pass.
        """
        import great_expectations as gx

        batch = self.batches[name].get_batch(batch_parameters={"dataframe": frame})
        checked = batch.validate(suite, result_format=_CHECK_FORMAT)
        failed = [result.expectation_config for result in checked.results if not result.success]
        if not failed:
            return checked
        again = gx.ExpectationSuite(name=suite.name, expectations=failed)
        if len(again.expectations) != len(failed):
            again = suite  # an expectation GX could not rebuild: ask the whole suite
        return batch.validate(again, result_format=_RESULT_FORMAT)

    def write_docs(self) -> None:
        """Writes the Data Docs pages of the results validated since the last call, and the
        site's index, once for the whole run.

        Updating the site after each frame of each batch rebuilt its index every time, reading
        back every result of the process: seconds per batch, more with each.
        """
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        if not self._undocumented:
            return
        suites = {result.suite_name for _, result in self._undocumented}
        resources = [key for key, _ in self._undocumented]
        resources += [ExpectationSuiteIdentifier(name=name) for name in sorted(suites)]
        self._undocumented.clear()
        self.context.build_data_docs(site_names=[_DOCS_SITE], resource_identifiers=resources)

    def _checkpoint(self, name: str, suite: Any, docs_dir: Path) -> Any:
        import great_expectations as gx

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
            self._undocumented.clear()
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
                    actions=[],
                    result_format=_RESULT_FORMAT,
                )
            )
        return self._checkpoints[name]


@contextmanager
def _configurations_kept() -> Iterator[None]:
    """Each expectation's configuration built once while a suite runs.

    Great Expectations builds an expectation's configuration (a pydantic dump of it) anew each
    time it reads one of its arguments: ~90 times per expectation and run, a third of what a
    run costs whatever its size. Nothing changes an expectation while it runs, so its first
    configuration is kept for the run; each expectation is held beside it, so that no other
    takes its `id` meanwhile. Runs are one at a time (the run's thread); the class's own
    property is put back after.
    """
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__["configuration"]
    built: dict[int, tuple[Any, Any]] = {}

    def configuration(expectation: Any) -> Any:
        kept = built.get(id(expectation))
        if kept is None:
            kept = built[id(expectation)] = (expectation, original.fget(expectation))
        return kept[1]

    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


_ENGINE: _Engine | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> _Engine:
    """The process's Great Expectations engine (importing GX costs seconds: done once).

    Safe to call from a thread that builds it ahead of use (while the run starts) and from the
    run itself: the second caller waits for the first one's engine.
    """
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE


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
        data_docs_dir: when given, the runs go through checkpoints, and Great Expectations
            Data Docs of them are written into this folder at the end.

    Returns:
        One verdict per submission, in order: reading issues first, then validation findings
        ordered by sheet and cell.
    """
    bounds = history_bounds(history) if submissions else None
    verdicts = _validate(submissions, schema, today, bounds, data_docs_dir)
    if data_docs_dir:
        engine().write_docs()
    return verdicts


def _validate(
    submissions: Sequence[Submission],
    schema: Schema,
    today: date,
    bounds: pd.DataFrame | None,
    data_docs_dir: Path | None,
) -> list[Verdict]:
    verdicts = [Verdict(sub, list(sub.issues)) for sub in submissions]
    readable = [i for i, sub in enumerate(submissions) if not sub.unreadable]
    if not readable:
        return verdicts
    batch = Batch([submissions[i] for i in readable])
    subs = submissions_frame(batch, schema, today)
    values = values_frame(batch, schema, subs, bounds)
    progress = progress_frame(batch, schema, subs)
    rules = rules_frame(batch, schema, values)
    batch.frames = {"nop": subs, "chi_tieu": values, "tien_do": progress, "quy_tac": rules}

    gx = engine()
    suites = gx.suites(schema)
    docs = Path(data_docs_dir) if data_docs_dir else None
    collect = Collector(batch, schema, today)
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
        found = sorted(collect.found.get(position, {}).values(), key=finding_order)
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
    """`validate` over consecutive chunks of `batch_size` submissions.

    The history's bounds are computed once for the whole run: the history holds every unit of
    the run, and grouping it again for each batch would cost it once per batch. Data Docs, when
    asked for, are written once, after the last batch.
    """
    bounds = history_bounds(history) if submissions else None
    verdicts: list[Verdict] = []
    for start in range(0, len(submissions), batch_size):
        chunk = submissions[start : start + batch_size]
        verdicts.extend(_validate(chunk, schema, today, bounds, data_docs_dir))
    if data_docs_dir:
        engine().write_docs()
    return verdicts
