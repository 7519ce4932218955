"""The flows under a real (test-harness) Prefect API, on real files and a real warehouse."""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import threading
from collections import Counter
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import load_workbook
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from typer.testing import CliRunner

from core.periods import parse_period
from core.settings import Settings
from demo.samples import (
    SampleInbox,
    fill_workbook,
    sample_progress,
    sample_values,
    write_sample_inbox,
)
from flows.consolidate_nightly import consolidate_nightly, last_closed_period
from flows.ingest_submissions import (
    Handed,
    ingest_submissions,
    list_submissions,
    new_receipts,
    parts_of,
)
from flows.progress import StepEvent, listening
from khcn.cli import app
from outputs.template import write_template
from schemas.schema import load_schema
from warehouse.archive import archive
from warehouse.publish import published_database

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def inbox(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> SampleInbox:
    """A commune's inbox for one quarter, some slips included, and the flows pointed at it."""
    monkeypatch.setenv("KHCN_SCHEMAS_DIR", str(settings.schemas_dir))
    monkeypatch.setenv("KHCN_DATA_DIR", str(settings.data_dir))
    schema = load_schema(settings)
    return write_sample_inbox(
        schema, ["2026Q2"], settings.data_dir / "inbox", seed=5, slip_rate=0.3, missing_rate=0.1
    )


def _count(settings: Settings, sql: str) -> int:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_ingest_loads_rejects_and_gives_feedback(inbox: SampleInbox, settings: Settings) -> None:
    report = ingest_submissions()

    verdicts = report.verdicts
    assert report.listed == len(inbox.files)
    assert report.new == len(inbox.files) - 1  # one file was sent twice
    assert verdicts["rejected"] >= 1 and verdicts["accepted"] >= 1
    assert report.load is not None
    assert report.load.ignored == 1
    assert report.load.rejected == verdicts["rejected"]
    assert len(report.feedback) == verdicts["rejected"] + verdicts["warned"]
    assert all(Path(p).is_file() and "_phan-hoi" in p for p in report.feedback)
    assert _count(settings, "select count(*) from mart.submissions") == len(inbox.files)
    # Findings name the file where the unit sent it, never the archive's copy.
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        named = {r[0] for r in con.execute("select file_name from raw.findings").fetchall()}
    sent = {str(p) for p in (settings.data_dir / "inbox").rglob("*") if p.is_file()}
    assert named and named <= sent | {None}
    assert set(report.seconds) >= {"read", "validate", "load", "publish"}
    # Every file read has its line: unit, period, verdict, and its feedback when it has one.
    assert len(report.files) == report.new
    assert Counter(f.verdict for f in report.files) == +Counter(verdicts)
    assert sorted(f.feedback for f in report.files if f.feedback) == sorted(report.feedback)
    assert all(f.errors for f in report.files if f.verdict == "rejected")
    assert report.run_report and Path(report.run_report).is_file()
    assert (Path(report.run_report).parent / "index.html").is_file()
    # Great Expectations' Data Docs (English, styles from the internet) only when asked for.
    assert report.data_docs is None and not (settings.reports / "data-docs").exists()

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=20)
    assert {"khcn-validation", "khcn-load"} <= {a.key for a in artifact}


def test_second_ingest_of_the_same_inbox_changes_nothing(
    inbox: SampleInbox, settings: Settings
) -> None:
    ingest_submissions()
    values = _count(settings, "select count(*) from mart.data_values")

    again = ingest_submissions()

    assert again.new == 0
    assert again.load is not None
    assert again.load.imported == again.load.updated == 0
    assert _count(settings, "select count(*) from mart.data_values") == values


def test_dry_run_validates_and_loads_nothing(inbox: SampleInbox, settings: Settings) -> None:
    report = ingest_submissions(dry_run=True)

    assert report.dry_run is True and report.load is None
    assert report.feedback
    assert not settings.warehouse.exists()
    assert not published_database(settings.published).exists()


def test_nightly_consolidation_reports_completeness_and_indicators(
    inbox: SampleInbox, settings: Settings
) -> None:
    report = consolidate_nightly(period="2026Q2")

    current = report.completeness
    assert current["period"] == "2026Q2"
    assert current["overall"]["expected"] == 17
    assert report.ingest.load is not None and report.ingest.load.imported > 0
    spent = {row["indicator_code"]: row for row in report.indicators if row["year"] == 2026}
    assert spent["CS-NS-KHCN"]["denominator"] > 0
    assert {row["indicator_code"] for row in report.indicators} == {
        "CS-NS-KHCN",
        "CS-DT-KNS",
        "CS-STEM-TH",
    }


def test_consolidation_reports_the_last_quarter_past_its_deadline(settings: Settings) -> None:
    # The open quarter is 0% and not due: the nightly report is about the one just closed.
    assert last_closed_period(settings, date(2026, 11, 30)) == parse_period("2026Q3")
    assert last_closed_period(settings, date(2026, 9, 20)) == parse_period("2026Q2")
    assert last_closed_period(settings, date(2026, 9, 21)) == parse_period("2026Q3")
    assert last_closed_period(settings, date(2026, 2, 1)) == parse_period("2026Q1")


def test_new_receipts_skips_known_and_repeated_bytes(settings: Settings, tmp_path: Path) -> None:
    from datetime import UTC

    now = datetime.now(UTC)
    made = [
        archive(
            data, name=f"{i}.xlsx", url=f"inbox/{i}.xlsx", archive_dir=tmp_path, received_at=now
        )
        for i, data in enumerate([b"a", b"b", b"a"])
    ]
    fresh = new_receipts.fn(made, settings).take()
    assert [r.name for r in fresh] == ["0.xlsx", "1.xlsx"]


def test_a_tasks_batch_is_linked_to_its_state_once_not_per_file(
    settings: Settings, tmp_path: Path
) -> None:
    # Prefect links what a task returns, and each item of a list, to the task's state for the
    # rest of the flow run: a batch is handed back whole, one link however many files.
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(300):
        (folder / f"THON-{i:03d}_2026Q3.csv").write_text("ma_chi_tieu,gia_tri\n")

    @flow
    def listing() -> tuple[int, int]:
        entries = list_submissions(str(folder)).take()
        context = FlowRunContext.get()
        assert context is not None
        return len(entries), len(context.run_results)

    listed, links = listing()
    assert listed == 300 and links < 5


def test_a_handed_batch_is_taken_once_and_then_held_no_more() -> None:
    batch = [object() for _ in range(3)]
    handed = Handed(batch)
    assert handed.take() is batch
    # What Prefect keeps of the task (its state holds the `Handed`) holds no file any more.
    assert not any(held is batch for held in gc.get_referents(handed))
    with pytest.raises(RuntimeError):
        handed.take()


def test_cli_ingest_status_query(inbox: SampleInbox, settings: Settings) -> None:
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["load"]["imported"] > 0
    assert (settings.published / "dashboard.html").is_file()  # each publish rewrites it
    shown = json.loads(ingested.stdout)
    assert shown["load"]["imported"] > 0
    # Every file read, with its unit, period, verdict, errors and feedback file.
    assert len(shown["files"]) == shown["new"] == len(inbox.files) - 1
    rejected = [f for f in shown["files"] if f["verdict"] == "rejected"]
    assert rejected and all(f["errors"] and f["feedback"] for f in rejected)
    assert {f["unit"] for f in shown["files"]} <= {
        u.code for u in load_schema(settings).registry.units
    } | {None}

    status = runner.invoke(app, ["status", "--period", "2026Q2", "--json"])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.stdout)
    assert shown["overall"]["expected"] == 17
    assert {m["unit_code"] for m in shown["missing"]} >= {u for u, _ in inbox.missing}

    query = runner.invoke(app, ["query", "select count(*) as n from mart.submissions", "--json"])
    assert query.exit_code == 0, query.output
    assert json.loads(query.stdout) == [{"n": len(inbox.files)}]

    target = settings.data_dir / "bao-cao.xlsx"
    report = runner.invoke(app, ["report", "--period", "2026Q2", "--out", str(target), "--no-pdf"])
    assert report.exit_code == 0, report.output
    book = load_workbook(target)
    assert book.sheetnames == ["Báo cáo", "Mức đầy đủ", "Chưa nộp", "Số liệu", "Tiến độ"]
    detail = book["Mức đầy đủ"]
    overall = [c.value for c in detail[detail.max_row]]  # the total comes last
    assert overall[:3] == ["2026Q2", "Tổng cộng", 17]
    values = {
        row[0]: row[5]
        for row in book["Số liệu"].iter_rows(min_row=4, values_only=True)
        if row[5] is not None
    }
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        expected = dict(
            con.execute(
                "select element_code, sum(value) from mart.data_values "
                "where period = '2026Q2' group by 1"
            ).fetchall()
        )
    assert values == pytest.approx(expected)

    bad = runner.invoke(app, ["query", "delete from mart.submissions"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Lỗi: bản công bố chỉ cho đọc")


def test_cli_ingest_shows_steps_and_every_file(inbox: SampleInbox, settings: Settings) -> None:
    hostile = settings.data_dir / "inbox" / "[red]THON-01[bold]_2026Q2.csv"
    hostile.write_text("Mã đơn vị,[bold]x[/bold]\n", encoding="utf-8")

    ingested = CliRunner().invoke(app, ["ingest", "--dry-run"], terminal_width=200)

    assert ingested.exit_code == 0, ingested.output
    # Not a terminal: one plain line per finished step, with its count and rate.
    steps = [line for line in ingested.stderr.splitlines() if line.startswith("khcn: ")]
    assert [line.split(":")[1].strip() for line in steps] == [
        "nạp danh mục", "nhận tệp", "đọc", "kiểm tra", "viết phản hồi"
    ]  # fmt: skip
    assert f"đọc: {len(inbox.files)} tệp trong" in ingested.stderr
    assert ingested.stderr.count("\n") == len(steps)  # nothing from Prefect
    # The per-file table, unit-supplied names printed as typed (no markup run).
    assert "Từng tệp" in ingested.stdout
    # (The table wraps long names at 80 columns: look for the markup, which rich would eat.)
    assert "[red]THON-" in ingested.stdout and "[bold]x[/b" in ingested.stdout
    assert "bị từ chối" in ingested.stdout
    assert "Báo cáo lần chạy" in ingested.stdout


def test_cli_options_reach_the_flow_as_settings_not_the_environment(
    inbox: SampleInbox, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KHCN_DATA_DIR")
    monkeypatch.delenv("KHCN_SCHEMAS_DIR")
    folders = ["--data-dir", str(settings.data_dir), "--schemas-dir", str(settings.schemas_dir)]

    ingested = CliRunner().invoke(app, [*folders, "ingest", "--dry-run", "--json"])

    assert ingested.exit_code == 0, ingested.output
    shown = json.loads(ingested.stdout)
    assert shown["new"] == len(inbox.files) - 1 and shown["inbox"] == settings.inbox_url
    assert shown["summary"]["total"] == shown["new"]
    assert not [k for k in os.environ if k.startswith("KHCN_")]


def test_oversized_file_is_archived_whole_and_rejected(
    inbox: SampleInbox, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_MAX_FILE_BYTES", "200000")
    big = settings.data_dir / "inbox" / "THON-01_2026Q2_anh-chup.xlsx"
    big.write_bytes(b"PK" + bytes(range(256)) * 1200)  # ~300 KB, over the limit

    report = ingest_submissions()

    assert report.load is not None and report.load.rejected >= 1
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        found = con.execute(
            "select error_code from mart.submission_errors where file_name = ?", [big.name]
        ).fetchall()
    assert found == [("R-FILE-TOO-BIG",)]
    archived = [
        p for p in settings.archive.rglob("*.xlsx") if p.stat().st_size == big.stat().st_size
    ]
    assert len(archived) == 1 and archived[0].read_bytes() == big.read_bytes()
    assert report.verdicts["accepted"] > 0


def _loaded_state(settings: Settings) -> list[tuple[object, ...]]:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        return con.execute(
            "select s.file_name, s.unit_code, s.period, s.version, s.status, "
            "count(v.value), sum(v.value) from mart.submissions s "
            "left join mart.data_values v using (submission_id) "
            "group by all order by all"
        ).fetchall()


def test_a_run_in_parts_loads_what_one_run_would(
    inbox: SampleInbox, settings: Settings, tmp_path: Path
) -> None:
    # A unit's report, then its correction received after everything else: the correction
    # lands in the last part and supersedes the version an earlier part loaded.
    schema = load_schema(settings)
    unit, period = schema.registry.unit("THON-01"), parse_period("2026Q2")
    assert unit is not None
    tasks = schema.tasks_due(unit, period)
    for name, seed, moment in (
        ("sent", 1, datetime(2026, 6, 1, tzinfo=UTC)),
        ("fixed", 2, datetime(2026, 7, 30, tzinfo=UTC)),
    ):
        path = write_template(schema, unit, period, inbox.files[0].parent / f"THON-01_{name}.xlsx")
        rng = random.Random(seed)
        fill_workbook(
            path, sample_values(schema, unit, tasks, rng), sample_progress(tasks, period, rng)
        )
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    # The same bytes again under another name, received last: a duplicate of a file an earlier
    # part read, itself not read again.
    copy = inbox.files[0].parent / "THON-01_copy.xlsx"
    shutil.copyfile(inbox.files[0].parent / "THON-01_sent.xlsx", copy)
    os.utime(copy, (datetime(2026, 8, 1, tzinfo=UTC).timestamp(),) * 2)
    events: list[StepEvent] = []

    with listening(events.append):
        parted = ingest_submissions(settings=settings.with_overrides(part_files=3))
    whole_settings = settings.with_overrides(
        data_dir=tmp_path / "whole", inbox=str(settings.data_dir / "inbox")
    )
    whole = ingest_submissions(settings=whole_settings)

    parts = -(-parted.listed // 3)
    assert parts > 3
    assert {e.part for e in events if e.step == "load" and e.seconds is not None} == {
        (k, parts) for k in range(1, parts + 1)
    }
    assert [p.files for p in parted.parts] == [3] * (parts - 1) + [parted.listed - 3 * (parts - 1)]
    done = [p.done_at for p in parted.parts]
    assert done[0] > 0 and all(a < b for a, b in pairwise(done)), done
    assert [p.files for p in whole.parts] == [whole.listed]
    assert parted.verdicts == whole.verdicts and parted.new == whole.new
    read = sorted(f.file for f in parted.files)
    assert "THON-01_sent.xlsx" in read and "THON-01_copy.xlsx" not in read, " ".join(read)
    assert parted.load is not None and whole.load is not None
    assert parted.load.items() == whole.load.items() and parted.load.updated >= 1
    assert [f.verdict for f in parted.files] == [f.verdict for f in whole.files]
    assert _loaded_state(settings) == _loaded_state(whole_settings)
    assert whole_settings.published != settings.published


def test_the_load_waits_for_the_archived_copies_to_reach_the_disk(
    inbox: SampleInbox, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive's flush goes on while the files are read and judged; nothing refers to the
    copies before it is done. Here it lasts until the load starts, or a second after the files
    are judged: a load that does not wait for it starts within that second."""
    import warehouse.archive
    from warehouse.load import LoadRun

    judged, loading = threading.Event(), threading.Event()
    order: list[str] = []
    flush, add = warehouse.archive.flush_archive, LoadRun.add

    def slow_flush(archive_dir: Path) -> None:
        judged.wait(60)
        loading.wait(1)
        flush(archive_dir)
        order.append("flushed")

    def add_in_order(run: LoadRun, verdicts: Any, receipts: Any) -> Any:
        loading.set()
        order.append("load")
        return add(run, verdicts, receipts)

    def watch(event: StepEvent) -> None:
        if event.step == "feedback" and event.seconds is not None:
            judged.set()

    monkeypatch.setattr(warehouse.archive, "flush_archive", slow_flush)
    monkeypatch.setattr(LoadRun, "add", add_in_order)
    with listening(watch):
        result = ingest_submissions()

    assert result.load is not None and result.load.imported > 0
    assert order[0] == "flushed" and "load" in order


@pytest.mark.parametrize(
    ("files", "sizes"),
    [
        (0, []),
        (1, [1]),
        (8, [8]),  # one part: nothing to overlap with
        (10, [8, 2]),  # a last part of a quarter or less stays as it is
        (16, [8, 6, 2]),
        (21, [8, 8, 3, 2]),
    ],
)
def test_a_run_ends_on_a_short_part(files: int, sizes: list[int]) -> None:
    parts = parts_of(list(range(files)), 8)
    assert [len(part) for part in parts] == sizes
    assert [k for part in parts for k in part] == list(range(files))


def test_an_empty_inbox_publishes_again_only_when_something_changed(
    inbox: SampleInbox, settings: Settings
) -> None:
    ingest_submissions()
    published = published_database(settings.published)
    first = published.stat().st_ino
    for path in inbox.files:
        path.unlink()

    quiet = ingest_submissions()

    assert quiet.listed == 0 and quiet.load is None
    assert published.stat().st_ino == first
    assert quiet.run_report is not None and Path(quiet.run_report).is_file()
    # A registry edited since: the published copy and dashboard are made again.
    units = settings.schemas_dir / "units.yaml"
    units.write_text(units.read_text(encoding="utf-8") + "\n# sửa\n", encoding="utf-8")
    again = ingest_submissions()
    assert again.load is not None and again.load.imported == 0
    assert published.stat().st_ino != first
    second = published.stat().st_ino
    # So is a warehouse another command wrote to.
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("checkpoint")
        con.execute("create table scratch as select 1 as x")
    ingest_submissions()
    assert published.stat().st_ino != second
