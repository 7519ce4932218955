"""The warehouse's writer lock dies with its holder, and the next run says it cleared it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.settings import PROJECT_ROOT
from warehouse.lock import Holder, lock_path, writer_lock

# A process that takes the lock, says so, then waits to be killed (or to be told to let go).
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from warehouse.lock import writer_lock

    with writer_lock(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def _holder(db: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_killed_holder_does_not_block_the_next_writer(tmp_path: Path) -> None:
    db = tmp_path / "data" / "warehouse.duckdb"
    holder = _holder(db)
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with writer_lock(db) as lock:
        assert time.monotonic() - started < 5
        assert lock.stale is not None and lock.stale.pid == holder.pid
        assert f"tiến trình {holder.pid}" in lock.stale.describe()
    # Let go cleanly: the next writer finds nothing stale.
    with writer_lock(db) as lock:
        assert lock.stale is None
    assert lock_path(db).read_bytes() == b""


def test_a_live_holder_is_waited_for_and_named(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    holder = _holder(db)
    told: list[Holder | None] = []

    def on_wait(who: Holder | None) -> None:
        told.append(who)
        # The holder lets go once the waiter has been told who holds the lock.
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()

    with writer_lock(db, on_wait=on_wait) as lock:
        assert lock.stale is None
    assert holder.wait(timeout=30) == 0
    assert [who.pid if who else None for who in told] == [holder.pid]
