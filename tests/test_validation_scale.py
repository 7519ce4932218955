"""Validation against a registry of thousands of units: suites that hold nothing of it, the
same verdicts as against the commune's own registry, batches that judge as one run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
from test_validation import TODAY, submission

from schemas.model import Registry, Unit
from schemas.schema import Schema
from schemas.suites import build_suites
from schemas.validation import engine, validate, validate_in_batches

EXTRA = 3000


def with_villages(schema: Schema, extra: int = EXTRA) -> Schema:
    """The schema with `extra` more villages in its registry, every third no longer active."""
    villages = tuple(
        Unit(code=f"THON-X{i}", name=f"Thôn Mới {i}", type="Thôn", active=i % 3 != 0)
        for i in range(extra)
    )
    registry = Registry(source="test", units=(*schema.registry.units, *villages))
    return replace(schema, registry=registry)


def configurations(suite: object) -> list[dict[str, object]]:
    return [e.configuration.to_json_dict() for e in suite.expectations]  # type: ignore[attr-defined]


def test_suites_hold_nothing_of_the_registry(schema: Schema) -> None:
    small, large = build_suites(schema), build_suites(with_villages(schema))
    for name in ("submissions", "values", "progress", "rules"):
        assert configurations(getattr(small, name)) == configurations(getattr(large, name))
    # Great Expectations serialises every expectation's arguments many times per run: no
    # argument may carry a list of codes.
    every = [
        c for n in ("submissions", "values", "progress") for c in configurations(getattr(large, n))
    ]
    assert max(len(json.dumps(c["kwargs"], ensure_ascii=False)) for c in every) < 300
    # One set of suites per process, whatever the registry of the run.
    assert engine().suites(schema) is engine().suites(with_villages(schema))


def test_a_large_registry_changes_no_verdict_and_knows_its_own_units(schema: Schema) -> None:
    large = with_villages(schema)
    village = [("5.3", "5.3.1", 3), ("5.3", "5.3.2", 1), ("2.1", "2.1.1", 1)]
    subs = [
        submission(),
        submission(unit="XX"),
        submission(values=[("5.3", "5.3.1", 1), ("5.3", "5.3.1", 2)], name="dup.xlsx"),
        submission(values=[("1.1", "1.1.1", 1)], statuses={}, name="warn.xlsx"),
        submission(unit=None),
        submission(unit="THON-X1", values=village, statuses={"5.3": "Hoàn thành"}),
        submission(unit="THON-X3", values=village, statuses={}),
    ]
    against_large = validate(subs, large, today=TODAY)
    against_own = validate(subs[:5], schema, today=TODAY)
    assert [v.findings for v in against_large[:5]] == [v.findings for v in against_own]

    found = [sorted({f.code for f in v.findings}) for v in against_large[5:]]
    # A listed village: known and active; whatever it owes or may not report is the plan's.
    assert "V-UNIT-UNKNOWN" not in found[0] and "V-UNIT-INACTIVE" not in found[0]
    assert found[1] == ["V-UNIT-INACTIVE"]
    assert [v.status for v in against_large] == [
        "accepted",
        "rejected",
        "rejected",
        "warned",
        against_own[4].status,
        against_large[5].status,
        "rejected",
    ]


def test_a_run_in_batches_judges_as_one_batch(schema: Schema) -> None:
    history = pd.DataFrame(
        {
            "unit_code": ["THCS-NH"] * 6,
            "element_code": ["5.3.1"] * 6,
            "period": ["2026Q1", "2026Q2", "2025Q4", "2025Q3", "2025Q2", "2025Q1"],
            "value": [10, 12, 11, 9, 10, 11],
        }
    )
    subs = [
        submission(values=[("5.3", "5.3.1", value)], statuses={}, name=f"f{value}.xlsx")
        for value in (11, 40, 12, 90)
    ] + [submission(unit="XX"), submission(period="2031Q1", values=[("5.3", "5.3.1", 10)])]
    whole = validate(subs, schema, today=TODAY, history=history)
    batched = validate_in_batches(subs, schema, today=TODAY, history=history, batch_size=2)
    assert [v.findings for v in batched] == [v.findings for v in whole]
    outliers = [any(f.code == "W-OUTLIER" for f in v.findings) for v in batched]
    assert outliers == [False, True, False, True, False, False]


def test_data_docs_cover_every_batch_of_a_run(schema: Schema, tmp_path: Path) -> None:
    subs = [submission(), submission(unit="XX"), submission(values=[("5.3", "5.3.1", -1)])]
    verdicts = validate_in_batches(
        subs, schema, today=TODAY, batch_size=1, data_docs_dir=tmp_path / "docs"
    )
    assert [v.status for v in verdicts] == ["accepted", "rejected", "rejected"]
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    # Three batches, four frames each: a page per result, written after the last batch.
    assert len(pages) == 3 * 4
    index = (tmp_path / "docs" / "index.html").read_text(encoding="utf-8")
    assert all(f"khcn.{name}" in index for name in ("nop", "chi_tieu", "tien_do", "quy_tac"))
