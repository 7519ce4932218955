"""Ctrl-C during a run: one line, the run's helper processes stopped, exit 130.

What a run commits is safe at any instant (one transaction per file, the published copy
swapped in atomically, the writer lock released by the kernel), so an interrupted run stops at
once rather than unwinding through Prefect's engine, whose temporary API server the same Ctrl-C
has already stopped: unwinding only printed its connection errors. The next run finishes the
job: it closes the interrupted load run, loads the files still missing and publishes again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

INTERRUPTED_EXIT = 130
_STDERR = 2
MESSAGE = (
    "Đã dừng theo yêu cầu (Ctrl-C). Các tệp đã nạp xong được giữ nguyên; "
    "chạy lại lệnh để nạp tiếp phần còn lại.\n"
)


def _children() -> list[int]:
    """This process's child processes (Linux `/proc`), empty where that is not available."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name in parentheses may hold spaces: the fields follow the last ')'.
            fields = entry.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                found.append(int(entry.parent.name))
    return found


def _stop_children(grace: float) -> None:
    """Ask every child to stop, then kill those still there after `grace` seconds."""
    children = _children()
    for pid in children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = set(children)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            with contextlib.suppress(ChildProcessError, OSError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
            alive.discard(pid)
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _stop(signum: int, frame: FrameType | None) -> None:
    # A second Ctrl-C while stopping changes nothing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        # The file descriptor, not `sys.stderr`: Prefect and rich may have wrapped that one.
        # A spinner hid the terminal's cursor; nothing will show it again after `_exit`.
        shown = "\x1b[?25h\r" if os.isatty(_STDERR) else ""
        os.write(_STDERR, (shown + MESSAGE).encode("utf-8"))
    _stop_children(grace=2.0)
    os._exit(INTERRUPTED_EXIT)


@contextmanager
def stop_cleanly_on_interrupt() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) ends the process at once, cleanly, with exit 130."""
    previous = signal.signal(signal.SIGINT, _stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
