"""SQL from people, bounded and inert: `warehouse.query.run_bounded` and `khcn query` on a real
published copy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest
from query_support import FILES, HOSTILE_TEXT, build_published
from typer.testing import CliRunner

from core.settings import Settings
from khcn.cli import app
from warehouse.publish import publish, published_database
from warehouse.query import QueryError, QueryLimits, run_bounded

# `range(1e14)` as the issue wrote it does not bind in this DuckDB (no range(DOUBLE)); the same
# sum over a BIGINT runs for hours unless stopped.
ENDLESS = "select sum(i) from range(100000000000000) t(i)"
ENDLESS_AS_WRITTEN = "select sum(i) from range(1e14)"
LIMITS = QueryLimits(timeout_seconds=2, memory_bytes=256 * 1024 * 1024, threads=1, max_rows=1000)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("query") / "data")
    build_published(settings)
    return settings


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), *args])
    return result.exit_code, result.stdout, result.stderr


def test_statement_past_its_timeout_is_interrupted(published: Settings) -> None:
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        run_bounded(published.published, ENDLESS, LIMITS)
    elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert "quá 2 giây" in str(caught.value)
    # Stopped near its bound, not at the end of a 10^14-row scan; slack for a busy machine.
    assert elapsed < 20


def test_memory_cap_stops_a_greedy_statement(published: Settings) -> None:
    with pytest.raises(QueryError) as caught:
        run_bounded(published.published, "select list(i) from range(200000000) t(i)", LIMITS)
    assert caught.value.kind == "memory"
    assert "256 MiB" in str(caught.value)


@pytest.mark.parametrize(
    "sql_text",
    [
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/passwd')",
        "select * from glob('/etc/*')",
        # The published file itself is attached, yet not readable as bytes through SQL.
        "select content from read_blob('{database}')",
        "attach '/tmp/other.duckdb' as other",
        "copy (select 1) to '/tmp/khcn-leak.csv'",
        "install httpfs",
        "load httpfs",
    ],
)
def test_no_file_or_extension_is_reachable(published: Settings, sql_text: str) -> None:
    database = published_database(published.published)
    with pytest.raises(QueryError) as caught:
        run_bounded(published.published, sql_text.format(database=database), LIMITS)
    assert caught.value.kind == "refused"
    assert "root:" not in str(caught.value)
    assert not Path("/tmp/khcn-leak.csv").exists()


@pytest.mark.parametrize(
    "sql_text",
    [
        "delete from mart.submissions",
        "create table mart.x (a int)",
        "set enable_external_access = true",
        "set memory_limit = '100GB'",
        "reset lock_configuration",
    ],
)
def test_no_write_and_no_setting_change(published: Settings, sql_text: str) -> None:
    with pytest.raises(QueryError) as caught:
        run_bounded(published.published, sql_text, LIMITS)
    assert caught.value.kind == "refused"
    assert "chỉ cho đọc" in str(caught.value)


def test_rows_are_cut_at_the_limit_and_say_so(published: Settings) -> None:
    result = run_bounded(published.published, "select * from range(5000) t(i)", LIMITS)
    assert (result.table.num_rows, result.truncated) == (1000, True)
    assert result.rows[-1] == (999,)
    whole = run_bounded(published.published, "select * from range(1000) t(i)", LIMITS)
    assert (whole.table.num_rows, whole.truncated) == (1000, False)


def test_parameters_are_bound_not_spliced(published: Settings) -> None:
    result = run_bounded(
        published.published,
        "select count(*) from mart.submissions where unit_code = $unit",
        LIMITS,
        {"unit": "UBND' or '1'='1"},
    )
    assert result.rows == [(0,)]


def test_each_query_reads_the_copy_current_when_it_starts(published: Settings) -> None:
    """DuckDB shares one engine between connections to the same path in a process: a reader
    holding the old copy open must not pin later queries to it."""
    database = published_database(published.published)
    sql_text = "select last_run_id from meta.publication"
    with duckdb.connect(str(database), read_only=True) as holder:
        before = holder.execute(sql_text).fetchone()
        # A publish with no new load still swaps in a new file with a new publication time.
        stamp = "select published_at from meta.publication"
        first = run_bounded(published.published, stamp, LIMITS).rows
        publish(published.warehouse, published.published)
        second = run_bounded(published.published, stamp, LIMITS).rows
        assert holder.execute(sql_text).fetchone() == before
    assert second != first


def test_cli_prints_unit_text_as_plain_text(published: Settings) -> None:
    code, stdout, stderr = _cli(
        published, "query", "select results from mart.task_progress where results is not null"
    )
    assert code == 0, stderr
    assert "[/x]" in stdout
    assert "[link=https://example.invalid/]" in stdout
    assert "[bold]đậm" in stdout
    # The escape sequence is shown, not sent to the terminal.
    assert "\x1b" not in stdout
    assert "\\x1b[2J" in stdout

    code, stdout, _ = _cli(
        published,
        "query",
        "select results from mart.task_progress where results is not null",
        "--json",
    )
    assert code == 0
    assert json.loads(stdout) == [{"results": f"UBND: {HOSTILE_TEXT}"}]


def test_cli_error_quoting_markup_is_one_clean_line(published: Settings) -> None:
    code, stdout, stderr = _cli(published, "query", "select '[/x]' as a from nowhere")
    assert code == 1
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Lỗi: không có bảng, cột hay hàm này")
    assert "nowhere" in lines[0]


def test_cli_timeout_is_one_vietnamese_line_and_fails(
    published: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_QUERY_TIMEOUT_SECONDS", "1")
    started = time.monotonic()
    code, stdout, stderr = _cli(published, "query", ENDLESS)
    assert code == 1
    assert time.monotonic() - started < 20
    assert stderr.strip() == (
        "Lỗi: truy vấn chạy quá 1 giây nên đã bị dừng; hãy thu hẹp truy vấn (thêm điều kiện "
        "where, bớt cột, dùng limit) rồi chạy lại."
    )
    assert stdout == ""

    code, _, stderr = _cli(published, "query", ENDLESS_AS_WRITTEN)
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("Lỗi: truy vấn không chạy được")


def test_cli_terminal_rows_and_json_within_the_limit(
    published: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_QUERY_TERMINAL_ROWS", "7")
    monkeypatch.setenv("KHCN_QUERY_MAX_ROWS", "100")
    sql_text = "select i from range(250) t(i)"

    code, stdout, stderr = _cli(published, "query", sql_text)
    assert code == 0, stderr
    assert "Đã in 7/100 dòng, 93 dòng không in" in stdout
    assert "│ 6 " in stdout and "│ 7 " not in stdout
    assert "bị cắt ở 100 dòng đầu" in stderr

    code, stdout, stderr = _cli(published, "query", sql_text, "--rows", "20")
    assert "Đã in 20/100 dòng" in stdout

    code, stdout, stderr = _cli(published, "query", sql_text, "--json")
    assert code == 0
    assert json.loads(stdout) == [{"i": i} for i in range(100)]
    assert "bị cắt ở 100 dòng đầu" in stderr

    code, stdout, stderr = _cli(published, "query", "select count(*) n from mart.submissions")
    assert code == 0
    assert "Đã in" not in stdout and stderr == ""
    assert f"{FILES + 1}" in stdout


def test_cli_missing_warehouse_is_named_not_replaced(published: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    code, stdout, stderr = _cli(
        published, "--warehouse", str(missing), "query", "select count(*) from mart.submissions"
    )
    assert code == 1
    assert stdout == ""
    assert str(missing) in stderr
    assert stderr.startswith("Lỗi: không thấy tệp kho")


def test_cli_named_warehouse_is_read_read_only(published: Settings) -> None:
    code, stdout, stderr = _cli(
        published,
        "--warehouse",
        str(published.warehouse),
        "query",
        "select count(*) as n from raw.received_files",
        "--json",
    )
    assert code == 0, stderr
    assert json.loads(stdout) == [{"n": FILES + 1}]
    code, _, stderr = _cli(
        published, "--warehouse", str(published.warehouse), "query", "delete from raw.findings"
    )
    assert code == 1
    assert "chỉ cho đọc" in stderr


def test_cli_missing_published_copy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "empty")
    code, _, stderr = _cli(settings, "query", "select 1")
    assert code == 1
    assert "chưa có bản công bố" in stderr and str(settings.published) in stderr
