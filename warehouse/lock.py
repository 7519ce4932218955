"""The warehouse's single-writer lock: an OS lock on a file beside the warehouse.

The kernel releases an `flock` when the process holding it ends, however it ends (Ctrl-C,
kill -9, a crash, a power cut), so a dead run never blocks the next one. The holder writes who
it is into the file and empties it when it lets go cleanly: a run that finds the lock free but
the file not empty knows its predecessor died holding it, and says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class Holder:
    """Who held (or holds) the lock, as the holder wrote it."""

    pid: int | None
    host: str | None
    since: str | None

    def describe(self) -> str:
        """The holder in words, for a log line."""
        parts = [f"tiến trình {self.pid}" if self.pid else "một tiến trình"]
        if self.host:
            parts.append(f"trên máy {self.host}")
        if self.since:
            parts.append(f"từ {self.since}")
        return " ".join(parts)


@dataclass
class WriterLock:
    """A held lock; `stale` is the dead holder it replaced, if there was one."""

    path: Path
    stale: Holder | None


def lock_path(db_path: Path) -> Path:
    """The lock file of a warehouse: `<warehouse>.lock`, beside it."""
    return db_path.with_name(db_path.name + LOCK_SUFFIX)


def _read_holder(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        host=str(data["host"]) if data.get("host") else None,
        since=str(data["since"]) if data.get("since") else None,
    )


def _write_holder(fd: int) -> None:
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
    os.fsync(fd)


@contextmanager
def writer_lock(
    db_path: Path, *, on_wait: Callable[[Holder | None], None] | None = None
) -> Iterator[WriterLock]:
    """Hold the warehouse's writer lock for the duration of the block.

    Waits while another live process holds it (`on_wait` is told once, with that holder).

    Args:
        db_path: the warehouse file; the lock file is created beside it.
        on_wait: called once if the lock is busy, before waiting for it.

    Yields:
        The held lock, with the dead holder it replaced in `stale`.
    """
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(_read_holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        # The lock is ours; a holder still written in the file died without letting go.
        stale = _read_holder(fd)
        _write_holder(fd)
        try:
            yield WriterLock(path=path, stale=stale)
        finally:
            os.ftruncate(fd, 0)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
