"""Province and national consolidation benchmark, on a real Prefect server with two workers.

Makes a few demo communes with the real ingest flow (the demo generator's submissions for one
quarter, a different seed and share of missing reports each), then writes one bundle per
commune of the target (a province's ~130 communes, or the country's 3,321) from those marts,
varied per commune: every figure scaled by the commune's own factor (0.6–1.4), its
completeness that of one of the demo communes. Then the province flow runs with
`fan_out="deployment"`: each batch is a run of the `province-batch` deployment taken by one of
two process workers (`--limit 1` each), and this process loads and publishes alone.

Prints: consolidation time, per-commune rate, load and marts + publish time, p95 of the
documented upstream queries, peak RSS (this process and the workers with their flow runs; the
Prefect server apart). Bundle generation is not timed; it is cached under bench/.work/.

    .venv/bin/python bench/province_bench.py [--sizes province national] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
POOL = "khcn-process"
PROVINCE = "37"  # Ninh Bình, xã Nghĩa Hưng's province
BASES = 3
QUARTER = "2026Q1"
# The upstream queries docs/warehouse.md documents for a province's copy.
QUERIES = {
    "completeness": "select * from mart.completeness where period = $period",
    "by_commune": "select commune_code, commune_name, received_rate, on_time_rate "
    "from mart.commune_completeness where period = $period and level = 'overall' "
    "order by on_time_rate",
    "unpublished": "select * from mart.unpublished_communes where period = $period",
    "indicators": "select * from mart.indicators where year = 2026",
    "commune_indicators": "select * from mart.commune_indicators "
    "where year = 2026 and indicator_code = 'CS-NS-KHCN' order by value desc nulls last",
    "values": "select commune_code, element_code, sum(value) as total from mart.data_values "
    "where period = $period group by all",
    "plan_summary": "select * from mart.plan_summary where year = 2026",
    "progress": "select * from mart.task_progress where period = $period",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_rss(root: int, exclude: set[int]) -> int:
    """Resident bytes of a process and its descendants (from /proc), some subtrees left out."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1]) * 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in exclude:
            continue
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class PeakRss:
    """Samples the resident memory of this process tree twice a second."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, _tree_rss(os.getpid(), self.exclude))

    def __enter__(self) -> PeakRss:
        self.peak = _tree_rss(os.getpid(), self.exclude)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _prefect(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [BIN / "prefect", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise SystemExit(f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def start_stack(work: Path) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    """A Prefect server on loopback with its own home; the pool and deployments made."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHCN_"))}
    env |= {
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the Prefect server did not start; see server.log") from None
            time.sleep(0.5)
    env["PREFECT_API_URL"] = api
    _prefect(env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(env, "--no-prompt", "deploy", "--name", "province-batch")
    return env, [server]


def make_bases(work: Path, env: dict[str, str]) -> list[Path]:
    """Published copies of a few demo communes, by the real ingest flow (cached)."""
    bases = []
    for n in range(BASES):
        data = work / "bases" / f"commune-{n}"
        bases.append(data / "published" / "warehouse.duckdb")
        if bases[-1].is_file():
            continue
        shutil.rmtree(data, ignore_errors=True)
        script = (
            "from pathlib import Path\n"
            "from core.settings import SCHEMAS_DIR, Settings\n"
            "from schemas.schema import load_schema\n"
            "from demo.samples import write_sample_inbox\n"
            "from flows.ingest_submissions import ingest_submissions\n"
            f"s = Settings(schemas_dir=SCHEMAS_DIR, data_dir={str(data)!r})\n"
            f"write_sample_inbox(load_schema(s), [{QUARTER!r}], Path(s.inbox_url), "
            f"seed={300 + n}, missing_rate={0.05 + 0.1 * n})\n"
            "ingest_submissions()\n"
        )
        child = env | {"KHCN_DATA_DIR": str(data), "KHCN_SCHEMAS_DIR": str(ROOT / "schemas")}
        subprocess.run([BIN / "python", "-c", script], cwd=ROOT, env=child, check=True)
    return bases


def communes_of(size: str) -> list[str]:
    """The communes of the bench: Ninh Bình's, or the country's."""
    from vietnam_provinces import ProvinceCode, Ward

    wards = Ward.iter_all() if size == "national" else Ward.iter_by_province(ProvinceCode(37))
    return sorted(f"{w.code.value:05d}" for w in wards)


def make_bundles(work: Path, size: str, bases: list[Path], settings: Any) -> Path:
    """One bundle per commune under <work>/<size>/bundles, written by `write_bundle` (cached)."""
    import duckdb
    import pyarrow.parquet as pq

    from warehouse.bundle import write_bundle
    from warehouse.db import MARTS
    from warehouse.publish import Publication

    folder = work / size
    bundles = folder / "bundles"
    if (folder / "ready").exists():
        return bundles
    shutil.rmtree(folder, ignore_errors=True)
    staged = folder / "staged"
    staged.mkdir(parents=True)
    codes = communes_of(size)
    con = duckdb.connect()
    con.execute(
        "create table communes as select code, row_number() over () - 1 as n, "
        f"(row_number() over ()) % {BASES} as base, "
        "0.6 + 0.8 * ((hash(code) % 1000) / 1000.0) as factor "
        "from unnest($codes) as t(code)",
        {"codes": codes},
    )
    scaled = {
        "data_values": {"value": "round(value * factor, 2)"},
        "plan_summary": {
            "total": "round(total * factor, 2)",
            "actual": "round(actual * factor, 2)",
        },
        "indicators": {"numerator": "numerator * factor"},
    }
    for n, base in enumerate(bases):
        con.execute(f"attach '{base}' as b{n} (read_only)")
    for mart in MARTS:
        columns = [r[0] for r in con.execute(f"describe b0.mart.{mart}").fetchall()]
        selects = []
        for n in range(len(bases)):
            items = [scaled.get(mart, {}).get(c, c) + f" as {c}" for c in columns]
            selects.append(
                f"select communes.code as commune_code, {', '.join(items)} "
                f"from b{n}.mart.{mart} cross join communes where communes.base = {n}"
            )
        con.execute(
            f"copy ({' union all '.join(selects)}) to '{staged / mart}' "
            "(format parquet, partition_by (commune_code), write_partition_columns false)"
        )
    con.close()
    for code in codes:
        target = staged / "by-commune" / code
        target.mkdir(parents=True)
        rows = {}
        for mart in MARTS:
            parts = list((staged / mart / f"commune_code={code}").glob("*.parquet"))
            parts[0].rename(target / f"{mart}.parquet")
            rows[mart] = pq.read_metadata(target / f"{mart}.parquet").num_rows
        publication = Publication(
            database=bases[0],
            parquet_dir=target,
            published_at=datetime.now(UTC),
            mart_rows=rows,
            seconds=0.0,
        )
        write_bundle(publication, url=str(bundles), settings=settings, commune_code=code)
    shutil.rmtree(staged)
    (folder / "ready").touch()
    return bundles


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_size(size: str, work: Path, env: dict[str, str], server: int, workers: int) -> None:
    from core.settings import Settings

    province = "VN" if size == "national" else PROVINCE
    count = len(communes_of(size))
    data = work / f"{size}-province"
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings(data_dir=data, level="province", province_code=province)
    bundles = make_bundles(work, size, make_bases(work, env), settings)
    # Few batches: each is a flow run, and a run's process start is seconds on a busy machine.
    batch = max(10, math.ceil(count / (workers * 2)))
    khcn = {
        "KHCN_DATA_DIR": str(data),
        "KHCN_LEVEL": "province",
        "KHCN_PROVINCE_CODE": province,
        "KHCN_PUBLISH_URL": str(bundles),
        "KHCN_PROVINCE_BATCH": str(batch),
    }
    os.environ.update(env | khcn)
    procs = []
    for n in range(workers):
        procs.append(
            subprocess.Popen(
                [BIN / "prefect", "worker", "start", "--pool", POOL, "--limit", "1"],
                cwd=ROOT,
                env=env | khcn,
                stdout=(work / f"worker-{size}-{n}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        from flows.consolidate_province import consolidate_province

        with PeakRss(exclude={server}) as rss:
            started = time.perf_counter()
            result = consolidate_province(fan_out="deployment")
            elapsed = time.perf_counter() - started
    finally:
        _stop(procs)
    from warehouse.query import QueryLimits, run_bounded

    limits = QueryLimits.from_settings(Settings())
    timings: dict[str, list[float]] = {}
    for _ in range(20):
        for name, text in QUERIES.items():
            params = {"period": QUARTER} if "$period" in text else None
            mark = time.perf_counter()
            run_bounded(settings.published, text, limits, params)
            timings.setdefault(name, []).append(time.perf_counter() - mark)
    every = [t for ts in timings.values() for t in ts]
    seconds = result["seconds"]
    print(f"\n== {size}: {count} communes, {result['batches']} batches of ≤{batch}, "
          f"{workers} workers ==")  # fmt: skip
    print(
        f"loaded {result['loaded']}, rejected {result['rejected']}, "
        f"data_values rows {result['mart_rows']['data_values']:,}"
    )
    print(f"consolidation (list → publish): {elapsed:.1f} s, {count / elapsed:.1f} communes/s")
    print(
        f"  list {seconds['list']:.1f} s, prepare (workers) {seconds['prepare']:.1f} s, "
        f"load {seconds['load']:.1f} s, marts + publish {seconds['publish']:.1f} s"
    )
    print(f"queries p95 {p95(every) * 1000:.0f} ms over {len(every)} runs: " + ", ".join(
        f"{name} {p95(ts) * 1000:.0f}" for name, ts in timings.items()))  # fmt: skip
    print(f"peak RSS (bench + workers + flow runs): {rss.peak / 2**20:.0f} MiB")
    print(json.dumps({"size": size, "communes": count, "seconds": elapsed, **seconds}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["province", "national"])
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "province")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env, processes = start_stack(args.work.resolve())
    try:
        for size in args.sizes:
            run_size(size, args.work.resolve(), env, processes[0].pid, args.workers)
    finally:
        _stop(processes)


if __name__ == "__main__":
    main()
