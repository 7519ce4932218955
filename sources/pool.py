"""Isolated worker processes: payloads run where a crash, an abort or a hang costs one payload.

A worker is a fresh interpreter that imports only the work's module. multiprocessing's spawn
and forkserver would also re-run the caller's `__main__` in every worker (pytest, Prefect's
engine, a script without a main guard), which took seconds per worker; fork would share a
Prefect/DuckDB process's threads and address space, so no address-space cap fits it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Generic, TypeVar

P = TypeVar("P")
R = TypeVar("R")

_WORKER_MAIN = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[4]); "
    "from sources.pool import serve_worker; "
    "serve_worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
)
# How often a worker is checked for having exited without its socket saying so.
_POLL_SECONDS = 1.0


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def serve_worker(fd: int, memory_bytes: int, progress_fd: int) -> None:
    """The loop of a worker process: `work` first, then chunks of (index, payload) until None.

    A chunk's results go back in one message once its last payload is done. Which payload is
    running, and since when, the worker writes into a word of memory it shares with the
    calling process (`_Progress`) before each payload: a hang or a crash is blamed on that
    payload alone, without a message per payload to wake the calling process.

    Args:
        fd: the worker's end of the socket to the calling process.
        memory_bytes: the address-space limit, set once `work`'s module is imported.
        progress_fd: the shared progress word's file.
    """
    # Ctrl-C in a terminal reaches the whole process group; the calling process decides when
    # a worker stops (it closes the socket or kills it), so the worker does not die mid-send.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    progress = _Progress(progress_fd)
    work: Callable[[Any], Any]
    reducers: Mapping[type, Callable[[Any], Any]]
    work, reducers = conn.recv()
    for cls, reduce in reducers.items():
        ForkingPickler.register(cls, reduce)
    # What `work` carries lives as long as the worker (a province's names: ~60 MB of objects):
    # left out of the cyclic garbage collector's passes, which otherwise walk it again and
    # again while files are read (reading took 10 % more CPU).
    gc.freeze()
    _limit_memory(memory_bytes)
    while True:
        try:
            chunk = conn.recv()
        except EOFError:
            return
        if chunk is None:
            return
        results = []
        for index, payload in chunk:
            progress.start(index)
            try:
                results.append(("done", index, work(payload)))
            except Exception:  # noqa: BLE001 - whatever a payload raises costs that payload only
                results.append(("failed", index, "crash"))
        progress.stop()
        conn.send(results)


class _Progress:
    """The payload a worker is on and since when, in one word of memory the worker and the
    calling process share: `(index + 1) << 40 | start` (milliseconds of the system's monotonic
    clock), 0 between payloads. One aligned 8-byte store, so a reader never sees half of it.
    """

    _CLOCK_BITS = 40
    _CLOCK_MASK = (1 << _CLOCK_BITS) - 1
    # The most payloads a run may number in the word's other 24 bits.
    MOST_PAYLOADS = (1 << (64 - _CLOCK_BITS)) - 1

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, 8)
        self._word = memoryview(self._map).cast("Q")

    @classmethod
    def create(cls) -> tuple[_Progress, int]:
        """A new word, and the descriptor of its file (to be passed to the worker, then closed)."""
        fd = os.memfd_create("khcn-progress")
        os.ftruncate(fd, 8)
        return cls(fd), fd

    def start(self, index: int) -> None:
        self._word[0] = (index + 1) << self._CLOCK_BITS | time.monotonic_ns() // 1_000_000

    def stop(self) -> None:
        self._word[0] = 0

    def running(self) -> tuple[int, float] | None:
        """(index, start in `time.monotonic` seconds) of the running payload, or None."""
        word = self._word[0]
        if not word:
            return None
        return (word >> self._CLOCK_BITS) - 1, (word & self._CLOCK_MASK) / 1000

    def close(self) -> None:
        self._word.release()
        self._map.close()


@dataclass(slots=True)
class _Slot:
    process: subprocess.Popen[bytes]
    conn: Connection
    progress: _Progress
    # Indexes of the payloads sent and not answered yet, in the order sent.
    pending: deque[int] = field(default_factory=deque)
    # Sizes of the chunks sent and not answered yet: the one worked on, and at most one ahead.
    chunks: deque[int] = field(default_factory=deque)
    fd: int = -1
    # Whether another message waits: `Connection.poll` builds a selector at every call.
    readable: Any = None

    def __post_init__(self) -> None:
        self.fd = self.conn.fileno()
        self.readable = select.poll()
        self.readable.register(self.fd, select.POLLIN)

    def running(self) -> tuple[int, float] | None:
        """(index, start) of the payload the worker is on, when it is one of this run's."""
        running = self.progress.running()
        return running if running is not None and running[0] in self.pending else None


def _start_worker(work: bytes, memory_bytes: int) -> _Slot:
    """A worker process, sent `work` (pickled with its reducers, see `Pool`) first."""
    # Imported here: the worker itself (which imports this module) has no use for settings.
    from core.settings import worker_environment

    ours, theirs = socket.socketpair()
    progress, progress_fd = _Progress.create()
    with ours, theirs:
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WORKER_MAIN,
                    str(theirs.fileno()),
                    str(memory_bytes),
                    str(progress_fd),
                    json.dumps(sys.path),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(), progress_fd),
                env=worker_environment(),
            )
        finally:
            os.close(progress_fd)
        conn = Connection(ours.detach())
    conn.send_bytes(work)
    return _Slot(process, conn, progress)


def _stop_worker(slot: _Slot, grace: float) -> None:
    try:
        slot.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        slot.process.kill()
        slot.process.wait()
    slot.conn.close()
    slot.progress.close()


class Pool(Generic[P, R]):
    """Worker processes that outlive one `run`: started on the first payloads, kept until
    `close` (or the end of a `with` block), each replaced when it crashes or overruns.

    `work` (with whatever it carries, e.g. a `functools.partial` holding the registry's names)
    is sent once to each worker when it starts; payloads then carry only their own data. It is
    pickled once, here: the pool keeps its bytes, not the objects (a province's names are
    2.5 MB pickled, 57 MB as objects, which the calling process need not hold). `run`
    may be called many times, from one thread at a time, not necessarily the thread that
    created the pool. See `run_isolated` for what happens to a payload that crashes its worker.
    """

    def __init__(
        self,
        work: Callable[[P], R],
        fail: Callable[[P, str], R],
        *,
        workers: int,
        timeout: float,
        memory_bytes: int,
        chunk_size: int = 16,
        reducers: Mapping[type, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.work = bytes(ForkingPickler.dumps((work, dict(reducers or {}))))
        self.fail = fail
        self.workers = max(1, workers)
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.chunk_size = max(1, chunk_size)
        self.slots: list[_Slot] = []
        # One poll set for the pool's life: building one per wait cost more than a result.
        self._poller = select.poll()
        # One run at a time: a second thread calling `run` waits instead of sharing sockets.
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Pool[P, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers (none before the first `run`)."""
        return [slot.process.pid for slot in self.slots]

    def start(self) -> _Slot:
        """A new worker, given `work` once, watched by the pool's poll set."""
        slot = _start_worker(self.work, self.memory_bytes)
        self._poller.register(slot.fd, select.POLLIN)
        return slot

    def stop(self, slot: _Slot, grace: float) -> None:
        """Waits `grace` seconds for a worker to exit, then kills it."""
        with contextlib.suppress(KeyError, ValueError):
            self._poller.unregister(slot.fd)
        _stop_worker(slot, grace)

    def run(self, payloads: Sequence[P]) -> list[R]:
        """The result of every payload, in order."""
        if not payloads:
            return []
        most = _Progress.MOST_PAYLOADS
        if len(payloads) > most:
            return self.run(payloads[:most]) + self.run(payloads[most:])
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is closed")
            run = _Run(self, payloads)
            wanted = max(1, min(self.workers, -(-len(payloads) // self.chunk_size)))
            done = False
            try:
                while len(self.slots) < wanted:
                    self.slots.append(self.start())
                while len(run.results) < len(payloads):
                    run.dispatch()
                    ready = {fd for fd, _ in self._poller.poll(1000 * run.wait_seconds())}
                    for slot in list(self.slots):
                        run.collect(slot, ready)
                done = True
            finally:
                if not done:
                    # Interrupted mid-run: a worker still busy would answer the next run with
                    # this one's results. It is stopped; the next run starts another.
                    for slot in [s for s in self.slots if s.pending]:
                        self.slots.remove(slot)
                        slot.process.kill()
                        self.stop(slot, 0)
            return [run.results[i] for i in range(len(payloads))]

    def close(self) -> None:
        """Asks every worker to stop, then waits for it (killing it after a second)."""
        with self._lock:
            self._closed = True
            slots, self.slots = self.slots, []
            for slot in slots:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
            for slot in slots:
                self.stop(slot, 1)


# A chunk this small may be sent while the worker is still on the previous one, so it never
# waits for the calling process between chunks; one this small always fits in the socket's
# buffer, so sending it never blocks on a worker that is itself busy sending results.
_AHEAD_BYTES = 32 * 1024


@dataclass(slots=True)
class _Run(Generic[P, R]):
    """One `Pool.run`: the queue of payload indexes and the results so far."""

    pool: Pool[P, R]
    payloads: Sequence[P]
    results: dict[int, R] = field(default_factory=dict)
    queue: deque[int] = field(default_factory=deque)
    attempts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue.extend(range(len(self.payloads)))

    def dispatch(self) -> None:
        """A chunk to every idle worker while payloads wait, and one ahead of it.

        Ahead only while the queue holds enough for every worker, so that the last chunks go
        to workers that are idle rather than wait behind a busy one.
        """
        pool = self.pool
        for slot in pool.slots:
            while self.queue and len(slot.chunks) < 2:
                idle = not slot.chunks
                if not idle and len(self.queue) < pool.chunk_size * len(pool.slots):
                    break
                # A run of a few chunks' worth is shared out evenly, not left to one worker.
                share = -(-len(self.payloads) // len(pool.slots))
                size = min(pool.chunk_size, share, len(self.queue))
                chunk = [self.queue.popleft() for _ in range(size)]
                message = ForkingPickler.dumps([(i, self.payloads[i]) for i in chunk])
                if not idle and len(message) > _AHEAD_BYTES:
                    self.queue.extendleft(reversed(chunk))
                    break
                slot.pending.extend(chunk)
                slot.chunks.append(size)
                # A worker that died before its chunk arrived is retired by `collect`.
                with contextlib.suppress(OSError):
                    slot.conn.send_bytes(message)

    def wait_seconds(self) -> float:
        """Until the first running payload's time is up, at most `_POLL_SECONDS`."""
        now = time.monotonic()
        starts = [run[1] for slot in self.pool.slots if (run := slot.running()) is not None]
        return max(
            0.0, min([*(start + self.pool.timeout - now for start in starts), _POLL_SECONDS])
        )

    def collect(self, slot: _Slot, ready: set[int]) -> None:
        """Takes what a worker sent; retires it if it died or its payload overran.

        An idle worker that died (between runs, or killed from outside) is replaced too.
        """
        dead = slot.fd in ready and not self._receive(slot)
        if dead or (slot.pending and slot.process.poll() is not None):
            self.retire(slot, "crash")
            return
        running = slot.running()
        if running is not None and time.monotonic() - running[1] > self.pool.timeout:
            self.retire(slot, "timeout")

    def _receive(self, slot: _Slot) -> bool:
        """Every chunk's results waiting from a worker; False when its socket is gone."""
        try:
            while slot.readable.poll(0):
                for kind, index, value in slot.conn.recv():
                    self.results[index] = (
                        value if kind == "done" else self.pool.fail(self.payloads[index], value)
                    )
                    slot.pending.popleft()
                slot.chunks.popleft()
        except (EOFError, OSError):
            return False
        return True

    def retire(self, slot: _Slot, reason: str) -> None:
        """Replaces a worker that died or hung.

        The payload it was on is the culprit. The rest goes back to the queue: the payloads
        of its chunk done before the culprit (their results went down with the worker) and
        the chunk sent ahead as they were, those after the culprit counted against them (a
        payload sent back more than twice fails: the chunk itself may be what kills workers).
        A worker that died on no payload leaves its chunk's payloads counted.
        """
        self._receive(slot)  # what it sent before it died or hung
        running = slot.running()
        worked = slot.chunks[0] if slot.chunks else 0
        counted = range(0, worked)
        if running is not None:
            culprit = slot.pending.index(running[0])
            counted = range(culprit + 1, worked)
            self.results[running[0]] = self.pool.fail(self.payloads[running[0]], reason)
        requeued = []
        for k, index in enumerate(slot.pending):
            if running is not None and index == running[0]:
                continue
            if k in counted:
                self.attempts[index] = self.attempts.get(index, 0) + 1
            if self.attempts.get(index, 0) > 2:
                self.results[index] = self.pool.fail(self.payloads[index], "crash")
            else:
                requeued.append(index)
        self.queue.extendleft(reversed(requeued))
        slot.process.kill()
        self.pool.stop(slot, 0)
        slots = self.pool.slots
        slots[slots.index(slot)] = self.pool.start()


def run_isolated(
    payloads: Sequence[P],
    work: Callable[[P], R],
    fail: Callable[[P, str], R],
    *,
    workers: int,
    timeout: float,
    memory_bytes: int,
    chunk_size: int = 16,
    reducers: Mapping[type, Callable[[Any], Any]] | None = None,
) -> list[R]:
    """Runs `work(payload)` for every payload in worker processes, whatever the payloads do.

    Workers are long-lived and take payloads in chunks. Each worker's address space is capped
    at `memory_bytes`; each payload gets `timeout` seconds. A payload whose worker dies (crash,
    abort, out of memory) or overruns its time gets `fail(payload, "crash" | "timeout")`; the
    worker is replaced and the rest of its chunk re-queued.

    Args:
        payloads: picklable inputs.
        work: a module-level function of an importable module (not `__main__`), or a
            `functools.partial` of one: each worker imports that module and nothing else of
            the caller's, and receives `work` once, when it starts.
        fail: builds the result of a payload that could not be worked on.
        workers: number of worker processes.
        timeout: seconds per payload.
        memory_bytes: address-space limit of each worker.
        chunk_size: payloads sent to a worker at once.
        reducers: pickling functions (as for `copyreg`) the workers use for results: a
            cheaper way back for types that cross by the thousand.

    Returns:
        One result per payload, in order.
    """
    if not payloads:
        return []
    with Pool(
        work,
        fail,
        workers=workers,
        timeout=timeout,
        memory_bytes=memory_bytes,
        chunk_size=chunk_size,
        reducers=reducers,
    ) as pool:
        return pool.run(payloads)
