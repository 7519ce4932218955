"""What the flows return: Prefect walks it once the run's work is done, and `--json` carries it."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from prefect.utilities.collections import visit_collection

from flows.results import ConsolidateResult, FileResults, IngestResult, LoadCounts
from outputs.run_report import FileResult
from schemas.summary import RunSummary


def _result(count: int) -> IngestResult:
    files = FileResults(
        FileResult(
            f"THON-{i:04d}_2026Q3.xlsx",
            f"/inbox/THON-{i:04d}_2026Q3.xlsx",
            f"THON-{i:04d}",
            "2026Q3",
            "rejected" if i % 2 else "accepted",
            errors=[f"Lỗi {i}"] if i % 2 else [],
            feedback=f"/phan-hoi/{i}.xlsx" if i % 2 else None,
        )
        for i in range(count)
    )
    return IngestResult(
        inbox="/inbox",
        listed=count,
        new=count,
        verdicts={"accepted": count - count // 2, "rejected": count // 2},
        summary=RunSummary(total=count, by_status={}, top_findings=[], by_unit={}),
        files=files,
        feedback=[f.feedback for f in files if f.feedback],
        dry_run=False,
        load=LoadCounts(1, count, 0, 0, 0),
    )


def test_prefects_walk_of_a_flow_result_does_not_enter_its_files() -> None:
    # The walk Prefect makes of whatever a flow returns (looking for futures to resolve).
    visited: list[object] = []
    small, large = _result(10), _result(5000)
    counts = []
    for result in (small, large):
        visited.clear()
        visit_collection(result, visit_fn=visited.append, return_data=False)
        counts.append(len(visited) - len(result.feedback))
        assert result.files in visited
    assert counts[0] == counts[1] < 50


def test_files_read_and_carry_to_json_as_a_list_did() -> None:
    result = _result(7)
    as_list = list(result.files)
    assert len(result.files) == 7 and result.files[3] is as_list[3]
    assert result.files[1:3] == as_list[1:3] and result.files == as_list
    assert [f.file for f in result.files] == [f.file for f in as_list]
    plain = result.to_dict()
    assert plain == {**asdict(replace(result, files=FileResults())), "files": plain["files"]}
    assert plain["files"] == [asdict(f) for f in as_list]
    assert json.loads(json.dumps(plain, ensure_ascii=False)) == plain
    nightly = ConsolidateResult(result, {"period": "2026Q3"}, []).to_dict()
    assert nightly["files"] == plain["files"] and nightly["completeness"] == {"period": "2026Q3"}
