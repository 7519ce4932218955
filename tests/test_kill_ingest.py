"""Kill and interrupt a real `khcn ingest` at random points; the next run always finishes the
job, and the end state is that of one clean run.

Every run here is a real `khcn ingest` subprocess. To keep Prefect's start-up out of most of
them, one real Prefect server is started on loopback for the module and the runs reach it
through `PREFECT_API_URL`; the plain Ctrl-C test uses Prefect's own temporary server, as an
analyst's terminal does. Signals go to the run's whole process group, as a terminal's Ctrl-C
does, so the run's reader workers and temporary server receive them too.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from warehouse_support import whole_submissions

from core.settings import PROJECT_ROOT, Settings
from demo.samples import write_sample_inbox
from khcn.interrupt import INTERRUPTED_EXIT
from schemas.schema import load_schema
from warehouse.lock import lock_path

KHCN = Path(sys.executable).with_name("khcn")
KILLS = 20
SEED = 20261130
RUN_TIMEOUT = 600.0  # a run that does not reach its next step in this time is blocked
LOADING = "Đang nạp "  # the flow's line before the load
LOAD_BATCH = 4  # files per load transaction in these runs
PUBLISHING = "Đang công bố"  # and the one after it, before the publication
STALE_LOCK = "Đã gỡ khoá ghi kho cũ"
STOPPED = "Đã dừng theo yêu cầu (Ctrl-C)."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def shared_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server on loopback, shared by the module's runs."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect")), "server", "start"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Prefect server for the kill tests did not start")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Run:
    """One `khcn ingest` subprocess, its stderr read line by line as it comes."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stderr: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float = RUN_TIMEOUT) -> bool:
        """Wait until a stderr line contains `text`; False if the run ended first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"blocked: no '{text}' within {timeout:.0f} s")
            if line is None:
                return False
            if text in line:
                return True

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = RUN_TIMEOUT) -> tuple[int, str, str]:
        self.process.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=30)
        return self.process.returncode, "".join(self.stdout), "".join(self.stderr)

    def start_reading(self) -> None:
        """One thread per pipe: stderr line by line for `wait_for`, stdout whole."""

        def read_stderr() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr.append(line)
                self.lines.put(line)
            self.lines.put(None)

        def read_stdout() -> None:
            assert self.process.stdout is not None
            self.stdout.append(self.process.stdout.read())

        self.readers = [
            threading.Thread(target=read_stderr, daemon=True),
            threading.Thread(target=read_stdout, daemon=True),
        ]
        for reader in self.readers:
            reader.start()


def ingest(data_dir: Path, inbox: Path, api_url: str | None, *, as_json: bool = True) -> Run:
    """Start `khcn ingest` in a process group of its own, as a terminal would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHCN_", "PREFECT_"))}
    env |= {"PREFECT_LOGGING_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    # Small batches: the load of one quarter spans several transactions, so a kill timed
    # within it lands inside a batch or between two.
    env["KHCN_LOAD_BATCH"] = str(LOAD_BATCH)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    command = [str(KHCN), "--data-dir", str(data_dir), "--inbox", str(inbox), "ingest"]
    process = subprocess.Popen(
        command + (["--json"] if as_json else []),
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    run = Run(process)
    run.start_reading()
    return run


def wait_for_publication(
    published: Path, run: Run, leftovers: set[Path], timeout: float = RUN_TIMEOUT
) -> bool:
    """Wait until this run's publication's temporary file appears (not one of the `leftovers`
    of a publication killed before, which this one sweeps); False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(published.glob(".tmp-*.duckdb")) - leftovers:
            return True
        if run.process.poll() is not None:
            return False
        time.sleep(0.003)
    pytest.fail("blocked: no publication started")


# -------------------------------------------------------------------------------------------
# What a warehouse holds, without its ids and clocks


def snapshot(db: Path, inbox: Path) -> dict[str, Any]:
    """Every file's submission, verdict, findings and values, keyed by its path in the inbox."""
    with duckdb.connect(str(db)) as con:
        files = con.execute(
            "select replace(r.url, $root, ''), r.sha256, s.verdict, "
            "s.unit_code, s.period_code, s.error_count, "
            "s.warning_count, s.value_count, s.progress_count, c.version, c.is_current "
            "from raw.received_files r join raw.submissions s using (received_file_id) "
            "join core.submissions c using (submission_id) order by r.url, r.sha256",
            {"root": f"{inbox}/"},
        ).fetchall()
        findings = con.execute(
            "select replace(r.url, $root, ''), f.code, f.severity, "
            "f.message, f.sheet, f.row_number, f.column_letter "
            "from raw.findings f join raw.submissions s using (submission_id) "
            "join raw.received_files r using (received_file_id) order by all",
            {"root": f"{inbox}/"},
        ).fetchall()
        values = con.execute(
            "select replace(r.url, $root, ''), v.line, v.task_code, "
            "v.element_code, v.value, v.raw_value "
            "from raw.data_values v join raw.submissions s using (submission_id) "
            "join raw.received_files r using (received_file_id) order by all",
            {"root": f"{inbox}/"},
        ).fetchall()
        current = con.execute(
            "select unit_code, period, element_code, value from mart.data_values order by all"
        ).fetchall()
    return {"files": files, "findings": findings, "values": values, "current": current}


def check_whole(settings: Settings) -> int:
    """The warehouse opens; no file is half loaded or loaded twice; the published copy opens
    whole. Returns the number of submissions loaded."""
    with duckdb.connect(str(settings.warehouse)) as con:
        loaded = whole_submissions(con)
        twice = con.execute(
            "select (select count(*) - count(distinct (sha256, url)) from raw.received_files), "
            "(select count(*) - count(distinct received_file_id) from raw.submissions)"
        ).fetchone()
    assert twice == (0, 0)
    database = settings.published / "warehouse.duckdb"
    if database.exists():
        with duckdb.connect(str(database), read_only=True) as con:
            marts = con.execute(
                "select (select count(*) from mart.data_values), "
                "(select coalesce(sum(value_count), 0) from mart.submissions where is_current), "
                "(select count(*) from meta.publication)"
            ).fetchone()
        assert marts is not None and marts[0] == marts[1] and marts[2] == 1
    return loaded


def published_identity(settings: Settings) -> tuple[int, int] | None:
    """Which published file is in place: each publication renames a new one into place."""
    database = settings.published / "warehouse.duckdb"
    if not database.exists():
        return None
    st = database.stat()
    return st.st_ino, st.st_mtime_ns


def unfinished_runs(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse)) as con:
        row = con.execute(
            "select count(*) from meta.load_runs where finished_at is null"
        ).fetchone()
    assert row is not None
    return int(row[0])


# -------------------------------------------------------------------------------------------
# The inbox and one clean run of it


@dataclass(frozen=True)
class Reference:
    inbox: Path
    snapshot: dict[str, Any]
    published_marts: list[tuple[Any, ...]]
    per_file: float  # seconds the load took per file
    files: list[Path]  # relative to the inbox, in the order they were received


def published_marts(settings: Settings, inbox: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.published / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "select replace(url, $root, ''), unit_code, period, status, version, is_current "
            "from mart.submissions "
            "order by all",
            {"root": f"{inbox}/"},
        ).fetchall()


@pytest.fixture(scope="module")
def reference(shared_prefect: str, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """An inbox of one quarter of the commune, slips included, and one clean run of it."""
    root = tmp_path_factory.mktemp("kill-reference")
    schema = load_schema(Settings(data_dir=root / "unused"))
    inbox = root / "inbox"
    made = write_sample_inbox(schema, ["2026Q2"], inbox, seed=11, slip_rate=0.3)
    settings = Settings(data_dir=root / "clean")
    run = ingest(settings.data_dir, inbox, shared_prefect)
    assert run.wait_for(LOADING)
    started = time.monotonic()
    assert run.wait_for(PUBLISHING)
    took = time.monotonic() - started
    code, _, stderr = run.finish()
    assert code == 0, stderr
    files = sorted(made.files, key=lambda path: (path.stat().st_mtime, path.name))
    return Reference(
        inbox=inbox,
        snapshot=snapshot(settings.warehouse, inbox),
        published_marts=published_marts(settings, inbox),
        per_file=took / len(files),
        files=[path.relative_to(inbox) for path in files],
    )


def deliver(reference: Reference, inbox: Path, count: int) -> int:
    """Copy the next `count` files, in the order they were received, into `inbox`."""
    present = sum(1 for _ in inbox.rglob("*.xlsx")) if inbox.exists() else 0
    for name in reference.files[present : present + count]:
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(reference.inbox / name, inbox / name)
    return min(len(reference.files), present + count)


def loaded_files(settings: Settings) -> int:
    if not settings.warehouse.exists():
        return 0
    with duckdb.connect(str(settings.warehouse)) as con:
        row = con.execute("select count(*) from raw.received_files").fetchone()
    assert row is not None
    return int(row[0])


# -------------------------------------------------------------------------------------------


# Twenty-one runs of `khcn ingest`: about five minutes on an idle two-core machine, much more
# when other work shares it; the limit is there to catch a run that is blocked, not a slow one.
@pytest.mark.timeout(2400)
def test_kill_and_interrupt_at_twenty_random_points(
    reference: Reference, shared_prefect: str, tmp_path: Path
) -> None:
    """A chain on one data folder: each run is killed (SIGKILL) or interrupted (SIGINT) at a
    random point of its load or its publication and is the rerun of the one before."""
    settings = Settings(data_dir=tmp_path / "data")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rng = random.Random(SEED)
    landed = {"load": 0, "publish": 0, "after": 0}
    held_lock = False
    for attempt in range(KILLS):
        signum = rng.choice([signal.SIGKILL, signal.SIGINT])
        target = rng.choice(["load", "load", "publish"])
        # Files keep arriving, as they do, so that loads have something to do.
        delivered = deliver(reference, inbox, 2 if target == "load" else 0)
        pending = delivered - loaded_files(settings)
        leftovers = set(settings.published.glob(".tmp-*.duckdb"))
        published_before = published_identity(settings)
        run = ingest(settings.data_dir, inbox, shared_prefect)
        assert run.wait_for(LOADING), f"attempt {attempt}: ended before its load"
        if target == "load":
            time.sleep(rng.uniform(0, max(pending, 1) * reference.per_file))
        else:
            assert wait_for_publication(settings.published, run, leftovers), f"attempt {attempt}"
            time.sleep(rng.uniform(0, 0.2))
        sent = time.monotonic()
        run.signal(signum)
        code, _, stderr = run.finish()
        stopped = time.monotonic() - sent
        # The run before died holding the warehouse's lock: this one said it cleared it.
        assert (STALE_LOCK in stderr) == held_lock, (attempt, stderr[-2000:])
        held_lock = lock_path(settings.warehouse).stat().st_size > 0
        if not held_lock:  # the signal came once the run had done its work and let go
            landed["after"] += 1
        else:
            assert code == (INTERRUPTED_EXIT if signum == signal.SIGINT else -signal.SIGKILL)
            if signum == signal.SIGINT:
                assert stopped < 15, f"attempt {attempt}: {stopped:.1f} s to stop"
                assert "Traceback" not in stderr, stderr[-3000:]
                assert stderr.count(STOPPED) == 1, stderr[-3000:]
            # Where the signal landed: in a load that has no end, or in this run's publication
            # (an earlier one's temporary file stays until the next publication sweeps it).
            if unfinished_runs(settings):
                landed["load"] += 1
            elif (
                set(settings.published.glob(".tmp-*.duckdb")) - leftovers
                or published_identity(settings) != published_before
            ):
                landed["publish"] += 1
        check_whole(settings)
        print(f"attempt {attempt}: {signal.Signals(signum).name} {target} -> {code} {landed}")

    deliver(reference, inbox, len(reference.files))
    final = ingest(settings.data_dir, inbox, shared_prefect)
    code, stdout, stderr = final.finish()
    assert code == 0, stderr
    assert (STALE_LOCK in stderr) == held_lock
    check_whole(settings)
    assert unfinished_runs(settings) == 0
    assert not list(settings.published.glob(".tmp-*"))
    assert snapshot(settings.warehouse, inbox) == reference.snapshot
    assert published_marts(settings, inbox) == reference.published_marts
    assert landed["load"] >= 2 and landed["publish"] >= 2, landed


def test_ctrl_c_mid_load_then_ingest_again(
    reference: Reference, shared_prefect: str, tmp_path: Path
) -> None:
    """The analyst's Ctrl-C, with Prefect's temporary server: one line, exit 130, then the
    next `khcn ingest` loads exactly the rest and `khcn status` works."""
    settings = Settings(data_dir=tmp_path / "data")
    first = ingest(settings.data_dir, reference.inbox, None, as_json=False)
    assert first.wait_for(LOADING)
    time.sleep(len(reference.files) * reference.per_file / 3)
    sent = time.monotonic()
    first.signal(signal.SIGINT)
    code, _, stderr = first.finish()
    assert time.monotonic() - sent < 15
    assert code == INTERRUPTED_EXIT, stderr
    assert "Traceback" not in stderr and "httpx" not in stderr, stderr[-3000:]
    assert stderr.count(STOPPED) == 1, stderr[-3000:]
    loaded = check_whole(settings)
    assert loaded < len(reference.snapshot["files"]), "the interrupt came after the load"
    with duckdb.connect(str(settings.warehouse)) as con:
        before = {row[0] for row in con.execute("select sha256 from raw.received_files").fetchall()}

    second = ingest(settings.data_dir, reference.inbox, shared_prefect)
    code, stdout, stderr = second.finish()
    assert code == 0, stderr
    assert STALE_LOCK in stderr
    report = json.loads(stdout)
    every = {row[1] for row in reference.snapshot["files"]}
    assert report["new"] == len(every - before)
    assert report["load"]["ignored"] >= loaded
    assert check_whole(settings) == len(reference.snapshot["files"])
    assert snapshot(settings.warehouse, reference.inbox) == reference.snapshot
    assert published_marts(settings, reference.inbox) == reference.published_marts
    assert not list(settings.published.glob(".tmp-*"))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHCN_", "PREFECT_"))}
    status = subprocess.run(
        [str(KHCN), "--data-dir", str(settings.data_dir), "status", "--period", "2026Q2"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0, status.stderr
    assert "2026Q2" in status.stdout


def test_sigkill_mid_load_then_ingest_again(
    reference: Reference, shared_prefect: str, tmp_path: Path
) -> None:
    """kill -9 in the middle of the load: the next run is not blocked and loads the rest."""
    settings = Settings(data_dir=tmp_path / "data")
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    first = ingest(settings.data_dir, reference.inbox, shared_prefect)
    assert first.wait_for(LOADING)
    time.sleep(len(reference.files) * reference.per_file / 3)
    first.signal(signal.SIGKILL)
    code, _, _ = first.finish()
    assert code == -signal.SIGKILL
    assert unfinished_runs(settings) == 1
    check_whole(settings)

    second = ingest(settings.data_dir, reference.inbox, shared_prefect)
    code, _, stderr = second.finish()
    assert code == 0, stderr
    assert STALE_LOCK in stderr and "lần nạp bị ngắt" in stderr
    assert unfinished_runs(settings) == 0
    assert snapshot(settings.warehouse, reference.inbox) == reference.snapshot
    assert published_marts(settings, reference.inbox) == reference.published_marts
