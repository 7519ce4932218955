"""A Reader and its Pool stay warm across batches: same workers, failures still contained."""

from __future__ import annotations

import pickle
import shutil
import threading
import time
from pathlib import Path

from filemakers import head, template, value_rows, write, xlsx_bytes
from test_guard import failed, job

from sources.guard import Limits
from sources.inbox import InboxEntry, list_inbox
from sources.names import Names
from sources.pool import Pool, _start_worker, _stop_worker
from sources.read import Reader, _Job

DATA = Path(__file__).parent / "data"
LIMITS = Limits(20 << 20, 200 << 20, 2_000_000, 30.0, 400 << 20)


def _batch(folder: Path, units: list[str]) -> list[InboxEntry]:
    folder.mkdir()
    for unit in units:
        write(folder / f"{unit}_2026Q3.xlsx", template(unit))
    return list_inbox(str(folder))


def test_pool_keeps_its_workers_across_runs_and_contains_failures() -> None:
    with Pool(job, failed, workers=2, timeout=1.0, memory_bytes=300 << 20, chunk_size=2) as pool:
        assert pool.pids == []  # started lazily
        assert pool.run(["a", "b", "c", "d"]) == ["ok a", "ok b", "ok c", "ok d"]
        first = pool.pids
        assert len(first) == 2
        assert pool.run(["e", "f", "g"]) == ["ok e", "ok f", "ok g"]
        assert pool.pids == first
        started = time.monotonic()
        assert pool.run(["h", "abort", "i", "sleep", "j", "hog", "k"]) == [
            "ok h",
            "crash abort",
            "ok i",
            "timeout sleep",
            "ok j",
            "crash hog",
            "ok k",
        ]
        assert time.monotonic() - started < 20
        after = pool.pids
        assert len(after) == 2 and after != first  # the dead ones replaced, no more of them
        assert pool.run(["l", "m", "n"]) == ["ok l", "ok m", "ok n"]
        assert pool.pids == after
        assert pool.run([]) == []
    assert pool.pids == []


def test_reader_reads_batch_after_batch_with_the_same_workers(tmp_path: Path) -> None:
    first = _batch(tmp_path / "a", [f"THON-0{k}" for k in range(6)])
    second = _batch(tmp_path / "b", [f"THON-1{k}" for k in range(5)])
    shutil.copy(DATA / "dimension_lies_cell_at_xfd1048576.xlsx", tmp_path / "b" / "lies.xlsx")
    second = list_inbox(str(tmp_path / "b"))
    third = _batch(tmp_path / "c", [f"THON-2{k}" for k in range(4)])

    with Reader(LIMITS, workers=2, chunk_size=2) as reader:
        assert reader.pids == []
        subs = reader.read(first)
        assert [s.unit_code for s in subs] == [f"THON-0{k}" for k in range(6)]
        pids = reader.pids
        assert len(pids) == 2

        subs = reader.read(second)
        by_name = {s.name: s for s in subs}
        assert [i.code for i in by_name.pop("lies.xlsx").issues] == ["R-FILE-CRASH"]
        assert sorted(s.unit_code for s in by_name.values()) == [f"THON-1{k}" for k in range(5)]
        assert all(not s.issues and len(s.values) == 3 for s in by_name.values())
        # The worker that died was replaced; the pool holds no more than it was given.
        assert len(reader.pids) == 2 and len(set(reader.pids) & set(pids)) == 1

        pids = reader.pids
        subs = reader.read(third)
        assert [s.unit_code for s in subs] == [f"THON-2{k}" for k in range(4)]
        assert reader.pids == pids
    assert reader.pids == []


def test_reader_is_called_from_another_thread_than_the_one_that_opened_it(
    tmp_path: Path,
) -> None:
    entries = _batch(tmp_path / "a", ["THON-01", "THON-02", "THON-03"])
    results: list[list[str | None]] = []
    with Reader(LIMITS, workers=1) as reader:
        results.append([s.unit_code for s in reader.read(entries)])
        pids = reader.pids
        thread = threading.Thread(
            target=lambda: results.append([s.unit_code for s in reader.read(entries)])
        )
        thread.start()
        thread.join()
        assert reader.pids == pids
    assert results == [["THON-01", "THON-02", "THON-03"]] * 2


def test_names_reach_the_workers_once_not_with_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    # The unit is named, not coded: only the registry's names tell its code.
    workbook = {"Chỉ tiêu": [*head("Thôn Đông Xuân"), *value_rows()]}
    (folder / "bao-cao.xlsx").write_bytes(xlsx_bytes(workbook))
    units = [(f"THON-{k:03d}", f"Thôn số {k}", ()) for k in range(2000)]
    names = Names.of([*units, ("THON-DX", "Thôn Đông Xuân", ())], [])
    entries = list_inbox(str(folder))
    with Reader(LIMITS, names=names, workers=1) as reader:
        for _ in range(2):
            [sub] = reader.read(entries)
            assert sub.unit_code == "THON-DX"
    # What travels per file is the file's own description, whatever the registry's size.
    one = _Job(entries[0].url, entries[0].name, b"", None, "0" * 64, entries[0].url, 1)
    assert len(pickle.dumps(one)) < 400 < len(pickle.dumps(names)) // 100


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def no_nap(seconds: float, reason: str) -> float:
    return -seconds


def test_a_chunk_answers_once_and_tells_its_running_payload_between() -> None:
    # What crosses per chunk is one message; which payload runs, and since when, is read from
    # the word the worker shares, without waking the calling process.
    slot = _start_worker(pickle.dumps((nap, {})), 300 << 20)
    try:
        assert slot.progress.running() is None
        sent = time.monotonic()
        slot.conn.send([(7, 0.01), (8, 1.5), (9, 0.01)])
        deadline = time.monotonic() + 20
        while (running := slot.progress.running()) is None or running[0] != 8:
            assert time.monotonic() < deadline and not slot.conn.poll(0)
            time.sleep(0.01)
        assert sent - 0.01 <= running[1] <= time.monotonic()
        assert not slot.conn.poll(0.5)  # nothing until the chunk is done
        assert slot.conn.recv() == [("done", 7, 0.01), ("done", 8, 1.5), ("done", 9, 0.01)]
        assert slot.progress.running() is None
    finally:
        slot.conn.send(None)
        _stop_worker(slot, 5)


def test_the_time_limit_is_each_payloads_not_its_chunks() -> None:
    # Four payloads of 0.4 s in a chunk take longer than the limit together, none alone.
    with Pool(nap, no_nap, workers=1, timeout=1.0, memory_bytes=300 << 20, chunk_size=4) as pool:
        assert pool.run([0.4, 0.4, 0.4, 0.4]) == [0.4] * 4


def test_crashes_one_after_another_blame_only_their_own_payloads() -> None:
    # One worker, chunks sent ahead of the one it works on: every abort replaces the worker,
    # and the payloads waiting behind it are read by the next one, not failed with it.
    kinds = ["abort", "a", "abort", "abort", "b", "c", "abort", "d", "e", "f", "g"]
    with Pool(job, failed, workers=1, timeout=5.0, memory_bytes=300 << 20, chunk_size=2) as pool:
        assert pool.run(kinds) == [f"crash {k}" if k == "abort" else f"ok {k}" for k in kinds]
        assert len(pool.pids) == 1
