"""Files per second reading 1,000 template-like workbooks: sources.read against pandas+openpyxl.

Run `.venv/bin/python bench/read_bench.py [count] [rounds]`. The workbooks follow the template
layout (motto, label rows, `Chỉ tiêu` and `Tiến độ` tables, hidden `_khcn`), one per unit, 32
data elements each, written with openpyxl into a temporary folder. Each round measures the
worker pool's start and stop, `read_many` (its pool start included), `read_bytes` in this
process, and pandas+openpyxl on the same files; the machine's other load moves the figures, so
the median and the spread over rounds are printed, and the ratio is taken within each round.

`.venv/bin/python bench/read_bench.py folders [SIZE ...] [--files N]` reads the accepted
workbooks of the ingest bench's folders (`bench/.work/SIZE`, made by `bench/ingest_bench.py`)
with the registry's names, as the ingest flow does, and prints per file: the CPU of reading
in this process, then through a warm `Reader` with 1 and 2 workers the wall time, the calling
process's CPU (receiving and unpickling) and the workers' CPU (read from /proc), so that sizes
of registry can be compared (the cost per file should not grow with it).

`.venv/bin/python bench/read_bench.py memory [ROWS]` writes one heavy accepted workbook (ROWS
value rows, default 5,000, and a tenth as many progress rows), reads it through a `Reader`
with 1 and 2 workers under several `read_memory_bytes` caps, and prints each worker's peak
resident memory (VmHWM) and whether the answer is the one read in this process.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pandas as pd  # noqa: E402
from filemakers import PROGRESS, PROGRESS_HEADER, VALUE_HEADER, head, xlsx_bytes  # noqa: E402

from core.settings import load_settings  # noqa: E402
from sources.guard import Limits  # noqa: E402
from sources.inbox import list_inbox  # noqa: E402
from sources.read import read_bytes, read_many  # noqa: E402

ELEMENTS = [f"{g}.{t}.{e}" for g in range(1, 5) for t in range(1, 3) for e in range(1, 5)]


def workbook(unit: str) -> bytes:
    rows = [
        [code.rsplit(".", 1)[0], code, f"Chỉ tiêu {code}", "cuộc", k * 3 + 1, None]
        for k, code in enumerate(ELEMENTS)
    ]
    return xlsx_bytes(
        {
            "Hướng dẫn": [["Điền số liệu vào cột Giá trị."]],
            "Chỉ tiêu": [*head(unit), VALUE_HEADER, *rows],
            "Tiến độ": [*head(unit), PROGRESS_HEADER, *PROGRESS],
            "_khcn": [["template_version", "2026.1"], ["unit_code", unit], ["period", "2026Q3"]],
        }
    )


def _rate(count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def _spread(figures: list[float]) -> str:
    return f"{statistics.median(figures):8.1f}  (min {min(figures):.1f}, max {max(figures):.1f})"


def main(count: int, rounds: int) -> None:
    # Loaded once, as the flows do; `load_settings()` alone costs 1-4 ms a call.
    settings = Limits.of(load_settings())
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for k in range(count):
            unit = f"THON-{k:04d}"
            (folder / f"{unit}_2026Q3.xlsx").write_bytes(workbook(unit))
        entries = list_inbox(str(folder))
        subs = read_many(entries, settings, workers=workers)
        assert all(len(s.values) == len(ELEMENTS) and not s.issues for s in subs)

        startup: list[float] = []
        ours: list[float] = []
        serial: list[float] = []
        theirs: list[float] = []
        for _ in range(rounds):
            # The pool's start and stop: one file per worker, so reading costs next to nothing.
            started = time.perf_counter()
            read_many(entries[:workers], settings, workers=workers, chunk_size=1)
            startup.append(time.perf_counter() - started)
            ours.append(_rate(count, lambda: read_many(entries, settings, workers=workers)))
            serial.append(
                _rate(
                    count,
                    lambda: [
                        read_bytes(Path(e.url).read_bytes(), e.url, settings=settings)
                        for e in entries
                    ],
                )
            )
            theirs.append(
                _rate(
                    count,
                    lambda: [
                        pd.read_excel(e.url, engine="openpyxl", sheet_name=None) for e in entries
                    ],
                )
            )

    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(f"files: {count}, CPUs: {workers}, rounds: {rounds}; median (min, max) over rounds")
    print(f"pool start+stop ({workers} workers), s:  {_spread(startup)}")
    print(f"sources.read_many, files/s:        {_spread(ours)}  (pool start included)")
    print(f"sources.read_bytes, 1 process:     {_spread(serial)}")
    print(f"pandas.read_excel openpyxl:        {_spread(theirs)}")
    print(f"ratio read_many / pandas (same round): {_spread(ratios)}")


def _cpu_of(pids: list[int]) -> float:
    """Seconds of CPU the processes have used (user + system), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def folders(sizes: list[str], count: int) -> None:
    """Per-file costs of reading each bench folder's inbox (see the module's docstring)."""
    from core.settings import Settings
    from schemas.registry import unit_names
    from schemas.schema import load_schema
    from sources.inbox import InboxEntry
    from sources.names import Names
    from sources.read import Reader, _read

    print("size    in-process  | workers  wall/file  caller CPU/file  workers CPU/file  (ms)")
    for size in sizes:
        folder = ROOT / "bench" / ".work" / size
        settings = Settings(schemas_dir=folder / "schemas", data_dir=folder / "data-bench-read")
        schema = load_schema(settings)
        elements = [(e.code, e.name) for e in schema.elements.elements]
        names = Names.of(unit_names(schema.registry), elements)
        limits = Limits.of(settings)
        paths = sorted((folder / "inbox").rglob("*.xlsx"))[:count]
        datas = [(p, p.read_bytes()) for p in paths[:1000]]
        rounds = []
        for _ in range(3):
            started = time.process_time()
            for path, data in datas:
                _read(data, str(path), path.name, path.parent.name, limits, names, "0" * 64)
            rounds.append((time.process_time() - started) / len(datas) * 1000)
        entries = [
            InboxEntry(
                url=str(p),
                name=p.name,
                size=p.stat().st_size,
                unit_folder=p.parent.name,
                sha256="0" * 64,
                archived=str(p),
            )
            for p in paths
        ]
        line = f"{size:>6}  {min(rounds):8.3f}    "
        for workers in (1, 2):
            with Reader(limits, names=names, workers=workers) as reader:
                reader.read(entries[: 32 * workers])  # started and warm
                pids = reader.pids
                wall, cpu, theirs = time.perf_counter(), time.process_time(), _cpu_of(pids)
                subs = reader.read(entries)
                wall = (time.perf_counter() - wall) / len(entries) * 1000
                cpu = (time.process_time() - cpu) / len(entries) * 1000
                theirs = (_cpu_of(pids) - theirs) / len(entries) * 1000
                assert reader.pids == pids and not any(s.unreadable for s in subs)
            line += f"| {workers}  {wall:9.3f}  {cpu:15.3f}  {theirs:16.3f}  "
        print(line)


def _heavy_workbook(rows: int) -> bytes:
    values = [
        [code.rsplit(".", 1)[0], code, f"Chỉ tiêu {code}", "cuộc", k % 7, f"ghi chú {k}"]
        for k, code in ((k, ELEMENTS[k % len(ELEMENTS)]) for k in range(rows))
    ]
    tasks = [
        [f"{1 + k % 4}.{1 + k % 2}", f"Nhiệm vụ {k}", "Đang triển khai", f"Kết quả {k}", None, None,
         f"Số {k}/KH-UBND ngày 20/7/2026"]
        for k in range(rows // 10)
    ]  # fmt: skip
    return xlsx_bytes(
        {
            "Chỉ tiêu": [*head("THON-01"), VALUE_HEADER, *values],
            "Tiến độ": [*head("THON-01"), PROGRESS_HEADER, *tasks],
            "_khcn": [
                ["template_version", "2026.1"],
                ["unit_code", "THON-01"],
                ["period", "2026Q3"],
            ],
        }
    )


def _peak_mib(pid: int, field: str) -> int:
    """A /proc/PID/status figure (VmHWM: peak resident, VmPeak: peak address space), MiB."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith(f"{field}:"))) // 1024


def memory(rows: int) -> None:
    """Peak memory of the workers on one heavy workbook, under several caps."""
    from dataclasses import replace

    from sources.inbox import InboxEntry
    from sources.read import Reader

    base = Limits.of(load_settings())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "THON-01_2026Q3.xlsx"
        path.write_bytes(_heavy_workbook(rows))
        alone = read_bytes(path.read_bytes(), str(path), settings=base)
        expected = (alone.values, alone.progress, [i.code for i in alone.issues])
        print(f"{path.stat().st_size} bytes, {len(alone.values)} values, "
              f"{len(alone.progress)} progress rows, issues {expected[2]}")  # fmt: skip
        entry = InboxEntry(str(path), path.name, path.stat().st_size, None)
        for cap in (200, 150, 120, 100, 80, 60):
            limits = replace(base, read_memory_bytes=cap << 20)
            for workers in (1, 2):
                with Reader(limits, workers=workers, chunk_size=1) as reader:
                    # Each worker reads the workbook, twice: what one keeps between files counts.
                    subs = reader.read([entry] * (2 * workers))
                    peaks = [
                        (_peak_mib(pid, "VmHWM"), _peak_mib(pid, "VmPeak")) for pid in reader.pids
                    ]
                same = all(
                    (s.values, s.progress, [i.code for i in s.issues]) == expected for s in subs
                )
                codes = sorted({i.code for s in subs for i in s.issues})
                print(f"cap {cap:3d} MiB, {workers} worker(s): peak (RSS, VM) MiB {peaks}, "
                      f"same answer: {same}, issues: {codes}")  # fmt: skip


if __name__ == "__main__" and sys.argv[1:2] == ["memory"]:
    memory(int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
elif __name__ == "__main__" and sys.argv[1:2] == ["folders"]:
    args = sys.argv[2:]
    files = 3000
    if "--files" in args:
        k = args.index("--files")
        files = int(args[k + 1])
        del args[k : k + 2]
    folders(args or ["1000", "10000"], files)
elif __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
