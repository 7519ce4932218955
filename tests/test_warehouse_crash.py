"""kill -9 of a loading process at random moments: the warehouse always opens, no submission
is ever partly visible, and a rerun completes the load."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from warehouse_support import whole_submissions

from core.settings import PROJECT_ROOT, Settings
from warehouse.publish import published_database

SUPPORT = PROJECT_ROOT / "tests" / "warehouse_support.py"
KILLS = 20
STEP = 8  # new files per attempt, so every kill can land inside a load


def _start_server(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SUPPORT), "forkserver", str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _run(server: subprocess.Popen[str], count: int) -> int:
    """Start a loading child; returns its pid once it is about to load."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(f"{count}\n")
    server.stdin.flush()
    word, pid = server.stdout.readline().split()
    assert word == "ready"
    return int(pid)


def _wait(server: subprocess.Popen[str]) -> list[str]:
    assert server.stdout is not None
    lines = []
    while not (line := server.stdout.readline().strip()).startswith("exit"):
        lines.append(line)
    return [*lines, line]


def _check_consistent(db: Path) -> int:
    """Every registered file has its submission, every submission all its rows."""
    with duckdb.connect(str(db)) as con:
        loaded = whole_submissions(con)
        marts = con.execute(
            "select (select count(*) from mart.data_values), "
            "(select coalesce(sum(value_count), 0) from mart.submissions where is_current)"
        ).fetchone()
    assert marts is not None and marts[0] == marts[1]
    return loaded


def test_kill_9_at_random_points(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = Settings(data_dir=data_dir).warehouse
    rng = random.Random(20260930)
    server = _start_server(data_dir)
    try:
        loaded = 0
        for attempt in range(1, KILLS + 1):
            pid = _run(server, STEP * attempt)
            # Setting up, loading STEP new files and publishing take about a second here.
            time.sleep(rng.uniform(0, 0.8))
            with contextlib.suppress(ProcessLookupError):  # it may have just finished
                os.kill(pid, signal.SIGKILL)
            _wait(server)
            loaded = _check_consistent(db)
            published = published_database(data_dir / "published")
            if published.exists():
                with duckdb.connect(str(published), read_only=True) as con:
                    con.execute("select count(*) from mart.submissions").fetchone()

        final = STEP * KILLS
        _run(server, final)
        assert _wait(server) == ["done", "exit 0"]
        assert _check_consistent(db) == final >= loaded
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    with duckdb.connect(str(published_database(data_dir / "published")), read_only=True) as con:
        accepted = con.execute(
            "select count(*) from mart.submissions where status = 'accepted'"
        ).fetchone()
    assert accepted == (final,)
