"""`khcn serve` over real HTTP on loopback: uvicorn on a free port, httpx as the client, a real
published copy, real tokens, a real publish looping while requests run."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uvicorn
from query_support import build_published
from typer.testing import CliRunner

from core.settings import PROJECT_ROOT, Settings
from khcn.cli import app
from khcn.service import DASHBOARD_FILE, QUERY_LOG, QueryLog, create_app
from khcn.tokens import add_token, revoke_token, tokens_file
from warehouse.publish import publish
from warehouse.query import QueryLimits, run_bounded

ENDLESS = "select sum(i) from range(100000000000000) t(i)"


@dataclass
class Service:
    settings: Settings
    url: str
    token: str

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("service") / "data",
        query_timeout_seconds=2,
        query_max_rows=1000,
        query_concurrency=4,
    )
    build_published(settings)
    token = add_token(tokens_file(settings.service), "so-khcn")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield Service(settings, f"http://127.0.0.1:{port}", token)
    server.should_exit = True
    thread.join(30)


def _log(service: Service) -> list[dict[str, object]]:
    path = service.settings.service / QUERY_LOG
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_no_token_no_data(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=60) as anonymous:
        for response in (
            anonymous.get("/api/marts/completeness"),
            anonymous.post("/api/query", json={"sql": "select 1"}),
            anonymous.get("/"),
            anonymous.get("/api/marts"),
        ):
            assert response.status_code == 401
            assert "mã truy cập" in response.json()["error"]
            assert response.headers["www-authenticate"].startswith("Basic")
        assert anonymous.get("/api/health").json()["ok"] is True
    with service.client(token="khcn_wrong") as wrong:
        assert wrong.get("/api/marts/completeness").status_code == 401
    assert any(e["outcome"] == "unauthorized" and e["who"] is None for e in _log(service))


def test_revoked_token_is_refused_at_once(service: Service) -> None:
    path = tokens_file(service.settings.service)
    token = add_token(path, "tinh-ninh-binh")
    with service.client(token=token) as client:
        assert client.get("/api/marts/completeness").status_code == 200
        revoke_token(path, "tinh-ninh-binh")
        assert client.get("/api/marts/completeness").status_code == 401
    stored = path.read_text(encoding="utf-8")
    assert token not in stored and service.token not in stored


def test_statement_past_its_timeout_is_cut_and_answered(service: Service) -> None:
    started = time.monotonic()
    with service.client() as client:
        response = client.post("/api/query", json={"sql": ENDLESS})
    assert time.monotonic() - started < 20
    assert response.status_code == 408
    assert response.json() == {
        "error": "truy vấn chạy quá 2 giây nên đã bị dừng; hãy thu hẹp truy vấn (thêm điều kiện "
        "where, bớt cột, dùng limit) rồi chạy lại.",
        "kind": "timeout",
    }
    with service.client() as client:
        # As the issue wrote it, the statement does not even bind in this DuckDB.
        literal = client.post("/api/query", json={"sql": "select sum(i) from range(1e14)"})
        assert literal.status_code == 400
        # The service is still answering.
        assert client.post("/api/query", json={"sql": "select 42 as n"}).json()["rows"] == [
            {"n": 42}
        ]
    entry = next(e for e in reversed(_log(service)) if e["what"] == ENDLESS)
    assert (entry["who"], entry["kind"], entry["outcome"], entry["rows"]) == (
        "so-khcn",
        "query",
        "timeout",
        0,
    )


@pytest.mark.parametrize(
    "sql_text",
    [
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/passwd')",
        "attach '/etc/passwd' as p",
        "copy (select 1) to '/tmp/khcn-service-leak.csv'",
    ],
)
def test_file_reads_are_refused(service: Service, sql_text: str) -> None:
    with service.client() as client:
        response = client.post("/api/query", json={"sql": sql_text})
    assert response.status_code == 403
    assert "root:" not in response.text
    assert response.json()["kind"] == "refused"


def test_writes_are_refused(service: Service) -> None:
    with service.client() as client:
        response = client.post("/api/query", json={"sql": "delete from mart.submissions"})
        assert response.status_code == 403
        count = client.post(
            "/api/query", json={"sql": "select count(*) as n from mart.submissions"}
        )
    assert count.json()["rows"][0]["n"] > 0


def test_mart_outputs_read_back(service: Service) -> None:
    limits = QueryLimits.from_settings(service.settings)
    expected = run_bounded(
        service.settings.published,
        "select * from mart.submissions where period = '2026Q1' and unit_type = 'Thôn'",
        limits,
    ).records()
    assert expected
    params = {"period": "2026Q1", "unit_type": "Thôn"}
    with service.client() as client:
        as_json = client.get("/api/marts/submissions", params=params)
        as_csv = client.get("/api/marts/submissions", params={**params, "format": "csv"})
        as_parquet = client.get("/api/marts/submissions", params={**params, "format": "parquet"})
    assert as_json.status_code == as_csv.status_code == as_parquet.status_code == 200
    body = as_json.json()
    assert (body["row_count"], body["truncated"]) == (len(expected), False)
    assert [r["submission_id"] for r in body["rows"]] == [r["submission_id"] for r in expected]
    assert as_json.headers["x-row-count"] == str(len(expected))

    frame = pd.read_csv(io.StringIO(as_csv.text))
    assert list(frame.columns) == list(expected[0])
    assert frame["submission_id"].tolist() == [r["submission_id"] for r in expected]
    assert set(frame["period"]) == {"2026Q1"}

    table = pq.read_table(io.BytesIO(as_parquet.content))
    assert table.to_pylist() == expected


def test_mart_filters_are_checked_against_its_columns(service: Service) -> None:
    with service.client() as client:
        several = client.get("/api/marts/completeness", params=[("year", "2026")]).json()
        two = client.get(
            "/api/marts/expected_reports",
            params=[("period", "2026Q1"), ("period", "2026Q2"), ("accepted", "true")],
        ).json()
        unknown = client.get("/api/marts/completeness", params={"1=1 or period": "x"})
        hostile = client.get("/api/marts/completeness", params={"period": "x' or '1'='1"})
        no_mart = client.get("/api/marts/raw.findings")
        bad_format = client.get("/api/marts/completeness", params={"format": "xml"})
        limited = client.get("/api/marts/submissions", params={"limit": "3"})
        listing = client.get("/api/marts").json()
    assert several["row_count"] > 0 and {r["year"] for r in several["rows"]} == {2026}
    assert {r["period"] for r in two["rows"]} == {"2026Q1", "2026Q2"}
    assert all(r["accepted"] for r in two["rows"])
    assert unknown.status_code == 400 and "không có cột «1=1 or period»" in unknown.json()["error"]
    assert hostile.status_code == 200 and hostile.json()["row_count"] == 0
    assert no_mart.status_code == 404
    assert bad_format.status_code == 400
    assert limited.json()["row_count"] == 3 and limited.json()["truncated"] is True
    assert limited.headers["x-truncated"] == "true"
    assert "on_time_rate" in listing["completeness"]


def test_fifty_concurrent_mart_requests_during_publishes(service: Service) -> None:
    settings = service.settings
    stop = threading.Event()
    published: list[float] = []
    failures: list[BaseException] = []

    def publish_in_a_loop() -> None:
        try:
            while not stop.is_set():
                publish(settings.warehouse, settings.published)
                published.append(time.monotonic())
        except BaseException as exc:  # the test fails on any, reported below
            failures.append(exc)

    def fetch(client: httpx.Client, i: int) -> tuple[int, int, str]:
        name = ("completeness", "submissions", "expected_reports", "indicators")[i % 4]
        response = client.get(f"/api/marts/{name}", params={"format": ("json", "csv")[i % 2]})
        return response.status_code, len(response.content), response.text[:200]

    publisher = threading.Thread(target=publish_in_a_loop, daemon=True)
    publisher.start()
    answers: list[tuple[int, int, str]] = []
    rounds = 0
    try:
        while not published and publisher.is_alive():
            time.sleep(0.05)
        start_count = len(published)
        with (
            service.client(limits=httpx.Limits(max_connections=50)) as client,
            ThreadPoolExecutor(max_workers=50) as pool,
        ):
            # Rounds of 50 at once until publications have swapped the file under them.
            while (len(published) - start_count < 2 or rounds < 2) and rounds < 40:
                answers += pool.map(lambda i: fetch(client, i), range(50))
                rounds += 1
        swaps = len(published) - start_count
    finally:
        stop.set()
        publisher.join(120)
    assert not failures, failures
    assert swaps >= 2, f"only {swaps} publications during {rounds} rounds"
    assert len(answers) == 50 * rounds
    assert all(status == 200 and size > 0 for status, size, _ in answers), [
        a for a in answers if a[0] != 200
    ][:3]


def test_dashboard_at_root(service: Service) -> None:
    page = service.settings.published / DASHBOARD_FILE
    page.unlink(missing_ok=True)
    with service.client() as client:
        placeholder = client.get("/")
    assert placeholder.status_code == 200
    assert "Chưa có trang tổng quan" in placeholder.text
    page.write_text("<html><body>tổng quan thử</body></html>", encoding="utf-8")
    try:
        # A browser sends the token as the password of Basic authentication.
        with httpx.Client(base_url=service.url, auth=("bat-ky", service.token)) as browser:
            served = browser.get("/")
        with httpx.Client(base_url=service.url, auth=(service.token, "")) as curl_style:
            assert curl_style.get("/api/marts").status_code == 200
    finally:
        page.unlink()
    assert served.status_code == 200 and "tổng quan thử" in served.text


def test_every_request_is_logged(service: Service) -> None:
    with service.client() as client:
        client.get("/api/marts/completeness", params={"period": "2026Q1"})
        client.post("/api/query", json={"sql": "select 7 as seven"})
        client.post("/api/query", json={"sql": "selec 1"})
    entries = _log(service)[-3:]
    assert [(e["who"], e["kind"], e["outcome"]) for e in entries] == [
        ("so-khcn", "mart", "ok"),
        ("so-khcn", "query", "ok"),
        ("so-khcn", "query", "invalid"),
    ]
    assert entries[0]["what"] == {"mart": "completeness", "filters": {"period": ["2026Q1"]}}
    assert entries[1]["rows"] == 1 and entries[1]["what"] == "select 7 as seven"
    assert all(isinstance(e["seconds"], float | int) and "at" in e for e in entries)


def test_malformed_request_gets_a_vietnamese_answer(service: Service) -> None:
    with service.client() as client:
        response = client.post("/api/query", content=b"not json")
    assert response.status_code == 400
    assert "yêu cầu không hợp lệ" in response.json()["error"]


def test_tokens_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    added = runner.invoke(app, [*base, "tokens", "add", "so-khcn"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("khcn_") and len(token) > 40
    assert "chỉ hiện lần này" in added.stderr

    again = runner.invoke(app, [*base, "tokens", "add", "so-khcn"])
    assert again.exit_code == 1 and "đã có mã truy cập" in again.stderr
    bad_name = runner.invoke(app, [*base, "tokens", "add", "[bold]x y"])
    assert bad_name.exit_code == 1 and "[bold]x y" in bad_name.stderr

    listed = runner.invoke(app, [*base, "tokens", "list", "--json"])
    assert [(r["name"], r["revoked_at"]) for r in json.loads(listed.stdout)] == [("so-khcn", None)]
    assert token not in listed.stdout

    revoked = runner.invoke(app, [*base, "tokens", "revoke", "so-khcn"])
    assert revoked.exit_code == 0
    listed = runner.invoke(app, [*base, "tokens", "list"])
    assert "thu hồi lúc" in listed.stdout
    missing = runner.invoke(app, [*base, "tokens", "revoke", "so-khcn"])
    assert missing.exit_code == 1

    stored = (tmp_path / "service" / "tokens.json").read_text(encoding="utf-8")
    assert token not in stored
    assert (tmp_path / "service" / "tokens.json").stat().st_mode & 0o077 == 0


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["--data-dir", str(tmp_path), "serve", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"không mở được cổng {port}" in result.stderr


def test_odd_results_in_every_format(service: Service) -> None:
    sql_text = "select 1 as a, 2 as a, 1.5::decimal(10, 2) as d, [1, 2] as l, null as n"
    with service.client() as client:
        as_json = client.post("/api/query", json={"sql": sql_text}).json()
        as_csv = client.post("/api/query", json={"sql": sql_text, "format": "csv"})
        as_parquet = client.post("/api/query", json={"sql": sql_text, "format": "parquet"})
        interval = client.post(
            "/api/query", json={"sql": "select interval 1 day as i", "format": "parquet"}
        )
    assert as_json["columns"] == ["a", "a", "d", "l", "n"]
    assert as_json["rows"] == [{"a": 1, "a_2": 2, "d": 1.5, "l": [1, 2], "n": None}]
    assert as_csv.text.splitlines() == ["a,a,d,l,n", '1,2,1.5,"[1, 2]",']
    assert pq.read_table(io.BytesIO(as_parquet.content)).num_rows == 1
    assert interval.status_code == 400 and "Parquet" in interval.json()["error"]


def test_khcn_serve_command_answers_and_stops_on_interrupt(service: Service) -> None:
    """The command itself, as the analyst starts it: a real process, stopped with Ctrl-C."""
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("khcn")),
        "--data-dir",
        str(service.settings.data_dir),
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "khcn serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {service.token}"},
            timeout=60,
        ) as client:
            answer = client.get("/api/marts/completeness", params={"format": "csv"})
        assert answer.status_code == 200 and answer.text.startswith("period,year,")
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}/" in stdout


def test_query_log_rotates(tmp_path: Path) -> None:
    log = QueryLog(tmp_path / QUERY_LOG, max_bytes=200, keep=2)
    for i in range(20):
        log.write(who="so-khcn", kind="query", what=f"select {i}", rows=1, outcome="ok")
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [QUERY_LOG, f"{QUERY_LOG}.1", f"{QUERY_LOG}.2"]
    last = (tmp_path / QUERY_LOG).read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["what"] == "select 19"
    assert all(p.stat().st_size < 400 for p in tmp_path.iterdir())
