"""Validation cost per submission at province scale: 10,000 synthetic submissions in batches.

Run: `.venv/bin/python bench/validate_bench.py [--count 10000] [--batch 5000]`.
Submissions are built in memory as the reader would return them (every unit of the sample
registry, quarters of 2026-2028, about 3% of values wrong), with a history of past values for
the outlier check. Importing Great Expectations and creating its context are timed apart: they
are paid once per process.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from core.model import CellRef, ProgressRow, Submission, ValueRow  # noqa: E402
from core.periods import parse_period  # noqa: E402
from core.settings import Settings  # noqa: E402
from schemas.schema import Schema, load_schema  # noqa: E402

TODAY = date(2029, 1, 10)


def synthetic(schema: Schema, count: int, seed: int = 57) -> list[Submission]:
    """`count` submissions as the reader returns them, a few values deliberately wrong."""
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
            roll = rng.random()
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
            status = "Đang triển khai" if rng.random() > 0.01 else "Xong"
            ref = CellRef(name, "Tiến độ", 10 + i, "A")
            refs = {"task_code": ref, "status": CellRef(name, "Tiến độ", 10 + i, "C")}
            sub.progress.append(
                ProgressRow(task.code, status, "kết quả", None, None, None, ref, refs)
            )
        subs.append(sub)
    return subs


def history_of(schema: Schema) -> pd.DataFrame:
    # Past values drawn like the synthetic ones: few of this run's values are unusual.
    rng = random.Random(7)
    rows = [
        (u.code, e.code, f"2025Q{q}", float(rng.randint(0, 40)))
        for u in schema.registry.units
        for e in schema.elements.elements
        if e.type == "count"
        for q in range(1, 7)
    ]
    return pd.DataFrame(rows, columns=["unit_code", "element_code", "period", "value"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()

    schema = load_schema(Settings())
    subs = synthetic(schema, args.count)
    history = history_of(schema)
    rows = sum(len(s.values) + len(s.progress) for s in subs)
    print(f"{len(subs)} submissions, {rows} rows, batches of {args.batch}")

    started = time.perf_counter()
    from schemas.summary import summarize
    from schemas.validation import engine, validate

    gx = engine()
    gx.suites(schema)
    setup = time.perf_counter() - started
    print(f"Great Expectations import + context + suites (once per process): {setup:.2f} s")

    started = time.perf_counter()
    verdicts = []
    for start in range(0, len(subs), args.batch):
        chunk = subs[start : start + args.batch]
        t0 = time.perf_counter()
        verdicts += validate(chunk, schema, today=TODAY, history=history)
        took = time.perf_counter() - t0
        print(f"  batch {start // args.batch + 1}: {len(chunk)} in {took:.2f} s")
    total = time.perf_counter() - started
    print(f"validation: {total:.2f} s, {1000 * total / len(subs):.3f} ms per submission")
    summary = summarize(verdicts)
    print("verdicts:", summary.by_status)
    print("top findings:", [(c, n) for c, _, n, _ in summary.top_findings])


if __name__ == "__main__":
    main()
