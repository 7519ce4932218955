"""Hostile files cost one file, never the run: limits, isolation, time and memory."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from filemakers import template, write, xlsx_bytes

from sources.guard import Limits, check_structure
from sources.pool import run_isolated

DATA = Path(__file__).parent / "data"
HOSTILE = ["zip_bomb.xlsx", "absurd_dimension.xlsx", "dimension_lies_cell_at_xfd1048576.xlsx"]
LIMITS = Limits(20 << 20, 200 << 20, 2_000_000, 30.0, 400 << 20)


# The run under test, in a process of its own, so that its memory is the run's alone and not
# whatever earlier tests left in the test process.
RUN = """
import json, resource, sys, time
from sources.guard import Limits
from sources.inbox import list_inbox
from sources.read import read_many

limits = Limits(20 << 20, 200 << 20, 2_000_000, 30.0, 400 << 20)
entries = list_inbox(sys.argv[1])
started = time.monotonic()
subs = read_many(entries, limits, workers=2)
elapsed = time.monotonic() - started
print(json.dumps({
    "elapsed": elapsed,
    "subs": [[s.name, s.unreadable, s.issues[0].code if s.issues else None, s.unit_code]
             for s in subs],
    # This process's own high-water mark: ru_maxrss would carry over the test process's size
    # from before exec.
    "self_kib": int(next(line.split()[1] for line in open("/proc/self/status")
                         if line.startswith("VmHWM:"))),
    "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


def test_hostile_files_rejected_fast_beside_good_ones(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for k in range(4):
        write(inbox / f"THON-0{k}_2026Q3.xlsx", template(f"THON-0{k}"))
    for name in HOSTILE:
        shutil.copy(DATA / name, inbox / name)
    assert (DATA / "zip_bomb.xlsx").stat().st_size < 2 << 20

    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(inbox)],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    with TreeMemory(child.pid) as memory:
        output, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    run = json.loads(output)

    assert run["elapsed"] < 5
    subs = {name: (unreadable, code, unit) for name, unreadable, code, unit in run["subs"]}
    assert {n: code for n, (unreadable, code, _) in subs.items() if unreadable} == {
        "zip_bomb.xlsx": "R-FILE-UNPACKED-TOO-BIG",
        "absurd_dimension.xlsx": "R-FILE-TOO-MANY-CELLS",
        "dimension_lies_cell_at_xfd1048576.xlsx": "R-FILE-CRASH",
    }
    assert sorted(unit for unreadable, _, unit in subs.values() if not unreadable) == [
        f"THON-0{k}" for k in range(4)
    ]
    # The whole run (its process and its workers) summed, sampled every 10 ms; and no single
    # process of it ever above the limit (ru_maxrss is in KiB on Linux).
    assert memory.samples > 10
    assert memory.peak < 500 * 10**6
    assert run["self_kib"] * 1024 < 500 * 10**6
    assert run["children_kib"] * 1024 < 500 * 10**6


class TreeMemory:
    """Samples the summed resident memory of a process and all its descendants."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.root))
            self.samples += 1
            self._stop.wait(0.01)


def tree_rss(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        pid = int(status.parent.name)
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total = 0
    for pid in rss:
        ancestor = pid
        while ancestor and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += rss[pid]
    return total


def test_the_zip_bomb_really_inflates_past_1_gb() -> None:
    with zipfile.ZipFile(DATA / "zip_bomb.xlsx") as archive:
        assert sum(i.file_size for i in archive.infolist()) > 10**9


def test_structure_checks_are_cheap() -> None:
    for name in HOSTILE[:2]:
        started = time.monotonic()
        assert check_structure(name, (DATA / name).read_bytes(), LIMITS) is not None
        assert time.monotonic() - started < 1


def test_a_part_is_judged_by_its_own_bytes_whatever_its_directory_entry_says() -> None:
    # Parts shared byte for byte by many workbooks are looked at once; a part that only claims
    # to be one of them (same CRC and size in the central directory) is looked at itself.
    good = xlsx_bytes(template())
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><styleSheet>&a;</styleSheet>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        real = archive.getinfo("xl/styles.xml")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as forged:
            for info in archive.infolist():
                content = bomb if info is real else archive.read(info)
                forged.writestr(info.filename, content)
    data = bytearray(buffer.getvalue())
    # The central directory comes last: the name's last mention is its entry there.
    entry = data.rindex(b"xl/styles.xml") - 46
    assert data[entry : entry + 4] == b"PK\x01\x02"
    struct.pack_into("<L", data, entry + 16, real.CRC)
    struct.pack_into("<L", data, entry + 24, real.file_size)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        claimed = archive.getinfo("xl/styles.xml")
        assert (claimed.CRC, claimed.file_size) == (real.CRC, real.file_size)
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            archive.read(claimed.filename)  # only reading it whole tells

    for _ in range(2):
        assert check_structure("tot.xlsx", good, LIMITS) is None
        found = check_structure("gia.xlsx", bytes(data), LIMITS)
        assert found is not None and found.code == "R-FILE-UNSAFE"
        assert "xl/styles.xml" in found.message


def test_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "a.xlsx", template())
    small = Limits(1000, 200 << 20, 2_000_000, 30.0, 400 << 20)
    found = check_structure("a.xlsx", path.read_bytes(), small)
    assert found is not None and found.code == "R-FILE-TOO-BIG"


# Jobs for the pool; module-level so that worker processes can import them.
def job(kind: str) -> str:
    if kind == "abort":
        os.abort()
    if kind == "sleep":
        time.sleep(60)
    if kind == "hog":
        bytearray(2 << 30)
    return f"ok {kind}"


def failed(kind: str, reason: str) -> str:
    return f"{reason} {kind}"


def test_pool_survives_crash_hang_and_memory_hog() -> None:
    kinds = ["a", "abort", "b", "sleep", "c", "hog", "d", "e"]
    started = time.monotonic()
    results = run_isolated(
        kinds, job, failed, workers=2, timeout=1.0, memory_bytes=300 << 20, chunk_size=3
    )
    assert results == [
        "ok a",
        "crash abort",
        "ok b",
        "timeout sleep",
        "ok c",
        "crash hog",
        "ok d",
        "ok e",
    ]
    assert time.monotonic() - started < 20


def test_pool_with_nothing_to_do() -> None:
    assert run_isolated([], job, failed, workers=2, timeout=1, memory_bytes=300 << 20) == []
