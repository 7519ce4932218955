"""Validation on submissions built directly: suites from the schema, verdicts, summary, docs."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rich.console import Console

from core.codes import VALIDATION_ISSUES, spec
from core.model import READ_ISSUES, CellRef, ProgressRow, Submission, ValueRow, issue
from core.settings import PROJECT_ROOT, Settings
from schemas.schema import Schema, load_schema
from schemas.suites import build_suites
from schemas.summary import summarize
from schemas.validation import validate

TODAY = date(2026, 9, 20)
SHEET = "Chỉ tiêu"


def submission(
    unit: str | None = "THCS-NH",
    period: str | None = "2026Q3",
    values: list[tuple[str | None, str | None, float | None]] | None = None,
    statuses: dict[str, str | None] | None = None,
    name: str = "f.xlsx",
) -> Submission:
    """A submission as the reader makes it, values from row 10, column E."""
    sub = Submission(url=name, name=name, size=1, sha256="0", unit_code=unit, period=period)
    rows = values if values is not None else [
        ("2.1", "2.1.1", 2), ("2.1", "2.1.2", 1), ("5.3", "5.3.1", 3), ("5.3", "5.3.2", 1),
        ("5.3", "5.3.3", 120), ("5.3", "5.3.4", 5),
    ]  # fmt: skip
    for i, (task, element, value) in enumerate(rows):
        r = 10 + i
        refs = {f: CellRef(name, SHEET, r, c) for f, c in (("task_code", "A"),
                ("element_code", "B"), ("value", "E"))}  # fmt: skip
        sub.values.append(ValueRow(task, element, value, value, None, refs["value"], refs))
    for i, (task, status) in enumerate(
        (statuses or {"2.1": "Hoàn thành", "5.3": "Hoàn thành"}).items()
    ):
        r = 10 + i
        refs = {"task_code": CellRef(name, "Tiến độ", r, "A"),
                "status": CellRef(name, "Tiến độ", r, "C")}  # fmt: skip
        sub.progress.append(
            ProgressRow(task, status, "kết quả", None, None, None, refs["task_code"], refs)
        )
    return sub


def codes(sub: Submission, schema: Schema, **kwargs: object) -> list[tuple[str, str | None]]:
    [verdict] = validate([sub], schema, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return [(f.code, f.ref.address if f.ref else None) for f in verdict.findings]


def test_clean_submission_is_accepted(schema: Schema) -> None:
    [verdict] = validate([submission()], schema, today=TODAY)
    assert verdict.findings == []
    assert verdict.status == "accepted"


@pytest.mark.parametrize("period", ["2026Q5", "Quý 3/2026", "2026M13", "26Q3"])
def test_malformed_period(schema: Schema, period: str) -> None:
    assert codes(submission(period=period), schema) == [("V-PERIOD-FORMAT", None)]


def test_reading_issues_are_carried_unchanged(schema: Schema) -> None:
    sub = submission()
    read = issue("R-VALUE-NOT-NUMBER", CellRef("f.xlsx", SHEET, 12, "E"), value="abc")
    sub.issues.append(read)
    [verdict] = validate([sub], schema, today=TODAY)
    assert verdict.findings == [read]
    assert verdict.status == "rejected"


def test_every_error_of_a_file_is_listed(schema: Schema) -> None:
    sub = submission(
        values=[("5.3", "5.3.1", -1), ("5.3", "5.3.2", 0.5), ("5.3", "5.3.3", 3),
                ("5.3", "5.3.4", 9), ("5.3", "5.3.9", 1), ("7.7", "2.1.1", 1)],
        statuses={"5.3": "xong", "2.1": None},
    )  # fmt: skip
    assert sorted(codes(sub, schema)) == sorted(
        [
            ("V-VALUE-NEGATIVE", "E10"),
            ("V-VALUE-WHOLE", "E11"),
            ("V-RULE-QT-5.3", "E13"),
            ("V-ELEMENT-UNKNOWN", "B14"),
            ("V-TASK-UNKNOWN", "A15"),
            ("V-STATUS-INVALID", "C10"),
            ("V-STATUS-MISSING", "C11"),
        ]
    )


def test_suites_follow_the_schema_files(settings: Settings) -> None:
    path = settings.schemas_dir / "elements.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["money_limit"] = 500
    data["rules"].append(
        {"code": "QT-TEST", "left": "5.3.2", "right": "5.3.1", "message": "Thử quy tắc"}
    )
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    changed = load_schema(settings)
    suites = build_suites(changed)
    assert any(e.meta and e.meta.get("code") == "V-RULE-QT-TEST" for e in suites.rules.expectations)
    sub = submission(
        unit="UBND",
        values=[("5.3", "5.3.1", 1), ("5.3", "5.3.2", 4), ("2.2", "2.2.1", 600)],
        statuses={},
    )
    found = codes(sub, changed)
    assert ("V-RULE-QT-TEST", "E11") in found
    assert ("V-MONEY-DONG", "E12") in found


def test_batch_gives_the_same_verdicts_as_files_alone(schema: Schema) -> None:
    subs = [
        submission(),
        submission(unit="XX"),
        submission(values=[("5.3", "5.3.1", 1), ("5.3", "5.3.1", 2)], name="dup.xlsx"),
        submission(values=[("1.1", "1.1.1", 1)], statuses={}, name="warn.xlsx"),
        submission(period="2027Q1"),
    ]
    together = validate(subs, schema, today=TODAY)
    alone = [validate([s], schema, today=TODAY)[0] for s in subs]
    assert [v.findings for v in together] == [v.findings for v in alone]
    assert [v.status for v in together] == [
        "accepted",
        "rejected",
        "rejected",
        "warned",
        "rejected",
    ]


def test_outliers_need_history_and_use_robust_bounds(schema: Schema) -> None:
    history = pd.DataFrame(
        {
            "unit_code": ["THCS-NH"] * 6 + ["TH-NH-A"] * 2,
            "element_code": ["5.3.1"] * 8,
            "period": ["2026Q1", "2026Q2", "2025Q4", "2025Q3", "2025Q2", "2025Q1", "x", "y"],
            "value": [10, 12, 11, 9, 10, 200, 1, 1],
        }
    )
    high = submission(values=[("5.3", "5.3.1", 40)], statuses={})
    usual = submission(values=[("5.3", "5.3.1", 13)], statuses={})
    short = submission(unit="TH-NH-A", values=[("5.3", "5.3.1", 40)], statuses={})
    verdicts = validate([high, usual, short], schema, today=TODAY, history=history)
    # Each sends one of its elements: the others are owed (W-ELEMENTS-MISSING), not the point.
    found = [[f.code for f in v.findings if f.code != "W-ELEMENTS-MISSING"] for v in verdicts]
    assert found == [["W-OUTLIER"], [], []]
    assert verdicts[0].status == "warned"


def test_missing_elements_and_tables_are_warnings(schema: Schema) -> None:
    partial = submission(values=[("5.3", "5.3.1", 4), ("5.3", "5.3.2", None)])
    no_progress = submission(statuses={})
    no_progress.progress.clear()
    no_values = submission(values=[])
    verdicts = validate([partial, no_progress, no_values], schema, today=TODAY)
    assert [v.status for v in verdicts] == ["warned"] * 3
    [owed] = verdicts[0].findings
    assert owed.code == "W-ELEMENTS-MISSING" and owed.ref is None
    # THCS-NH owes 2.1.1, 2.1.2 and 5.3.1-5.3.4 in 2026Q3; an empty cell is no value.
    assert "5 chỉ tiêu" in owed.message and "2.1.1, 2.1.2, 5.3.2, 5.3.3, 5.3.4" in owed.message
    assert [f.code for f in verdicts[1].findings] == ["W-PROGRESS-MISSING"]
    assert [f.code for f in verdicts[2].findings] == ["W-VALUES-MISSING"]
    assert "2026Q3" in verdicts[1].findings[0].message


def test_empty_and_unreadable_batches(schema: Schema) -> None:
    assert validate([], schema, today=TODAY) == []
    broken = Submission(url="x.xlsx", name="x.xlsx", size=1, sha256="0")
    broken.issues.append(issue("R-FILE-CORRUPT", file="x.xlsx", detail="zip"))
    [verdict] = validate([broken], schema, today=TODAY)
    assert [f.code for f in verdict.findings] == ["R-FILE-CORRUPT"]


def test_summary_counts_and_renders(schema: Schema) -> None:
    subs = [submission(), submission(unit="XX"), submission(values=[("1.1", "1.1.1", 1)])]
    summary = summarize(validate(subs, schema, today=TODAY))
    assert summary.total == 3
    assert summary.by_status == {"accepted": 1, "warned": 1, "rejected": 1}
    codes_seen = [code for code, *_ in summary.top_findings]
    assert "V-UNIT-UNKNOWN" in codes_seen and "W-NOT-RESPONSIBLE" in codes_seen
    assert "| Bị từ chối | 1 |" in summary.markdown()
    console = Console(record=True, width=120)
    console.print(summary.renderable())
    assert "V-UNIT-UNKNOWN" in console.export_text()
    assert summary.table_rows()[0]["số tệp"] == 1


def test_data_docs_are_written(schema: Schema, tmp_path: Path) -> None:
    verdicts = validate(
        [submission(), submission(unit="XX")], schema, today=TODAY, data_docs_dir=tmp_path
    )
    assert [v.status for v in verdicts] == ["accepted", "rejected"]
    assert (tmp_path / "index.html").is_file()
    pages = list((tmp_path / "validations").rglob("*.html"))
    assert pages and any("unit_code" in p.read_text(encoding="utf-8") for p in pages)


def test_docs_list_exactly_the_codes() -> None:
    text = (PROJECT_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([A-Z]-[A-Z0-9-]+)`", text, re.MULTILINE))
    assert documented == set(READ_ISSUES) | set(VALIDATION_ISSUES)
    shipped = load_schema(Settings())
    for rule in shipped.elements.rules:
        assert f"`V-RULE-{rule.code}`" in text


@pytest.mark.parametrize("code", sorted(VALIDATION_ISSUES))
def test_findings_carry_what_and_how_apart(code: str) -> None:
    ref = CellRef("f.xlsx", SHEET, 12, "E")
    params = {name: "X" for name in re.findall(r"\{([a-z_]+)\}", str(VALIDATION_ISSUES[code]))}
    params.pop("where", None)
    found = issue(code if code != "V-RULE" else "V-RULE-QT-5.3", ref, **params)
    assert found.problem.startswith(("Trang tính 'Chỉ tiêu', ô E12", "Tệp"))
    assert found.fix and found.fix == VALIDATION_ISSUES[code][2].format(**params)
    assert found.message == f"{found.problem} {found.fix}"


@pytest.mark.parametrize("code", ["R-VALUE-NOT-NUMBER", "V-RULE-QT-5.3", "V-UNIT-UNKNOWN"])
def test_the_message_is_problem_then_fix_as_stored_before(code: str) -> None:
    ref = CellRef("f.xlsx", SHEET, 12, "E")
    params = {
        "value": "mười",
        "unit": "THON-99",
        "rule_message": "Số đạt không lớn hơn số giao",
        "left": "5.3.2",
        "left_cell": "E12",
        "left_value": "7",
        "right": "5.3.1",
        "right_cell": "E11",
        "right_value": "5",
    }
    found = issue(code, ref, **params)
    _, template, fix = spec(code)
    where = "Trang tính 'Chỉ tiêu', ô E12"
    assert found.message == f"{template.format(where=where, **params)} {fix.format(**params)}"


def test_a_progress_table_left_empty_is_answered_not_a_failed_check(schema: Schema) -> None:
    sub = submission()
    refs = {t: {"task_code": CellRef("f.xlsx", "Tiến độ", r, "A"),
                "status": CellRef("f.xlsx", "Tiến độ", r, "C")}
            for t, r in (("2.1", 10), ("5.3", 11))}  # fmt: skip
    sub.progress = [
        ProgressRow(task, None, None, None, None, None, ref["task_code"], ref)
        for task, ref in refs.items()
    ]

    found = codes(sub, schema)

    assert ("V-STATUS-MISSING", "C10") in found and ("V-STATUS-MISSING", "C11") in found
    assert all(code.startswith(("V-", "W-")) for code, _ in found)


def test_a_run_builds_each_configuration_once_and_gives_the_property_back(schema: Schema) -> None:
    from great_expectations.expectations.expectation import Expectation

    from schemas.validation import _configurations_kept

    expectation = build_suites(schema).values.expectations[0]
    assert expectation.configuration is not expectation.configuration
    original = Expectation.__dict__["configuration"]
    with pytest.raises(RuntimeError), _configurations_kept():
        assert expectation.configuration is expectation.configuration
        raise RuntimeError("a run that fails")
    assert Expectation.__dict__["configuration"] is original
    # Verdicts with kept configurations: the failing rows are still found, in the second pass.
    wrong = submission(values=[("5.3", "5.3.3", 10), ("5.3", "5.3.4", 50)])
    [verdict] = validate([wrong], schema, today=TODAY)
    assert verdict.errors and Expectation.__dict__["configuration"] is original
