"""Progress of a run, step by step, for whoever watches it.

A flow reports each step as it starts and ends (how many files, how long); the command line
shows that live in a terminal, as plain lines in a log, and a deployment's run log gets the
same lines. Nothing here knows how it is shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from outputs.run_report import STEP_LABELS


@dataclass(frozen=True)
class StepEvent:
    """One step started (`seconds` None) or finished, over `count` files (None: not known yet);
    or, with `message`, something the analyst should read as it happens."""

    step: str
    count: int | None
    seconds: float | None = None
    message: str | None = None
    part: tuple[int, int] | None = None  # (k, n): the k-th of a run's n parts

    @property
    def label(self) -> str:
        label = STEP_LABELS.get(self.step, self.step)
        return f"{label} (phần {self.part[0]}/{self.part[1]})" if self.part else label

    @property
    def rate(self) -> float | None:
        """Files per second, when the step is done and took measurable time."""
        if self.seconds is None or self.seconds <= 0 or not self.count:
            return None
        return self.count / self.seconds

    def line(self) -> str:
        """The event as one Vietnamese log line."""
        if self.message is not None:
            return self.message
        if self.seconds is None:
            return f"{self.label}…" if self.count is None else f"{self.label}: {self.count} tệp…"
        if self.count is None:
            return f"{self.label}: xong trong {self.seconds:.1f} giây"
        rate = f", {self.rate:.1f} tệp/giây" if self.rate else ""
        return f"{self.label}: {self.count} tệp trong {self.seconds:.1f} giây{rate}"


Listener = Callable[[StepEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every step event of the runs in this process to `listener` meanwhile."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _emit(event: StepEvent) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(event)


def notice(message: str) -> None:
    """Tell whoever watches the run something as it happens (a stale lock cleared, a load
    starting), in one Vietnamese line."""
    _emit(StepEvent("notice", None, 0.0, message))


@dataclass
class Tally:
    """How many files a running step has handled; the step sets it when it learns."""

    count: int | None = None


@contextmanager
def step(
    name: str,
    seconds: dict[str, float],
    count: int | None = None,
    part: tuple[int, int] | None = None,
) -> Iterator[Tally]:
    """Time one step, add its duration to `seconds` and tell the listeners.

    Args:
        name: the step's key (see `STEP_LABELS`).
        seconds: where the durations of the run are kept; a step done once per part of a run
            adds up there.
        count: how many files it works on, when known before it starts.
        part: (k, n) when the step works on the k-th of the run's n parts.

    Yields:
        The step's tally, for a count learnt while it runs.
    """
    tally = Tally(count)
    _emit(StepEvent(name, count, part=part))
    started = time.perf_counter()
    yield tally
    took = time.perf_counter() - started
    seconds[name] = round(seconds.get(name, 0.0) + took, 3)
    _emit(StepEvent(name, tally.count, round(took, 3), part=part))
