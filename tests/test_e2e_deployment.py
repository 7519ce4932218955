"""End to end: a real Prefect server and worker run both deployments of prefect.yaml."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from core.settings import PROJECT_ROOT, SCHEMAS_DIR, Settings
from demo.samples import write_sample_inbox
from schemas.schema import load_schema
from warehouse.publish import published_database

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
POOL = "khcn-process"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"Prefect server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"Prefect server not healthy in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Prefect server on a loopback port with its own home, and a process worker."""
    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "KHCN_"))
    }
    env |= {
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_API_URL": api,
        "KHCN_DATA_DIR": str(root / "data"),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    logs = root / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        server_log = logs / "server.log"
        server = subprocess.Popen(
            [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            stdout=server_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        processes.append(server)
        _wait_healthy(api, server, server_log, timeout=90)
        _prefect(env, "work-pool", "create", POOL, "--type", "process")
        _prefect(env, "--no-prompt", "deploy", "--all")
        worker = subprocess.Popen(
            [BIN / "prefect", "worker", "start", "--pool", POOL, "--limit", "1"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(logs / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        processes.append(worker)
        yield env | {"LOGS": str(logs)}
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _prefect(env: dict[str, str], *args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [BIN / "prefect", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _run(env: dict[str, str], deployment: str) -> None:
    try:
        output = _prefect(
            env, "deployment", "run", deployment, "--watch", "--watch-timeout", "300", timeout=360
        )
    except AssertionError as failed:
        worker_log = (Path(env["LOGS"]) / "worker.log").read_text()[-4000:]
        raise AssertionError(f"{deployment} failed; worker log:\n{worker_log}") from failed
    assert "Completed" in output, output


def test_both_deployments_run_to_completion(stack: dict[str, str]) -> None:
    data = Path(stack["KHCN_DATA_DIR"])
    schema = load_schema(Settings(schemas_dir=SCHEMAS_DIR, data_dir=data))
    made = write_sample_inbox(schema, ["2026Q2"], data / "inbox", seed=11, missing_rate=0)

    _run(stack, "ingest-submissions/on-demand")
    _run(stack, "consolidate-nightly/nightly")

    published = published_database(Settings(data_dir=data).published)
    with duckdb.connect(str(published), read_only=True) as con:
        received = con.execute("select count(*) from mart.submissions").fetchone()
        accepted = con.execute(
            "select count(*) from mart.submissions where status = 'accepted'"
        ).fetchone()
    assert received is not None and received[0] == len(made.files)
    assert accepted is not None and accepted[0] > 0


def test_nightly_schedule_is_in_vietnam_time(stack: dict[str, str]) -> None:
    shown = json.loads(
        _prefect(stack, "deployment", "inspect", "consolidate-nightly/nightly", "--output", "json")
    )
    [schedule] = shown["schedules"]
    assert schedule["schedule"]["cron"] == "30 1 * * *"
    assert schedule["schedule"]["timezone"] == "Asia/Ho_Chi_Minh"
    assert schedule["active"] is True
