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
import itertools
import random
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from core.periods import parse_period
from core.settings import SCHEMAS_DIR, Settings, export_overrides, load_settings, prefect_defaults
from demo.samples import fill_workbook, plausible_value, sample_progress
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
