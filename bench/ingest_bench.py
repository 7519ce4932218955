"""End-to-end ingest benchmark: `khcn ingest` against the naive script and the bare parse.

Builds a province-sized registry (communes of 17 units each, like the sample one) and an inbox of N
accepted workbooks (every unit and quarter of 2026), then, in one run: the naive script a user would
write with the same packages (bench/naive_ingest.py, on a sample, three times beside the service's
runs, the median kept: its rate moves by a fifth within a bench), the bare python-calamine parse of
all N files (three times up to 10,000, the median kept), and `khcn ingest` as the analyst runs it,
beside a kept-alive `khcn server` (whose warm process serves each command): one file into a new data
folder, a tenth of the files and then all N into new data folders (the one-file and the tenth runs
three times each, their medians kept), an empty inbox and one new file into the warm folder, and the
N files again. The marginal rate is N over the difference between the full run and the one-file run;
the steady rate, the files between a tenth and the whole over the difference between those two runs,
which carry the same start-up work (a one-file run waits for what a bigger one does while reading);
up to 10,000 files the full run is repeated too, its median kept. It prints wall times, the CPU time
the machine spent meanwhile, the peak memory of each command's process tree, the full run's steps,
and the ratios the goals are set in. Flatness compares each size with the smallest three ways: the
rates as measured, the rates each over the naive script's run beside it (sizes are measured minutes
apart, and the machine's speed moves meanwhile), and the CPU time a file took; and, inside the
largest size's full run, its last tenth of parts against its first (the run's `--json` gives when
each part was done; every tenth's rate is printed), the warehouse grown from nothing to the whole in
one window of the machine. Generating the inbox is not timed; it is cached under bench/.work/.

    .venv/bin/python bench/ingest_bench.py [--n 1000 10000] [--naive 200] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from python_calamine import CalamineWorkbook

from core.periods import parse_period
from core.settings import SCHEMAS_DIR, Settings, local_prefect_answers
from demo.samples import fill_workbook, plausible_value, sample_progress
from khcn.warm import listening, socket_path
from outputs.template import write_template
from schemas.model import Registry, Unit
from schemas.registry import write_registry
from schemas.schema import Schema, load_schema

QUARTERS = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")
VARIANTS = 4  # filled workbooks per unit role and quarter; units differ by code and name


def commune_units(number: int) -> list[Unit]:
    """The units of one synthetic commune, named so the plan's phrases resolve to them."""
    c = f"X{number:04d}"
    name = f"xã Số {number}"
    units = [
        Unit(code=f"{c}-UBND", name=f"UBND {name}", type="UBND"),
        Unit(code=f"{c}-VHXH", name=f"Phòng Văn hoá - Xã hội {name}", type="Phòng"),
        Unit(code=f"{c}-KT", name=f"Phòng Kinh tế {name}", type="Phòng"),
        Unit(code=f"{c}-TT", name=f"Trung tâm Dịch vụ sự nghiệp công {name}", type="Trung tâm"),
        Unit(code=f"{c}-DN", name=f"Hợp tác xã {name}", type="Doanh nghiệp"),
    ]
    units += [
        Unit(code=f"{c}-TH{i}", name=f"Trường {i} {name}", type="Trường học") for i in range(4)
    ]
    units += [Unit(code=f"{c}-T{i:02d}", name=f"Thôn {i} {name}", type="Thôn") for i in range(8)]
    return units


def build_inbox(size: int, work: Path) -> tuple[Path, Path]:
    """A schemas folder with a registry for `size` submissions, and an inbox holding them.

    Every workbook is the commune's template for its unit and quarter, every value filled in,
    so each is accepted. Writing 100,000 workbooks with openpyxl would take hours on two cores:
    one workbook is written per unit role (the code's suffix: same tasks, same elements),
    quarter and variant, and the others are that workbook with the unit's code and name
    written over the first unit's, everywhere they appear (sheets, headings, the hidden
    `_khcn` sheet).
    """
    folder = work / str(size)
    schemas, inbox = folder / "schemas", folder / "inbox"
    if (folder / "ready").exists():
        return schemas, inbox
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(SCHEMAS_DIR, schemas, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    units = [u for n in range(communes_for(size)) for u in commune_units(n)]
    write_registry(Registry(source="bench", units=tuple(units)), schemas / "units.yaml")
    schema = load_schema(Settings(schemas_dir=schemas, data_dir=folder))
    rng = random.Random(size)
    filled: dict[tuple[str, str, int], tuple[bytes, Unit]] = {}
    written = 0
    started = time.perf_counter()
    for path, unit, quarter in inbox_files(units, size, inbox):
        key = (unit.code.split("-", 1)[1], quarter, rng.randrange(VARIANTS))
        if key not in filled:
            filled[key] = (_filled(schema, unit, quarter, rng, folder / "blank.xlsx"), unit)
        data, first = filled[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_renamed(data, unit, first))
        written += 1
    print(f"  wrote {written} workbooks in {time.perf_counter() - started:.0f} s (not timed)")
    (folder / "ready").touch()
    return schemas, inbox


def communes_for(size: int) -> int:
    """How many synthetic communes hold `size` submissions of a year's four quarters."""
    return -(-size // (len(commune_units(0)) * len(QUARTERS)))


def inbox_files(units: list[Unit], size: int, inbox: Path) -> Iterator[tuple[Path, Unit, str]]:
    """The first `size` (file, unit, quarter) of the inbox, quarter by quarter."""
    files = (
        (inbox / unit.code / f"{unit.code}_{quarter}.xlsx", unit, quarter)
        for quarter in QUARTERS
        for unit in units
    )
    return itertools.islice(files, size)


def _filled(schema: Schema, unit: Unit, quarter: str, rng: random.Random, path: Path) -> bytes:
    period = parse_period(quarter)
    tasks = schema.tasks_due(unit, period)
    write_template(schema, unit, period, path)
    values = {
        element.code: plausible_value(element, unit, rng)
        for task in tasks
        for element in schema.elements_of(task)
    }
    # The plan's own consistency rules: a part is no more than its whole.
    for part, whole in (("5.3.4", "5.3.3"), ("5.2.2", "5.2.3")):
        if part in values and whole in values:
            values[part] = min(values[part], values[whole])
    fill_workbook(path, values, sample_progress(tasks, period, rng))
    return path.read_bytes()


def _renamed(data: bytes, unit: Unit, first: Unit) -> bytes:
    """The workbook with the first unit's code and name replaced by this unit's.

    openpyxl writes every text as a whole inline string (`<t>…</t>`, non-ASCII characters as
    `&#N;`), so a whole-string replacement changes the unit everywhere and nothing else.
    """
    swaps = [
        (as_xml(old), as_xml(new))
        for old, new in (
            (first.code, unit.code),
            (first.name, unit.name),
            (first.name.upper(), unit.name.upper()),
        )
        for as_xml in (_text_xml, _referenced_xml)
    ]
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith(".xml"):
                for old, new in swaps:
                    content = content.replace(old, new)
            target.writestr(item, content)
    return out.getvalue()


def _text_xml(text: str) -> bytes:
    return f">{escape(text)}</t>".encode()


def _referenced_xml(text: str) -> bytes:
    referenced = "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in escape(text))
    return f">{referenced}</t>".encode()


def single_inbox(size: int, work: Path) -> Path:
    """An inbox holding one more accepted workbook: the next unit and quarter after `size`."""
    folder = work / str(size)
    inbox = folder / "one"
    if any(inbox.rglob("*.xlsx")):
        return inbox
    schema = load_schema(Settings(schemas_dir=folder / "schemas", data_dir=folder))
    units = list(schema.registry.units)
    [(_, unit, quarter)] = list(inbox_files(units, size + 1, inbox))[-1:]
    path = inbox / unit.code / f"{unit.code}_{quarter}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_filled(schema, unit, quarter, random.Random(-size), folder / "blank.xlsx"))
    return inbox


def tenth_inbox(size: int, work: Path) -> Path:
    """An inbox holding the first tenth of the inbox's files (as received), copied."""
    folder = work / str(size)
    tenth = folder / "tenth"
    ready = folder / "tenth.ready"  # beside the inbox: a file in it would be a submission
    if ready.exists():
        return tenth
    shutil.rmtree(tenth, ignore_errors=True)
    inbox = folder / "inbox"
    files = sorted(inbox.rglob("*.xlsx"), key=lambda p: (p.stat().st_mtime, p.name))
    for path in files[: max(1, size // 10)]:
        target = tenth / path.relative_to(inbox)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    ready.touch()
    return tenth


class TreeMemory:
    """The peak resident memory of a process and all its descendants, sampled from /proc,
    with the children of the warm process that serves it (not the warm process itself)."""

    def __init__(self, pid: int, warm: int, every: float = 0.2) -> None:
        self.pid, self.warm, self.every, self.peak = pid, warm, every, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stops sampling; returns the peak in bytes."""
        self._done.set()
        self._thread.join()
        return self.peak

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            pids = _tree(self.pid) + [p for c in _children(self.warm) for p in _tree(c)]
            self.peak = max(self.peak, sum(_rss(pid) for pid in pids))


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue += _children(current)
    return pids


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Run:
    """One `khcn ingest` process: wall time, the machine's busy CPU time meanwhile, peak
    memory of its tree, what it said, and the data folder it ran in."""

    label: str
    files: int
    seconds: float
    cpu: float
    peak: int
    result: dict[str, Any]
    data: Path

    def line(self) -> str:
        verdicts = self.result.get("verdicts", {})
        return (
            f"  {self.label:<34} {self.files:>7} files {self.seconds:8.2f} s  cpu {self.cpu:7.2f} s"
            f"  peak {self.peak / 2**20:6.0f} MB  new {self.result.get('new', 0)}  {verdicts}"
        )


def busy_seconds() -> float:
    """CPU time the machine's cores have spent working since boot, all processes (user,
    nice, system, interrupts; not idle, not waiting on the disk, not stolen by the host): the
    bench runs nothing else, and a command's workers are counted though they have ended."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """The kept-alive `khcn server`: its Prefect server's port, its warm process's pid."""

    port: int
    warm: int


def khcn_ingest(
    label: str, schemas: Path, inbox: Path, data: Path, server: Server, *, temporary: bool = False
) -> Run:
    """Runs `khcn ingest --json` as the analyst does, and times it.

    The command is served by the server's warm process (a child forked for it, whose memory
    is counted with the command's). It finds the kept-alive Prefect server; `temporary`, it
    starts a temporary one as a machine without `khcn server` does.
    """
    env = {
        **os.environ,
        "KHCN_SCHEMAS_DIR": str(schemas),
        "KHCN_DATA_DIR": str(data),
        "KHCN_INBOX": str(inbox),
    }
    if temporary:
        env["PREFECT_API_URL"] = ""  # set, so no kept-alive server is looked for
    else:
        env["KHCN_PREFECT_PORT"] = str(server.port)
    files = sum(1 for _ in inbox.rglob("*.xlsx"))
    started, busy = time.perf_counter(), busy_seconds()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "khcn"), "ingest", "--json"],
        env=env,
        cwd=data.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    memory = TreeMemory(process.pid, server.warm)
    out, _ = process.communicate()
    seconds, cpu = time.perf_counter() - started, busy_seconds() - busy
    peak = memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"khcn ingest failed ({label}): exit {process.returncode}")
    return Run(label, files, seconds, cpu, peak, json.loads(out), data)


@contextmanager
def kept_alive_server(folder: Path) -> Iterator[Server]:
    """`khcn server` on a free loopback port for the runs, once its warm process answers;
    stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "KHCN_DATA_DIR": str(folder / "prefect")}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "khcn"), "server", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (local_prefect_answers(port) and listening(socket_path())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("khcn server did not start")
            time.sleep(0.5)
        (warm,) = [p for p in _children(process.pid) if b"khcn.warm" in _cmdline(p)]
        yield Server(port, warm)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def calamine_parse(files: list[Path]) -> float:
    """Seconds to parse every sheet of every file with python-calamine, nothing else."""
    started = time.perf_counter()
    for path in files:
        book = CalamineWorkbook.from_path(str(path))
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python()
    return time.perf_counter() - started


def naive_rate(files: list[Path], work: Path) -> float:
    """Files per second of the naive script (bench/naive_ingest.py) on a sample of the files."""
    db = work / "naive.duckdb"
    db.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "naive_ingest.py"), *map(str, files)]
        + ["--db", str(db)],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ).stdout
    db.unlink(missing_ok=True)
    return len(files) / float(out.split()[-1])


@dataclass
class Rates:
    """One size's rates (files/s), the naive script's measured beside them, and the CPU time a
    file took the machine (ms) between the same two runs as each rate."""

    marginal: float
    steady: float
    naive: float
    marginal_cpu: float
    steady_cpu: float
    within: list[Parts]  # the full run's parts by tenths (see `tenths`), if it had enough


@dataclass
class Parts:
    """Consecutive parts of one run (numbered from 1): their files over the time between the
    end of the part before the first and the end of the last."""

    first: int
    last: int
    files: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.files / max(self.seconds, 1e-9)


def tenths(parts: list[dict[str, float]]) -> list[Parts]:
    """A run's parts in up to ten consecutive groups of (nearly) equal count, the first and the
    last part left out (the first carries the run's start, the last is read while nothing else
    is): the marginal rate as the warehouse grows from nothing to the whole, measured in one
    window of the machine. Empty for a run of fewer than four parts."""
    if len(parts) < 4:
        return []
    done = [part["done_at"] for part in parts]
    inner = range(1, len(parts) - 1)
    groups = min(10, len(inner))
    bounds = [inner[0] + len(inner) * g // groups for g in range(groups + 1)]
    spans = []
    for start, end in itertools.pairwise(bounds):
        files = sum(int(parts[k]["files"]) for k in range(start, end))
        spans.append(Parts(start + 1, end, files, done[end - 1] - done[start - 1]))
    return spans


def run(size: int, work: Path, naive_sample: int) -> Rates:
    """Every measure for one size, printed as one table with its ratios."""
    print(f"\n{size} submissions (2 cores: {os.cpu_count()} CPUs seen)")
    schemas, inbox = build_inbox(size, work)
    one = single_inbox(size, work)
    tenth = tenth_inbox(size, work)
    empty = work / str(size) / "empty"
    empty.mkdir(exist_ok=True)
    files = sorted(inbox.rglob("*.xlsx"))
    folder = work / str(size)
    for name in ("data-0", *_repeated("data-1"), *_repeated("data-tenth"), *_repeated("data-all")):
        _set_aside(folder / name, work)

    # The naive script runs beside the runs it is compared with (before the one-file runs,
    # between the tenth and the full run, after the full run): the machine's speed drifts
    # within a bench by more than either rate's own spread.
    naives = [naive_rate(files[:naive_sample], folder)]
    # Under a minute each up to 10,000 files: the parse and the full run are repeated, like the
    # runs they are taken against, and their medians kept (the parse of 1,000 files is a second,
    # and moved between 835 and 1,161 files/s from one bench to the next).
    repeats = REPEATS if size <= 10_000 else 1
    parse = size / statistics.median(calamine_parse(files) for _ in range(repeats))
    with kept_alive_server(folder) as server:
        runs = [
            khcn_ingest(
                "one file, new folder, temporary Prefect",
                schemas,
                one,
                folder / "data-0",
                server,
                temporary=True,
            ),
            _median("one file, new data folder", schemas, one, folder, "data-1", server),
            part := _median(
                f"{size // 10} files, new data folder", schemas, tenth, folder, "data-tenth", server
            ),
        ]
        naives.append(naive_rate(files[:naive_sample], folder))
        label = f"{size} files, new data folder"
        runs.append(full := _median(label, schemas, inbox, folder, "data-all", server, repeats))
        naives.append(naive_rate(files[:naive_sample], folder))
        runs += [
            empty_run := khcn_ingest(
                "empty inbox, warm data folder", schemas, empty, full.data, server
            ),
            warm_one := khcn_ingest(
                "one new file, warm data folder", schemas, one, full.data, server
            ),
            khcn_ingest(f"{size} files again (nothing new)", schemas, inbox, full.data, server),
        ]
    naive = statistics.median(naives)
    print(
        "  khcn ingest (wall time of the command, the machine's busy CPU time meanwhile, "
        "peak RSS of its process tree):"
    )
    for item in runs:
        print(item.line())
        steps = item.result.get("seconds", {})
        print("      steps: " + "  ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print("  steps of the full run:")
    for step_name, value in full.result.get("seconds", {}).items():
        print(f"    {step_name:<17} {value:8.2f} s  {1000 * value / size:7.3f} ms/file")
    marginal = size / max(full.seconds - runs[1].seconds, 1e-9)
    print(
        f"  naive script (pandas+openpyxl, GX per file, to_sql), {naive_sample} files, "
        f"median of {len(naives)}: {naive:7.1f} files/s "
        f"({' / '.join(f'{rate:.1f}' for rate in naives)}: before, between, after)"
    )
    times = f", median of {repeats}" if repeats > 1 else ""
    print(f"  bare python-calamine parse, {size} files{times}:   {parse:7.1f} files/s")
    print(f"  khcn ingest marginal (full − one file):      {marginal:7.1f} files/s")
    # The one-file run waits for start-up work (Great Expectations' import) that a full run
    # does while reading: from a tenth to the whole, both runs carry it alike.
    steady = (size - part.files) / max(full.seconds - part.seconds, 1e-9)
    print(f"  khcn ingest steady (full − a tenth):         {steady:7.1f} files/s")
    print(f"  khcn ingest over all (full run):             {size / full.seconds:7.1f} files/s")
    # What a file costs the machine, whatever its speed at the time: the CPU the same runs
    # took, all processes (the served command, its reading workers, the Prefect server).
    marginal_cpu = 1000 * (full.cpu - runs[1].cpu) / (size - 1)
    steady_cpu = 1000 * (full.cpu - part.cpu) / (size - part.files)
    print(f"  CPU per file, marginal / steady:  {marginal_cpu:7.2f} / {steady_cpu:.2f} ms")
    if within := tenths(full.result.get("parts", [])):
        print(f"  within the full run ({len(full.result['parts'])} parts), files/s:")
        print("    " + "  ".join(f"{p.first}–{p.last}: {p.rate:.1f}" for p in within))
    print("  ratios and goals:")
    _goal("marginal / naive", marginal / naive, ">= 50", marginal / naive >= 50)
    _goal("parse / marginal", parse / marginal, "<= 3", parse / marginal <= 3)
    _goal("steady / naive", steady / naive, ">= 50", steady / naive >= 50)
    _goal("parse / steady", parse / steady, "<= 3", parse / steady <= 3)
    _goal("start-up, one file warm (s)", warm_one.seconds, "<= 10", warm_one.seconds <= 10)
    _goal("start-up, empty inbox (s)", empty_run.seconds, "<= 3", empty_run.seconds <= 3)
    peak = max(item.peak for item in runs) / 2**30
    _goal("peak RSS of the tree (GB)", peak, "<= 1", peak <= 1)
    return Rates(marginal, steady, naive, marginal_cpu, steady_cpu, within)


# The runs the rates are taken against are repeated, each into a new data folder, and the
# median kept: at 1,000 files the whole run's work is about a second, less than the start-up's
# spread from run to run.
REPEATS = 3


def _repeated(name: str, repeats: int = REPEATS) -> list[str]:
    return [f"{name}-{k}" for k in range(repeats)]


def _median(
    label: str,
    schemas: Path,
    inbox: Path,
    folder: Path,
    name: str,
    server: Server,
    repeats: int = REPEATS,
) -> Run:
    """The median run of `repeats`, each into a new data folder `folder / name-k`."""
    if repeats > 1:
        label = f"{label} (median of {repeats})"
    runs = [
        khcn_ingest(label, schemas, inbox, folder / data, server)
        for data in _repeated(name, repeats)
    ]
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def _set_aside(folder: Path, work: Path) -> None:
    """Moves a data folder of an earlier bench out of the way, to be deleted once every
    measure is taken: deleting tens of thousands of archived files leaves the file system
    working for a while, and a run that archives files then takes twice as long to do so."""
    if folder.exists():
        trash = work / "trash"
        trash.mkdir(exist_ok=True)
        folder.rename(trash / f"{folder.parent.name}-{folder.name}-{time.time_ns()}")


def _goal(name: str, value: float, goal: str, met: bool) -> None:
    print(f"    {name:<30} {value:9.2f}   goal {goal:<6} {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", "--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--naive", type=int, default=200, help="files the naive script reads")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / ".work")
    args = parser.parse_args()
    # The bench's own warm process (its `khcn server`'s), not one already on this machine.
    os.environ["XDG_RUNTIME_DIR"] = str((args.work / "run").resolve())
    rates = {size: run(size, args.work, min(args.naive, size)) for size in args.sizes}
    shutil.rmtree(args.work / "trash", ignore_errors=True)
    if len(rates) > 1:
        flatness(rates)


def flatness(rates: dict[int, Rates]) -> None:
    """Each size's rates against the smallest size's: as measured; against the naive script
    run beside each (the machine's speed drifts between sizes by more than a fifth: the naive
    script's own rate moves so); and the CPU a file took (the inverse: a cost). Then the
    largest size's full run against itself: its last tenth of parts against its first."""
    smallest, largest = min(rates), max(rates)
    base = rates[smallest]
    print(f"\nflatness: each size against {smallest} (×: the ratio)")
    print(
        f"  {'files':>7}  {'kind':<8} {'files/s':>8} {'×':>5}   {'/ naive':>7} {'×':>5}   "
        f"{'CPU ms/file':>11} {'×':>5}"
    )
    for size, rate in sorted(rates.items()):
        for kind in ("marginal", "steady"):
            speed, speed_at = getattr(rate, kind), getattr(base, kind)
            cpu, cpu_at = getattr(rate, f"{kind}_cpu"), getattr(base, f"{kind}_cpu")
            print(
                f"  {size:>7}  {kind:<8} {speed:8.1f} {speed / speed_at:5.2f}   "
                f"{speed / rate.naive:7.1f} {speed / rate.naive / (speed_at / base.naive):5.2f}   "
                f"{cpu:11.2f} {cpu / cpu_at:5.2f}"
            )
    # The goal is the marginal rate's. At the smallest size the steady rate is taken from a
    # run of a tenth (100 files) that starts the second reading worker and its first
    # validation, which the one-file run does not need: it says little beside a bigger size's.
    top = rates[largest]
    ratio = top.marginal / base.marginal
    _goal(f"marginal at {largest} / at {smallest}", ratio, ">= 0.8", ratio >= 0.8)
    ratio = top.marginal / top.naive / (base.marginal / base.naive)
    _goal("  the same, each / naive", ratio, ">= 0.8", ratio >= 0.8)
    ratio = top.marginal_cpu / base.marginal_cpu
    _goal("  CPU per file, the same", ratio, "<= 1.25", ratio <= 1.25)
    # The same question asked inside one run, minutes from start to end rather than apart.
    if top.within:
        first, last = top.within[0], top.within[-1]
        ratio = last.rate / first.rate
        name = f"parts {last.first}–{last.last} / {first.first}–{first.last}"
        _goal(f"  in one run: {name}", ratio, ">= 0.8", ratio >= 0.8)


if __name__ == "__main__":
    main()
