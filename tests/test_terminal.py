"""The analyst's terminal: honest exits, every period kind, who to chase, the commune's own files.

The warehouse here is loaded directly (no flow), so these tests need no Prefect API.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import SCHEMAS_DIR, Settings
from demo.samples import write_sample_inbox
from khcn.cli import app
from schemas.schema import load_schema
from tests.warehouse_support import full_values, make_file
from warehouse.dimensions import sync_schema
from warehouse.load import load
from warehouse.migrate import init
from warehouse.publish import publish
from warehouse.status import period_status

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED_PORT = _closed_port()
ON_TIME = datetime(2026, 9, 1, 9, tzinfo=UTC)
LATE = datetime(2026, 10, 2, 9, tzinfo=UTC)


@pytest.fixture
def published(settings: Settings) -> Settings:
    """2026Q3: UBND on time, MN-NH late, THON-04 only rejected, THON-03 rejected then resent."""
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = [
        make_file(settings, "UBND", "2026Q3", full_values(schema, "UBND", "2026Q3", 1.0)),
        make_file(
            settings,
            "MN-NH",
            "2026Q3",
            full_values(schema, "MN-NH", "2026Q3", 2.0),
            received_at=LATE,
        ),
        make_file(settings, "THON-04", "2026Q3", {}, errors=["R-CODE-DATE"]),
        make_file(settings, "THON-03", "2026Q3", {}, errors=["R-CODE-DATE"], received_at=ON_TIME),
        make_file(
            settings,
            "THON-03",
            "2026Q3",
            full_values(schema, "THON-03", "2026Q3", 3.0),
            received_at=ON_TIME.replace(day=5),
            salt="resent",
        ),
        make_file(settings, "UBND", "2026Q2", full_values(schema, "UBND", "2026Q2", 1.0)),
    ]
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, settings.published)
    return settings


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    base = ["--data-dir", str(settings.data_dir), "--schemas-dir", str(settings.schemas_dir)]
    result = runner.invoke(app, [*base, *args])
    return result.exit_code, result.stdout, result.stderr


def _one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Lỗi: ") and "Traceback" not in stderr
    return lines[0]


def test_status_separates_never_sent_rejected_and_late(published: Settings) -> None:
    status = period_status(published.published, "2026Q3")

    assert [u["unit_code"] for u in status["awaiting_resend"]] == ["THON-04"]
    assert [u["unit_code"] for u in status["late"]] == ["MN-NH"]
    never = {u["unit_code"] for u in status["not_sent"]}
    assert len(never) == 17 - 4 and never.isdisjoint({"UBND", "MN-NH", "THON-03", "THON-04"})
    overall = status["overall"]
    assert (overall["not_sent"], overall["awaiting_resend"], overall["late"]) == (13, 1, 1)
    assert (overall["accepted"], overall["on_time"]) == (3, 2)
    # The ones without an accepted file, each saying why.
    assert {u["unit_code"]: u["report_state"] for u in status["missing"]}["THON-04"] == (
        "awaiting_resend"
    )
    assert len(status["missing"]) == 14

    code, shown, _ = _cli(published, "status", "--period", "2026Q3")
    assert code == 0
    assert "Bị từ chối, chờ gửi lại (1)" in shown and "Nộp muộn (1)" in shown
    assert "Chưa nộp (13)" in shown


@pytest.mark.parametrize(
    ("period", "quarters", "expected"),
    [
        ("2026", ["2026Q1", "2026Q2", "2026Q3", "2026Q4"], 68),
        ("2026S2", ["2026Q3", "2026Q4"], 34),
        ("202608", ["2026Q3"], 17),
        ("2026Q3", ["2026Q3"], 17),
    ],
)
def test_status_accepts_every_period_kind(
    published: Settings, period: str, quarters: list[str], expected: int
) -> None:
    code, shown, stderr = _cli(published, "status", "--period", period, "--json")

    assert code == 0, stderr
    found = json.loads(shown)
    assert [q["period"] for q in found["quarters"]] == quarters
    assert found["overall"]["expected"] == expected
    assert found["overall"]["accepted"] == (4 if period == "2026" else 3)
    assert found["overall"]["accepted_rate"] == round(
        100 * found["overall"]["accepted"] / expected, 2
    )

    code, shown, stderr = _cli(published, "status", "--period", period)
    assert code == 0, stderr
    assert f"Mức đầy đủ kỳ {period}" in shown


@pytest.mark.parametrize("command", ["status", "report", "template", "consolidate"])
@pytest.mark.parametrize("period", ["2031Q1", "2025Q4"])
def test_a_period_outside_the_plan_is_one_line(
    published: Settings, tmp_path: Path, command: str, period: str
) -> None:
    extra = ["--all", "--out", str(tmp_path / "mau")] if command == "template" else []

    code, _, stderr = _cli(published, command, "--period", period, *extra)

    assert code == 1
    assert "nằm ngoài kế hoạch 2026-2030" in _one_clear_line(stderr)


def test_a_warehouse_path_that_does_not_exist_is_not_replaced(
    published: Settings, tmp_path: Path
) -> None:
    nope = tmp_path / "nope.duckdb"

    for args in (["query", "select 1"], ["status", "--period", "2026Q3"]):
        code, _, stderr = _cli(published, "--warehouse", str(nope), *args)
        assert code == 1
        assert str(nope) in _one_clear_line(stderr)
    assert not nope.exists()

    # An existing one is read, not the published copy.
    code, shown, stderr = _cli(
        published, "--warehouse", str(published.warehouse), "status", "--period", "2026Q3", "--json"
    )
    assert code == 0, stderr
    assert json.loads(shown)["overall"]["accepted"] == 3


def test_a_failed_query_says_so_once(published: Settings) -> None:
    code, _, stderr = _cli(published, "query", "select * from nowhere")

    assert code == 1
    # One line: what is wrong in Vietnamese, DuckDB's own words naming the faulty name.
    assert stderr.startswith("Lỗi: không có bảng, cột hay hàm này: ")
    assert "nowhere" in stderr and stderr.count("\n") == 1
    assert "truy vấn lỗi" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("inbox", "says"),
    [
        ("inbox-with-a-typo", "không thấy thư mục hộp thư đến"),
        ("s3://bucket/khcn/inbox", "s3fs"),
        ("nosuch://bucket/inbox", "nosuch://"),
        # paramiko is installed (bundles go over SFTP): an unknown host is a connection failure.
        ("sftp://example.invalid/inbox", "không kết nối được tới hộp thư đến"),
        (f"ftp://127.0.0.1:{CLOSED_PORT}/inbox", "không kết nối được tới hộp thư đến"),
    ],
    # Ids without the port: test processes running side by side collect the same names.
    ids=["typo", "s3", "unknown-protocol", "sftp-unknown-host", "ftp-closed-port"],
)
def test_an_inbox_that_cannot_be_listed_ends_fast(
    settings: Settings, tmp_path: Path, inbox: str, says: str
) -> None:
    target = str(tmp_path / inbox) if "://" not in inbox else inbox
    for command in ("ingest", "consolidate"):
        started = time.monotonic()
        code, _, stderr = _cli(settings, "--inbox", target, command)
        assert code == 1
        assert says in _one_clear_line(stderr)
        # Before any retry or Prefect start (the retried listing took 64 s).
        assert time.monotonic() - started < 20


def test_a_missing_file_is_named(settings: Settings, tmp_path: Path) -> None:
    for args in (["catalog", "import", "phu-luc.docx"], ["units", "import", "don-vi.xlsx"]):
        code, _, stderr = _cli(settings, *args)
        assert code == 1
        assert f"không thấy tệp {args[-1]}" in _one_clear_line(stderr)


def test_imports_write_the_commune_folder_never_the_code(
    tmp_path: Path, reference_appendix: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = {p.name: p.read_bytes() for p in SCHEMAS_DIR.glob("*.yaml")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = tmp_path / "xa"

    made = runner.invoke(app, ["--data-dir", str(data), "init", "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert Path(report["schemas_dir"]) == data / "schemas"
    assert sorted(Path(p).name for p in report["seeded"]) == sorted(shipped)
    assert (data / "inbox").is_dir() and report["counts"]["units"] == 17

    imported = runner.invoke(
        app, ["--data-dir", str(data), "catalog", "import", str(reference_appendix)]
    )
    assert imported.exit_code == 0, imported.output
    sample = SCHEMAS_DIR / "samples" / "units_nghia_hung.sample.csv"
    units = runner.invoke(app, ["--data-dir", str(data), "units", "import", str(sample), "--json"])
    assert units.exit_code == 0, units.output
    assert Path(json.loads(units.stdout)["file"]) == data / "schemas" / "units.yaml"

    assert {p.name: p.read_bytes() for p in SCHEMAS_DIR.glob("*.yaml")} == shipped
    assert not (elsewhere / "schemas").exists() and not list(elsewhere.iterdir())
    # What the commune keeps is what the commands read from now on.
    (data / "schemas" / "units.yaml").write_text(
        (data / "schemas" / "units.yaml")
        .read_text(encoding="utf-8")
        .replace("Thôn Đông", "Thôn Đông Mới"),
        encoding="utf-8",
    )
    shown = runner.invoke(app, ["--data-dir", str(data), "units", "show", "--json"])
    assert "Thôn Đông Mới" in {u["name"] for u in json.loads(shown.stdout)}
    # A second init keeps the commune's own files.
    again = runner.invoke(app, ["--data-dir", str(data), "init", "--json"])
    assert json.loads(again.stdout)["seeded"] == []
    assert "Thôn Đông Mới" in (data / "schemas" / "units.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "command",
    [[], ["ingest"], ["status"], ["consolidate"], ["catalog"], ["catalog", "import"], ["init"]],
)
def test_help_speaks_vietnamese(command: list[str]) -> None:
    shown = runner.invoke(app, [*command, "--help"], terminal_width=120)

    assert shown.exit_code == 0
    for english in (
        "Usage:",
        "Options",
        "Show this message",
        "[required]",
        "completion",
        "Commands",
    ):
        assert english not in shown.stdout, english
    assert "Cách dùng:" in shown.stdout and "Tuỳ chọn" in shown.stdout


def test_a_mistyped_option_is_answered_in_vietnamese() -> None:
    shown = runner.invoke(app, ["status", "--perod", "2026Q3"], terminal_width=120)

    assert shown.exit_code == 2
    assert "Không có tuỳ chọn" in shown.stderr and "No such option" not in shown.stderr


def test_a_real_ingest_prints_only_its_own_lines(settings: Settings, tmp_path: Path) -> None:
    """In its own process, with Prefect's temporary server: no banner, no English log line."""
    schema = load_schema(settings)
    made = write_sample_inbox(
        schema, ["2026Q2"], settings.data_dir / "inbox", seed=3, slip_rate=0.3, missing_rate=0.5
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHCN_"))}
    khcn = Path(sys.executable).with_name("khcn")

    folders = ["--data-dir", str(settings.data_dir), "--schemas-dir", str(settings.schemas_dir)]

    done = subprocess.run(
        [str(khcn), *folders, "ingest", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith("khcn: ") for line in lines), done.stderr
    assert f"khcn: nhận tệp: {len(made.files)} tệp trong" in done.stderr
    assert "Từng tệp" in done.stdout and "Báo cáo lần chạy" in done.stdout
    assert "prefect" not in (done.stdout + done.stderr).lower()


def test_the_file_table_collapses_to_counts_past_a_screenful() -> None:
    from flows.results import FileResults, IngestResult
    from khcn import cli
    from outputs.run_report import FileResult
    from schemas.summary import RunSummary

    def run(count: int) -> str:
        files = [
            FileResult(f"THON-{i:03d}_2026Q3.xlsx", "u", f"THON-{i:03d}", "2026Q3",
                       "rejected" if i % 3 == 0 else "accepted", feedback=f"/o/{i}_phan-hoi.xlsx")
            for i in range(count)
        ]  # fmt: skip
        result = IngestResult(
            inbox="inbox",
            listed=count,
            new=count,
            verdicts={
                "accepted": count - len(files[::3]),
                "warned": 0,
                "rejected": len(files[::3]),
            },
            summary=RunSummary(total=count, by_status={}, top_findings=[], by_unit={}),
            files=FileResults(files),
            feedback=[f.feedback for f in files if f.feedback],
            dry_run=True,
            run_report="data/reports/runs/x.html",
        )
        with cli.out.capture() as shown:
            cli._print_ingest(result)
        return shown.get()

    few = run(5)
    assert "Từng tệp" in few and all(f"THON-00{i}" in few for i in range(5))
    many = run(150)
    assert "THON-" not in many  # no row per file: counts per verdict
    assert "150 tệp, gộp theo kết quả" in many
    assert "Báo cáo lần chạy" in many and "--json" in many
    assert many.count("phan-hoi") == 0  # not 150 feedback paths: one line with the folder
    assert "150 tệp phản hồi" in many
