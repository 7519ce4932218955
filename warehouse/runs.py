"""Load-run bookkeeping: runs whose process died are closed by the next writer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warehouse.db import connect, sql, transaction
from warehouse.migrate import apply


@dataclass(frozen=True)
class InterruptedRun:
    """A load run that never wrote its end."""

    run_id: int
    started_at: datetime


def close_interrupted_runs(db_path: Path) -> list[InterruptedRun]:
    """Mark every load run without an end as interrupted.

    Call it only while holding the writer lock (`warehouse.lock.writer_lock`): then no other
    run can be loading, and a run without an end is one whose process died. What such a run
    committed stays: each file was loaded in its own transaction.

    Args:
        db_path: the warehouse file; nothing happens if it does not exist yet.

    Returns:
        The runs closed now, oldest first.
    """
    if not db_path.is_file():
        return []
    con = connect(db_path)
    try:
        apply(con)
        with transaction(con):
            rows = con.execute(
                sql("runs/close_interrupted"), {"closed_at": datetime.now(UTC)}
            ).fetchall()
    finally:
        con.close()
    return [InterruptedRun(int(run_id), started) for run_id, started in sorted(rows)]
