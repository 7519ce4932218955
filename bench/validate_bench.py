"""Validation cost per submission against registries of 250, 2,500 and 25,000 units, side by side.

Run: `.venv/bin/python bench/validate_bench.py [--count 3000] [--batch 5000]
[--units 250 2500 25000]`.

Each registry is the shipped schema with communes of 17 synthetic units (those of
`bench/ingest_bench.py`), as many as the size asks. Submissions are built in memory as the
reader would return them (the registry's units in turn, quarters of 2026-2028): once all
accepted, once with about 3% of values wrong and a history of past values of the same units for
the outlier check (the history the ingest flow reads is that of the units being judged).

Printed per registry: the schema's responsibility matrix (who answers for which task; computed
once per schema, by `schemas.schema`, whoever asks first), the first validation of one file
with that schema (what a one-file run pays beyond importing Great Expectations), and the cost
per submission of a run of `count`. Importing Great Expectations and creating its context are
timed apart: they are paid once per process.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from ingest_bench import commune_units  # noqa: E402

from core.model import CellRef, ProgressRow, Submission, ValueRow  # noqa: E402
from core.periods import parse_period  # noqa: E402
from core.settings import Settings  # noqa: E402
from schemas.model import Registry  # noqa: E402
from schemas.schema import Schema, load_schema  # noqa: E402

TODAY = date(2029, 1, 10)
UNITS_PER_COMMUNE = len(commune_units(0))


def synthetic(schema: Schema, count: int, wrong: float = 0.03, seed: int = 57) -> list[Submission]:
    """`count` submissions as the reader returns them, about `wrong` of their values wrong."""
    rng = random.Random(seed)
    units = [u for u in schema.registry.units if u.active]
    periods = [f"{y}Q{q}" for y in (2026, 2027, 2028) for q in (1, 2, 3, 4)]
    layouts = {}
    subs = []
    for n in range(count):
        unit, period = units[n % len(units)], periods[(n // len(units)) % len(periods)]
        key = (unit.code, period)
        if key not in layouts:
            tasks = schema.tasks_due(unit, parse_period(period))
            layouts[key] = (tasks, [e for t in tasks for e in schema.elements_of(t)])
        tasks, elements = layouts[key]
        name = f"sub{n}.xlsx"
        sub = Submission(name, name, 10_000, f"{n:064x}", unit.code, period, "2026.1")
        for i, element in enumerate(elements):
            value: float = rng.randint(0, 40) if element.type != "money" else rng.uniform(1, 900)
            if element.code in ("5.3.3", "5.2.3", "3.1.2"):
                value = 1000
            roll = rng.random() / wrong * 0.03 if wrong else 1.0
            if roll < 0.01:
                value = -value - 1
            elif roll < 0.02 and element.type == "money":
                value *= 1_000_000
            elif roll < 0.03 and element.type == "count":
                value += 0.5
            ref = CellRef(name, "Chỉ tiêu", 10 + i, "E")
            refs = {
                "task_code": CellRef(name, "Chỉ tiêu", 10 + i, "A"),
                "element_code": CellRef(name, "Chỉ tiêu", 10 + i, "B"),
                "value": ref,
            }
            sub.values.append(ValueRow(element.task, element.code, value, value, None, ref, refs))
        for i, task in enumerate(tasks):
            status = "Xong" if wrong and rng.random() < wrong / 3 else "Đang triển khai"
            ref = CellRef(name, "Tiến độ", 10 + i, "A")
            refs = {"task_code": ref, "status": CellRef(name, "Tiến độ", 10 + i, "C")}
            sub.progress.append(
                ProgressRow(task.code, status, "kết quả", None, None, None, ref, refs)
            )
        subs.append(sub)
    return subs


def history_of(schema: Schema, units: set[str] | None = None) -> pd.DataFrame:
    """Past values of `units` (default all) drawn like the synthetic ones: few are unusual."""
    rng = random.Random(7)
    rows = [
        (u.code, e.code, f"2025Q{q}", float(rng.randint(0, 40)))
        for u in schema.registry.units
        if units is None or u.code in units
        for e in schema.elements.elements
        if e.type == "count"
        for q in range(1, 7)
    ]
    return pd.DataFrame(rows, columns=["unit_code", "element_code", "period", "value"])


def with_registry(schema: Schema, size: int) -> Schema:
    """The schema with a registry of whole synthetic communes, at least `size` units."""
    communes = -(-size // UNITS_PER_COMMUNE)
    units = tuple(u for n in range(communes) for u in commune_units(n))
    return replace(schema, registry=Registry(source="bench", units=units))


@dataclass
class Figures:
    units: int
    roles: float  # s, the schema's responsibility matrix
    one_file: float  # s, first validation of one file with this schema
    clean: float  # ms per submission, all accepted
    seeded: float  # ms per submission, ~3% of values wrong, with history
    statuses: Counter[str]


def measure(schema: Schema, count: int, batch: int) -> Figures:
    from schemas.validation import validate, validate_in_batches

    clean, seeded = synthetic(schema, count, wrong=0.0), synthetic(schema, count)
    history = history_of(schema, {s.unit_code for s in seeded if s.unit_code})
    # The first file is validated with a fresh copy of the schema, as a new run loads it.
    fresh = replace(schema)
    started = time.perf_counter()
    _ = fresh.roles
    roles = time.perf_counter() - started
    started = time.perf_counter()
    validate(clean[:1], fresh, today=TODAY)
    one_file = time.perf_counter() - started

    started = time.perf_counter()
    verdicts = validate_in_batches(clean, schema, today=TODAY, batch_size=batch)
    clean_ms = 1000 * (time.perf_counter() - started) / count
    started = time.perf_counter()
    validate_in_batches(seeded, schema, today=TODAY, history=history, batch_size=batch)
    seeded_ms = 1000 * (time.perf_counter() - started) / count
    statuses = Counter(v.status for v in verdicts)
    return Figures(len(schema.registry.units), roles, one_file, clean_ms, seeded_ms, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--units", type=int, nargs="+", default=[250, 2_500, 25_000])
    args = parser.parse_args()

    shipped = load_schema(Settings())
    started = time.perf_counter()
    from schemas.validation import engine

    gx = engine()
    setup = time.perf_counter() - started
    started = time.perf_counter()
    gx.suites(shipped)
    suites = time.perf_counter() - started
    print(f"Great Expectations import + context (once per process): {setup:.2f} s")
    print(f"suites (once per process, whatever the registry): {suites:.3f} s")
    print(f"{args.count} submissions per registry, batches of {args.batch}")

    figures = []
    for size in args.units:
        schema = with_registry(shipped, size)
        figures.append(measure(schema, args.count, args.batch))
        print(f"  {len(schema.registry.units)} units measured", flush=True)

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:<44}" + "".join(f"{c:>12}" for c in cells))

    row("registry units", [f"{f.units:,}" for f in figures])
    row("schema responsibility matrix (s, once)", [f"{f.roles:.2f}" for f in figures])
    row("one-file validate, new schema (s)", [f"{f.one_file:.2f}" for f in figures])
    row("accepted: ms per submission", [f"{f.clean:.3f}" for f in figures])
    row("~3% wrong, with history: ms per submission", [f"{f.seeded:.3f}" for f in figures])
    row("accepted verdicts", [str(f.statuses.get("accepted", 0)) for f in figures])


if __name__ == "__main__":
    main()
