"""End-to-end ingest benchmark: the real flow on 1,000 and 10,000 submissions.

Builds a province-sized registry (communes of 17 units each, like the sample one), writes one
filled workbook per unit and quarter of 2026, then runs `ingest_submissions` (Prefect without a
server) on a fresh data folder and prints the time of each step, files per second and the peak
memory. Generating the inbox is not timed; it is cached under bench/.work/.

    .venv/bin/python bench/ingest_bench.py [--sizes 1000 10000] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from core.periods import parse_period
from core.settings import SCHEMAS_DIR, Settings, export_overrides, load_settings, prefect_defaults
from demo.samples import fill_workbook, sample_progress, sample_values
from outputs.template import write_template
from schemas.model import Registry, Unit
from schemas.registry import write_registry
from schemas.schema import Schema, load_schema

QUARTERS = ("2026Q1", "2026Q2", "2026Q3", "2026Q4")
VARIANTS = 4  # filled workbooks per unit type and quarter; units differ by their own code


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
    """A schemas folder with a registry for `size` submissions, and an inbox holding them."""
    folder = work / str(size)
    schemas, inbox = folder / "schemas", folder / "inbox"
    if (folder / "ready").exists():
        return schemas, inbox
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(SCHEMAS_DIR, schemas, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    per_commune = len(commune_units(0)) * len(QUARTERS)
    units = [u for n in range(-(-size // per_commune)) for u in commune_units(n)]
    write_registry(Registry(source="bench", units=tuple(units)), schemas / "units.yaml")
    schema = load_schema(Settings(schemas_dir=schemas, data_dir=folder))
    rng = random.Random(size)
    # One filled workbook per unit type, quarter and variant; the others copy it, their own
    # unit code written over the first unit's.
    filled: dict[tuple[str, str, int], tuple[bytes, str]] = {}
    written = 0
    started = time.perf_counter()
    for quarter in QUARTERS:
        for unit in units:
            if written == size:
                break
            key = (unit.type, quarter, rng.randrange(VARIANTS))
            if key not in filled:
                filled[key] = (
                    _filled(schema, unit, quarter, rng, folder / "blank.xlsx"),
                    unit.code,
                )
            target = inbox / unit.code / f"{unit.code}_{quarter}.xlsx"
            target.parent.mkdir(parents=True, exist_ok=True)
            data, first_code = filled[key]
            target.write_bytes(_renamed(data, unit.code, first_code))
            written += 1
    print(f"  wrote {written} workbooks in {time.perf_counter() - started:.0f} s (not timed)")
    (folder / "ready").touch()
    return schemas, inbox


def _filled(schema: Schema, unit: Unit, quarter: str, rng: random.Random, path: Path) -> bytes:
    period = parse_period(quarter)
    tasks = schema.tasks_due(unit, period)
    write_template(schema, unit, period, path)
    fill_workbook(
        path, sample_values(schema, unit, tasks, rng), sample_progress(tasks, period, rng)
    )
    return path.read_bytes()


def _renamed(data: bytes, code: str, first: str) -> bytes:
    """The workbook with the first unit's code replaced by this unit's (codes are ASCII, so
    the sheet XML holds them as they are)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith(".xml") and first.encode() in content:
                content = content.replace(first.encode(), code.encode())
            target.writestr(item, content)
    return out.getvalue()


def run(size: int, work: Path) -> None:
    print(f"\n{size} submissions")
    schemas, inbox = build_inbox(size, work)
    data = work / str(size) / "data"
    shutil.rmtree(data, ignore_errors=True)
    export_overrides(schemas_dir=schemas, data_dir=data, inbox=inbox)
    prefect_defaults(load_settings())
    from flows.ingest_submissions import ingest_submissions

    started = time.perf_counter()
    report = ingest_submissions()
    total = time.perf_counter() - started
    seconds = report.seconds
    print(f"  verdicts: {report.verdicts}  load: {report.load}")
    for step, value in seconds.items():
        print(f"  {step:<17} {value:8.2f} s  {1000 * value / size:7.3f} ms/file")
    print(f"  {'flow total':<17} {total:8.2f} s  {size / total:7.1f} files/s")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak memory: {own:.0f} MB this process, {children:.0f} MB largest child")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / ".work")
    args = parser.parse_args()
    if len(args.sizes) == 1:
        run(args.sizes[0], args.work)
        return
    # One process per size, as one flow run per process is how the flow runs in production.
    for size in args.sizes:
        command = [sys.executable, __file__, "--sizes", str(size), "--work", str(args.work)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
