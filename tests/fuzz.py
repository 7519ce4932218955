"""Mutation fuzzing of `khcn ingest`: hostile variants of real submissions through the real flow.

The generator is deterministic: mutant `i` of a run with seed `s` depends on `(s, i)` only. It
starts from the template in every format (.xlsx, .xlsm, .xls, .ods, .csv) and from the defect
files of tests/data, and applies one mutation each: byte flips, truncation, zip-entry drops and
renames, XML edits (CDATA and markup in `<v>`, empty values, dangling shared strings, style
index 999999), numbers at the limits, control characters, a merge over a whole sheet, 50,000
merges, 16,384 columns, `row r="4294967297"`, lying dimensions, .ods repeat counts and values
at odds with their text, CSV delimiter and encoding changes, and odd names (control
characters, 245 characters, bytes that are not UTF-8, `CON`/`NUL`, a unit code `CON` or 5,000
characters long).

`run` puts the mutants in an inbox in batches, runs the ingest flow on each (feedback, load
and publish included) and counts:

- files: mutants listed;
- run aborts: flow runs that raised;
- crashes: files whose reader crashed (contained: `R-FILE-CRASH`), and files a later step
  failed on (contained: `R-VALIDATE-FAILED`, `R-FEEDBACK-FAILED`, `R-LOAD-FAILED`);
- hangs: batches that did not finish in `HANG_SECONDS`; timeouts: files stopped by the
  reading time limit (`R-FILE-TIMEOUT`);
- silent drops: files listed but not recorded in the warehouse;
- value mismatches: a loaded value differing from the seed's with no finding on its cell or
  its row, not among the elements a `W-ELEMENTS-MISSING` names, in a file not told
  `W-VALUES-MISSING` (no values table found), and not what an independent
  reader (openpyxl, xlrd, pandas-odf, the csv module) finds in the file: a value whose record
  a flipped byte turned into one no reader knows is absent from the file for both, not
  changed in silence;
- peak RSS of the whole process tree (this process, the Prefect API server, every worker),
  sampled from /proc.

Run it with `make fuzz N=10000` (`python tests/fuzz.py --n 10000`); tests/test_fuzz.py runs a
sample of a few hundred files in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import io
import json
import os
import random
import re
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
for entry in (str(HERE), str(HERE.parent)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from filemakers import csv_rows, ods_bytes, template, xls_bytes, xlsm_bytes, xlsx_bytes  # noqa: E402

from sources.archives import split_member_url  # noqa: E402

DATA = HERE / "data"
HANG_SECONDS = 900.0
FIXED_STAMP = (2026, 1, 1, 0, 0, 0)
_ISO_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?")
_ELEMENT_CODE = re.compile(r"(?<![\d.])\d+(?:\.\d+)+(?![\d.])")
CONTAINED = ("R-FILE-CRASH", "R-VALIDATE-FAILED", "R-FEEDBACK-FAILED", "R-LOAD-FAILED")


@dataclass(frozen=True)
class Seed:
    """A file mutants start from, with the values its own reading gives."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Mutant:
    """One fuzzed file: its name (bytes when not UTF-8), content and how it was made."""

    index: int
    name: str | bytes
    data: bytes
    seed: str
    kind: str

    @property
    def suffix(self) -> str:
        name = self.name if isinstance(self.name, str) else os.fsdecode(self.name)
        return Path(name).suffix.lower()


# ---------------------------------------------------------------------------------------------
# Seeds


_FIRST_TAG = re.compile(rb'<([\w:]+)((?:\s+[\w:.-]+="[^"]*")+)\s*(/?)>')
_ATTRIBUTE = re.compile(rb'\s+([\w:.-]+="[^"]*")')


def _sorted_attributes(xml: bytes) -> bytes:
    """The root element's attributes in one order (odfpy writes its namespaces in set order)."""
    match = _FIRST_TAG.search(xml)
    if not match:
        return xml
    attributes = b" ".join(sorted(_ATTRIBUTE.findall(match.group(2))))
    tag = b"<" + match.group(1) + b" " + attributes + match.group(3) + b">"
    return xml[: match.start()] + tag + xml[match.end() :]


def _stable(data: bytes) -> bytes:
    """The zip with fixed timestamps (entries and XML dates), so seeds are the same every run."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith(".xml"):
                content = _sorted_attributes(_ISO_TIME.sub(b"2026-01-01T00:00:00Z", content))
            fixed = zipfile.ZipInfo(info.filename, FIXED_STAMP)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            out.writestr(fixed, content)
    return buffer.getvalue()


def _csv_bytes(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return buffer.getvalue().encode("utf-8")


@functools.cache
def seeds() -> list[Seed]:
    """The template in every format, then every defect file of tests/data.

    Built once per process: odfpy declares in later documents the namespaces earlier ones used.
    """
    sheets = template()
    found = [
        Seed("THON-01_2026Q3.xlsx", _stable(xlsx_bytes(sheets))),
        Seed("THON-01_2026Q3.xlsm", _stable(xlsm_bytes(xlsx_bytes(sheets)))),
        Seed("THON-01_2026Q3.xls", xls_bytes(sheets)),
        Seed("THON-01_2026Q3.ods", _stable(ods_bytes(sheets))),
        Seed("THON-01_2026Q3.csv", _csv_bytes(csv_rows())),
    ]
    for path in sorted(DATA.rglob("*")):
        if path.is_file() and path.suffix != ".py":
            found.append(Seed(path.name, path.read_bytes()))
    return found


# ---------------------------------------------------------------------------------------------
# Mutations

Mutation = Callable[[random.Random, Seed], tuple[str | bytes, bytes]]

LIMIT_NUMBERS = [
    "1e308", "-1e308", "1e309", "9" * 400, "4.9e-324", "-0", "NaN", "INF", "1E+15",
    "999999999999999", "0x10", "1_000", "1e-400", "-9" * 30, "12345678901234567890",
]  # fmt: skip
CONTROL = ["\x00", "\x01", "\x07", "\x0b", "\x1b", "\x1f", "\x7f", "\u200b", "\ufeff", "\u202e"]


def _is_zip(data: bytes) -> bool:
    return data.startswith(b"PK\x03\x04")


def _rezip(data: bytes, edit: Callable[[str, bytes], bytes | None]) -> bytes:
    """The zip with each entry passed through `edit` (None drops it)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    if sum(info.file_size for info in source.infolist()) > 20 * 2**20:
        # A zip bomb among the seeds: unpacking it is not what the mutation is about.
        raise ValueError("seed too big to unpack")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            content = edit(info.filename, source.read(info))
            if content is None:
                continue
            fixed = zipfile.ZipInfo(info.filename, FIXED_STAMP)
            fixed.compress_type = info.compress_type
            out.writestr(fixed, content)
    return buffer.getvalue()


def _value_sheet(data: bytes) -> str | None:
    from sources.guard import sheet_parts

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for part, name in sheet_parts(archive).items():
            if name == "Chỉ tiêu":
                return part
        parts = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
    return parts[0] if parts else None


def _edit_part(data: bytes, part: str | None, change: Callable[[bytes], bytes]) -> bytes:
    if part is None:
        return data
    return _rezip(data, lambda name, content: change(content) if name == part else content)


def _edit_sheet(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    if not _is_zip(data):
        return data
    try:
        part = _value_sheet(data)
    except (zipfile.BadZipFile, KeyError):
        return data
    return _edit_part(data, part, change)


def _one_number_cell(rng: random.Random, xml: bytes, new: Callable[[bytes], bytes]) -> bytes:
    cells = list(re.finditer(rb"<v>([^<]*)</v>", xml))
    if not cells:
        return xml
    match = rng.choice(cells)
    return xml[: match.start()] + new(match.group(1)) + xml[match.end() :]


def byte_flip(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    data = bytearray(seed.data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ (1 << rng.randrange(8))
    return seed.name, bytes(data)


def truncate(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    return seed.name, seed.data[: rng.randrange(len(seed.data))]


def xml_flip(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    if not _is_zip(seed.data):
        return byte_flip(rng, seed)
    with zipfile.ZipFile(io.BytesIO(seed.data)) as archive:
        parts = [n for n in archive.namelist() if n.endswith(".xml")]
    if not parts:  # an archive of submissions, a Word report without XML parts...
        return byte_flip(rng, seed)
    target = rng.choice(parts)

    def flip(xml: bytes) -> bytes:
        data = bytearray(xml)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] = rng.choice(b'0123456789<>/"=&;x \x00\x01\xff.,-')
        return bytes(data)

    return seed.name, _edit_part(seed.data, target, flip)


def entry_drop(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    if not _is_zip(seed.data):
        return truncate(rng, seed)
    with zipfile.ZipFile(io.BytesIO(seed.data)) as archive:
        names = archive.namelist()
    if not names:
        return truncate(rng, seed)
    victim = rng.choice(names)
    return seed.name, _rezip(seed.data, lambda n, c: None if n == victim else c)


def entry_rename(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    if not _is_zip(seed.data):
        return byte_flip(rng, seed)
    source = zipfile.ZipFile(io.BytesIO(seed.data))
    if sum(info.file_size for info in source.infolist()) > 20 * 2**20:
        raise ValueError("seed too big to unpack")
    if not source.namelist():
        return byte_flip(rng, seed)
    victim = rng.choice(source.namelist())
    new = rng.choice(
        [victim + "\x01", victim.upper(), "x" * 300 + ".xml", "a/\x1b[31m.xml", victim + "é", ""]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            name = new if info.filename == victim and new else info.filename
            out.writestr(zipfile.ZipInfo(name, FIXED_STAMP), source.read(info))
    return seed.name, buffer.getvalue()


def cdata(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    return seed.name, _edit_sheet(
        seed.data,
        lambda xml: _one_number_cell(rng, xml, lambda v: b"<v><![CDATA[" + v + b"]]></v>"),
    )


def nested_markup(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    depth = rng.randint(1, 200)
    return seed.name, _edit_sheet(
        seed.data,
        lambda xml: _one_number_cell(
            rng, xml, lambda v: b"<v>" + b"<a>" * depth + v + b"</a>" * depth + b"</v>"
        ),
    )


def empty_value(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    form = rng.choice([b"<v></v>", b"<v/>", b"<v> </v>", b"<w>3</w>"])
    return seed.name, _edit_sheet(seed.data, lambda xml: _one_number_cell(rng, xml, lambda v: form))


def limit_number(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    number = rng.choice(LIMIT_NUMBERS)
    if seed.name.endswith(".csv"):
        return seed.name, seed.data.replace(b",3,", f",{number},".encode(), 1)
    if seed.name.endswith(".ods"):
        return seed.name, _rezip(
            seed.data,
            lambda n, c: (
                c.replace(b'office:value="3"', f'office:value="{number}"'.encode(), 1)
                if n == "content.xml"
                else c
            ),
        )
    return seed.name, _edit_sheet(
        seed.data, lambda xml: _one_number_cell(rng, xml, lambda v: f"<v>{number}</v>".encode())
    )


def control_text(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    char = rng.choice(CONTROL)
    if seed.name.endswith(".csv"):
        text = seed.data.decode("utf-8", "replace")
        i = rng.randrange(len(text))
        return seed.name, (text[:i] + char + text[i:]).encode("utf-8", "surrogatepass")
    if not _is_zip(seed.data):
        return byte_flip(rng, seed)
    encoded = char.encode("utf-8") if rng.random() < 0.5 else f"&#{ord(char)};".encode()

    def edit(name: str, content: bytes) -> bytes:
        if name in ("xl/sharedStrings.xml", "content.xml", "xl/workbook.xml"):
            spots = [m.end() for m in re.finditer(rb"<(?:\w+:)?(?:t|p)\b[^>]*>|name=\"", content)]
            if spots:
                i = rng.choice(spots)
                return content[:i] + encoded + content[i:]
        return content

    return seed.name, _rezip(seed.data, edit)


def _append_to_sheet(data: bytes, tail: bytes) -> bytes:
    return _edit_sheet(data, lambda xml: xml.replace(b"</sheetData>", b"</sheetData>" + tail, 1))


def huge_merge(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    merge = b'<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>'
    return seed.name, _append_to_sheet(seed.data, merge)


def many_merges(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    count = 50_000
    cells = b"".join(b'<mergeCell ref="Z%d:AA%d"/>' % (100 + i, 100 + i) for i in range(count))
    return seed.name, _append_to_sheet(
        seed.data, b'<mergeCells count="%d">' % count + cells + b"</mergeCells>"
    )


def wide(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    cell = b'<c r="XFD1" t="n"><v>1</v></c>'
    return seed.name, _edit_sheet(
        seed.data, lambda xml: xml.replace(b"</row>", cell + b"</row>", 1)
    )


def huge_row(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    row = rng.choice([b"4294967297", b"1048577", b"99999999999999999999"])
    extra = b'<row r="' + row + b'"><c r="A' + row + b'" t="n"><v>7</v></c></row>'
    return seed.name, _edit_sheet(
        seed.data, lambda xml: xml.replace(b"</sheetData>", extra + b"</sheetData>", 1)
    )


def style_index(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    return seed.name, _edit_sheet(
        seed.data, lambda xml: xml.replace(b'<c r="A1"', b'<c s="999999" r="A1"', 1)
    )


def lying_dimension(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    ref = rng.choice([b"A1:XFD1048576", b"A1:A1", b"ZZZ9:A1"])
    return seed.name, _edit_sheet(
        seed.data,
        lambda xml: re.sub(
            rb'<dimension ref="[^"]*"/>', b'<dimension ref="' + ref + b'"/>', xml, count=1
        ),
    )


def dangling_string(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    return seed.name, _edit_sheet(
        seed.data,
        lambda xml: _one_number_cell(rng, xml, lambda v: b"<v>999999</v>").replace(
            b't="n"><v>999999', b't="s"><v>999999', 1
        ),
    )


def ods_edit(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    if not seed.name.endswith(".ods"):
        return xml_flip(rng, seed)
    edits = [
        (b'office:value="3"/>', b"><text:p>6</text:p></table:table-cell>"),
        (b'office:value="3"/>', b'office:value="3"><text:p>6</text:p></table:table-cell>'),
        (b'office:value="120"/>', b'office:value="0"/>'),
        (b"<table:table-cell/>", b'<table:table-cell table:number-columns-repeated="16384"/>'),
        (b"<table:table-row>", b'<table:table-row table:number-rows-repeated="1048576">'),
        (
            b'office:value-type="float" office:value="3"',
            b'office:value-type="float" office:value="3" table:number-columns-repeated="0"',
        ),
    ]
    old, new = rng.choice(edits)
    return seed.name, _rezip(
        seed.data, lambda n, c: c.replace(old, new, 1) if n == "content.xml" else c
    )


def csv_edit(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    if not seed.name.endswith(".csv"):
        return byte_flip(rng, seed)
    text = seed.data.decode("utf-8", "replace")
    choice = rng.randrange(5)
    if choice == 0:
        return seed.name, text.replace(",", ";").encode("utf-8")
    if choice == 1:
        return seed.name, text.encode("utf-16")
    if choice == 2:
        return seed.name, (text + "," * 20_000 + "\r\n").encode("utf-8")
    if choice == 3:
        return seed.name, text.replace(",3,", ',"3\x00",', 1).encode("utf-8")
    return seed.name, ("x" * 200_000 + "\r\n" + text).encode("utf-8")


def _with_unit(unit: str, suffix: str) -> bytes:
    sheets = template(unit=unit)
    if suffix == ".csv":
        return _csv_bytes(csv_rows(unit=unit))
    return _stable(xlsx_bytes(sheets))


def odd_name(rng: random.Random, seed: Seed) -> tuple[str | bytes, bytes]:
    suffix = Path(seed.name).suffix
    stem = Path(seed.name).stem
    choice = rng.randrange(9)
    if choice == 0:
        return f"{stem}{rng.choice(CONTROL[1:6])}x{suffix}", seed.data
    if choice == 1:
        # 245 bytes: as long as a name gets once the file system's 255 leave room for more.
        return "đ" * 20 + "x" * (205 - len(suffix)) + suffix, seed.data
    if choice == 2:
        return b"bad\xff\xfe" + suffix.encode(), seed.data
    if choice == 3:
        return rng.choice(["CON", "NUL", "COM1", "LPT9", "aux"]) + suffix, seed.data
    if choice == 4:
        return seed.name, _with_unit("CON", suffix)
    if choice == 5:
        return seed.name, _with_unit("X" * 5000, suffix)
    if choice == 6:
        return f"{stem}\n=1+1{suffix}", seed.data
    if choice == 7:
        return stem.encode() + b"\xc3\x28" + suffix.encode(), seed.data
    return f"[red]{stem}[link=file:x]{suffix}", seed.data


MUTATIONS: dict[str, Mutation] = {
    "byte_flip": byte_flip,
    "truncate": truncate,
    "xml_flip": xml_flip,
    "entry_drop": entry_drop,
    "entry_rename": entry_rename,
    "cdata": cdata,
    "nested_markup": nested_markup,
    "empty_value": empty_value,
    "limit_number": limit_number,
    "control_text": control_text,
    "huge_merge": huge_merge,
    "many_merges": many_merges,
    "wide": wide,
    "huge_row": huge_row,
    "style_index": style_index,
    "lying_dimension": lying_dimension,
    "dangling_string": dangling_string,
    "ods_edit": ods_edit,
    "csv_edit": csv_edit,
    "odd_name": odd_name,
}
# The expensive ones (a 50,000-merge sheet is 1.5 MB) are drawn less often.
WEIGHTS = {name: 1.0 for name in MUTATIONS} | {
    "many_merges": 0.15,
    "byte_flip": 2.0,
    "xml_flip": 2.0,
}


def mutants(count: int, seed: int = 0, start: int = 0) -> Iterator[Mutant]:
    """Mutants `start` to `start + count - 1` of the run with this seed, each the same every run."""
    pool = seeds()
    names = list(MUTATIONS)
    weights = [WEIGHTS[n] for n in names]
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{index}")
        origin = pool[index % 5] if rng.random() < 0.6 else rng.choice(pool)
        kind = rng.choices(names, weights)[0]
        try:
            name, data = MUTATIONS[kind](rng, origin)
        except (
            zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError, RuntimeError,
            NotImplementedError,
        ):  # fmt: skip
            # A seed the mutation cannot apply to (a defect file that is no zip, a zip with a
            # password or a compression Python lacks): flip bytes.
            kind = "byte_flip"
            name, data = byte_flip(rng, origin)
        yield Mutant(index, name, data, origin.name, kind)


# ---------------------------------------------------------------------------------------------
# What the file says, read by other readers than ours


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


def file_says(name: str, data: bytes, sheet: str, row: int, column: str) -> object:
    """The cell as an independent reader reads it: openpyxl, xlrd, pandas (odf) or csv."""
    from core.model import column_letters

    col = next(i for i in range(16_384) if column_letters(i) == column) + 1
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            import openpyxl

            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            for cells in book[sheet].iter_rows(min_row=row, max_row=row, min_col=col, max_col=col):
                for cell in cells:
                    return cell.value
            return None
        if suffix == ".xls":
            import xlrd

            book = xlrd.open_workbook(file_contents=data, on_demand=True)
            cells = book.sheet_by_name(sheet)
            if row - 1 >= cells.nrows or col - 1 >= cells.ncols:
                return None
            cell = cells.cell(row - 1, col - 1)
            if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                return None
            if cell.ctype == xlrd.XL_CELL_ERROR:
                return xlrd.error_text_from_code.get(cell.value, "#ERR")
            if cell.ctype == xlrd.XL_CELL_BOOLEAN:
                return bool(cell.value)
            return cell.value
        if suffix == ".ods":
            import pandas as pd

            frame = pd.read_excel(io.BytesIO(data), engine="odf", sheet_name=sheet, header=None)
            if row - 1 < frame.shape[0] and col - 1 < frame.shape[1]:
                value = frame.iat[row - 1, col - 1]
                return None if pd.isna(value) else value
            return None
        if suffix in (".csv", ".tsv", ".txt"):
            # A byte-order mark settles the encoding (what it cannot decode shows as U+FFFD);
            # without one, UTF-8 and then Windows-1258, as offices save CSV.
            if data.startswith((b"\xff\xfe", b"\xfe\xff")):
                text = data.decode("utf-16", "replace")
            elif data.startswith(b"\xef\xbb\xbf"):
                text = data.decode("utf-8-sig", "replace")
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = data.decode("cp1258")
            try:
                dialect: object = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            rows = list(csv.reader(io.StringIO(text, newline=""), dialect))  # type: ignore[arg-type]
            if row - 1 < len(rows) and col - 1 < len(rows[row - 1]):
                return rows[row - 1][col - 1]
            return None
    except Exception:  # noqa: BLE001 - an independent reader that fails knows nothing
        return UNKNOWN
    return UNKNOWN


def _number(value: object) -> float | None | _Unknown:
    from sources.values import is_empty, parse_number

    if value is UNKNOWN:
        return UNKNOWN
    if is_empty(value):
        return None
    parsed = parse_number(value)
    if parsed.problem or parsed.value is None or isinstance(parsed.value, str):
        return UNKNOWN
    return float(parsed.value)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


# ---------------------------------------------------------------------------------------------
# Running


class PeakRss:
    """Samples the resident memory of this process and all its descendants from /proc."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        # This process alone, and everything below it (Prefect's server, the workers).
        self.peak_self = 0
        self.peak_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def tree_rss(root: int) -> int:
        """Bytes resident in `root` and every process below it."""
        return sum(PeakRss.split_rss(root))

    @staticmethod
    def split_rss(root: int) -> tuple[int, int]:
        """Bytes resident in `root`, and in every process below it.

        A child between its (v)fork and its exec shows its parent's whole resident set as its
        own (the same pages, not new ones): it is counted from its exec on, when its command
        line is its own. Worker processes are always new programs (`sources.guard`), and
        sampling one during its start counted the flow process twice (1,219 MiB once).
        """
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        own, below, stack = 0, 0, [(root, b"")]
        while stack:
            pid, parent_command = stack.pop()
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            stack.extend((child, command) for child in children.get(pid, []))
            if pid != root and command == parent_command:
                continue  # not exec'd yet: its pages are its parent's
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) * 1024
                        if pid == root:
                            own = rss
                        else:
                            below += rss
        return own, below

    def _run(self) -> None:
        while not self._stop.is_set():
            own, below = self.split_rss(os.getpid())
            self.peak = max(self.peak, own + below)
            self.peak_self = max(self.peak_self, own)
            self.peak_children = max(self.peak_children, below)
            self._stop.wait(self.interval)


@dataclass
class Counts:
    """The figures of a fuzz run."""

    files: int = 0
    batches: int = 0
    run_aborts: int = 0
    reader_crashes: int = 0
    step_failures: int = 0
    hangs: int = 0
    timeouts: int = 0
    silent_drops: int = 0
    value_mismatches: int = 0
    unknown_oracle: int = 0
    accepted: int = 0
    rejected: int = 0
    feedback_files: int = 0
    peak_rss_bytes: int = 0
    peak_self_bytes: int = 0
    peak_children_bytes: int = 0
    worker_budget_bytes: int = 0
    seconds: float = 0.0
    by_kind: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report, one figure a line."""
        return [
            f"files:                    {self.files}",
            f"flow runs (batches):      {self.batches}",
            f"run aborts:               {self.run_aborts}",
            f"reader crashes contained: {self.reader_crashes}",
            f"step failures contained:  {self.step_failures}",
            f"hangs:                    {self.hangs}",
            f"reading timeouts:         {self.timeouts}",
            f"silent drops:             {self.silent_drops}",
            f"value mismatches:         {self.value_mismatches}",
            f"  (no independent reading: {self.unknown_oracle})",
            f"accepted or warned:       {self.accepted}",
            f"rejected:                 {self.rejected}",
            f"feedback files:           {self.feedback_files}",
            f"peak RSS, process tree:   {self.peak_rss_bytes / 2**20:.0f} MiB",
            f"  (this process alone {self.peak_self_bytes / 2**20:.0f} MiB, the processes below"
            f" it {self.peak_children_bytes / 2**20:.0f} MiB; workers capped at"
            f" {self.worker_budget_bytes / 2**20:.0f} MiB together)",
            f"seconds:                  {self.seconds:.0f}",
            "mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())),
            *[f"problem: {p}" for p in self.problems[:40]],
        ]


def _seed_values(workdir: Path) -> dict[str, dict[str, tuple[float | None, str, int, str]]]:
    """Seed name -> element code -> (value, sheet, row, column) as our reader reads the seed.

    The defect seeds are hostile too: they are read in worker processes, as the flow does.
    """
    from sources.inbox import InboxEntry
    from sources.read import read_many

    folder = workdir / "seeds"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, seed in enumerate(seeds()):
        path = folder / f"{i:03d}" / seed.name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(seed.data)
        entries.append(InboxEntry(str(path), seed.name, len(seed.data), None))
    found = {}
    for seed, sub in zip(seeds(), read_many(entries), strict=True):
        found[seed.name] = {
            row.element_code: (
                None if row.value is None else float(row.value),
                row.ref.sheet,
                row.ref.row,
                row.ref.column,
            )
            for row in sub.values
            if row.element_code
        }
    return found


def _oracle(query: tuple[str, bytes, str, int, str]) -> object:
    """`file_says` in a worker process: the independent readers get the same limits as ours."""
    said = file_says(*query)
    return "UNKNOWN" if said is UNKNOWN else said


def _oracle_failed(query: tuple[str, bytes, str, int, str], reason: str) -> object:
    return "UNKNOWN"


def _write_inbox(inbox: Path, batch: list[Mutant]) -> dict[str, Mutant]:
    """Writes the mutants, each in a folder of its own (names may repeat); url -> mutant.

    The folders are `THON-01/<YYYYMM>`: the unit the seeds are from, then a name that reads as
    a period, which the inbox does not take for a unit folder (at most 1,200 per batch).
    """
    from core.names import storable

    assert len(batch) <= 1200
    urls = {}
    for i, mutant in enumerate(batch):
        folder = inbox / "THON-01" / f"{2000 + i // 12}{i % 12 + 1:02d}"
        folder.mkdir(parents=True)
        name = mutant.name if isinstance(mutant.name, bytes) else os.fsencode(mutant.name)
        # A name that is not UTF-8 is written as the bytes it is (Path would need surrogates).
        path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
        path.write_bytes(mutant.data)
        urls[storable(str(path))] = mutant
    return urls


def _check_batch(
    counts: Counts,
    warehouse: Path,
    urls: dict[str, Mutant],
    expected: dict[str, dict[str, tuple[float | None, str, int, str]]],
) -> None:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        files = con.execute(
            "select f.url, s.submission_id, s.verdict, coalesce(s.duplicate_of, s.submission_id)"
            " from raw.received_files f left join raw.submissions s using (received_file_id)"
        ).fetchall()
        values: dict[int, dict[str, float]] = {}
        for sid, element, value in con.execute(
            "select submission_id, element_code, value from raw.data_values"
        ).fetchall():
            values.setdefault(sid, {})[element] = value
        findings: dict[int, set[tuple[str | None, int | None, str | None]]] = {}
        missing: dict[int, set[str]] = {}
        # Told that the file has no values table at all: every value of it is accounted for.
        no_values: set[int] = set()
        codes: Counter[str] = Counter()
        for sid, code, message, sheet, row, column in con.execute(
            "select submission_id, code, message, sheet, row_number, column_letter"
            " from raw.findings"
        ).fetchall():
            findings.setdefault(sid, set()).update({(sheet, row, column), (sheet, row, None)})
            if code == "W-ELEMENTS-MISSING":
                missing.setdefault(sid, set()).update(_ELEMENT_CODE.findall(message))
            elif code == "W-VALUES-MISSING":
                no_values.add(sid)
            codes[code] += 1
    finally:
        con.close()
    counts.reader_crashes += codes["R-FILE-CRASH"]
    counts.timeouts += codes["R-FILE-TIMEOUT"]
    counts.step_failures += sum(codes[c] for c in CONTAINED[1:])
    recorded = {url for url, *_ in files}
    # An archive that was unpacked is recorded as its members (`zip://MEMBER::ARCHIVE-URL`).
    recorded |= {member[0] for url in recorded if (member := split_member_url(url))}
    for url, mutant in urls.items():
        if url not in recorded:
            counts.silent_drops += 1
            counts.problems.append(f"dropped #{mutant.index} {mutant.kind} {mutant.name!r}")
    verdict_of = {sid: verdict for _, sid, verdict, _ in files}
    pending: list[
        tuple[Mutant, str, float | None, float | None, tuple[str, bytes, str, int, str]]
    ] = []
    for url, _sid, verdict, original in files:
        mutant = urls.get(url)
        if mutant is None or original is None:
            continue
        verdict = verdict_of.get(original, verdict)
        if verdict == "rejected":
            counts.rejected += 1
            continue
        counts.accepted += 1
        got = values.get(original, {})
        for element, (want, sheet, row, column) in expected.get(mutant.seed, {}).items():
            value = got.get(element)
            if _same(value, want):
                continue
            # Told: a finding on the value's cell or on its row (the row's code cell, say), or
            # the element named as missing from the file.
            told = findings.get(original, set())
            if {(sheet, row, column), (sheet, row, None)} & told:
                continue
            if element in missing.get(original, set()) or original in no_values:
                continue
            pending.append(
                (
                    mutant,
                    element,
                    want,
                    value,
                    (f"file{mutant.suffix}", mutant.data, sheet, row, column),
                )
            )
    if not pending:
        return
    from core.settings import load_settings
    from sources.pool import run_isolated

    # The flow's workers are gone by now: one independent reader gets the memory of all.
    settings = load_settings()
    answers = run_isolated(
        [query for *_, query in pending],
        _oracle,
        _oracle_failed,
        workers=1,
        timeout=60,
        memory_bytes=settings.read_workers * settings.read_memory_bytes,
    )
    for (mutant, element, want, value, _), answer in zip(pending, answers, strict=True):
        said = _number(UNKNOWN if answer == "UNKNOWN" else answer)
        if said is not UNKNOWN and _same(value, said):  # type: ignore[arg-type]
            continue
        counts.value_mismatches += 1
        counts.unknown_oracle += said is UNKNOWN
        counts.problems.append(
            f"value #{mutant.index} {mutant.kind} from {mutant.seed}: {element} "
            f"{want} -> {value} (file says {said})"
        )


def _release_memory() -> None:
    """Gives memory freed by a finished flow run back to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def run(
    count: int,
    workdir: Path,
    *,
    seed: int = 0,
    batch_size: int = 250,
    schemas_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Counts:
    """Runs `count` mutants through the ingest flow, `batch_size` per flow run.

    Each batch gets its own data folder (inbox, outbox, archive, warehouse); the caller
    provides the Prefect API (a test harness or a server).
    """
    from core.settings import load_settings
    from flows.ingest_submissions import ingest_submissions

    counts = Counts()
    expected = _seed_values(workdir)
    started = time.monotonic()
    with PeakRss() as rss:
        for first in range(0, count, batch_size):
            batch = list(mutants(min(batch_size, count - first), seed, first))
            counts.files += len(batch)
            counts.by_kind.update(m.kind for m in batch)
            data_dir = workdir / f"batch-{first // batch_size:04d}"
            urls = _write_inbox(data_dir / "inbox", batch)
            os.environ["KHCN_DATA_DIR"] = str(data_dir)
            if schemas_dir is not None:
                os.environ["KHCN_SCHEMAS_DIR"] = str(schemas_dir)
            counts.batches += 1
            began = time.monotonic()
            try:
                report = ingest_submissions()
                counts.feedback_files += len(report.feedback)
            except Exception as exc:  # noqa: BLE001 - an abort is what is being counted
                counts.run_aborts += 1
                counts.problems.append(f"abort in batch {first}: {type(exc).__name__}: {exc}")
            if time.monotonic() - began > HANG_SECONDS:
                counts.hangs += 1
            warehouse = data_dir / "warehouse.duckdb"
            if warehouse.is_file():
                _check_batch(counts, warehouse, urls, expected)
            else:
                counts.silent_drops += len(batch)
            _release_memory()
            if progress:
                progress(
                    f"{counts.files}/{count} files, {time.monotonic() - started:.0f} s: "
                    f"aborts {counts.run_aborts}, crashes {counts.reader_crashes}, "
                    f"step failures {counts.step_failures}, hangs {counts.hangs}, "
                    f"drops {counts.silent_drops}, mismatches {counts.value_mismatches}, "
                    f"peak {rss.peak / 2**20:.0f} MiB"
                )
    counts.peak_rss_bytes = rss.peak
    counts.peak_self_bytes = rss.peak_self
    counts.peak_children_bytes = rss.peak_children
    settings = load_settings()
    counts.worker_budget_bytes = settings.read_workers * settings.read_memory_bytes
    counts.seconds = time.monotonic() - started
    return counts


def main(argv: list[str] | None = None) -> int:
    """`make fuzz N=…`: runs the mutants under a Prefect test harness and prints the counts."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of mutants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=250, help="mutants per flow run (≤ 1200)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="khcn-fuzz-") as tmp:
        root = args.workdir or Path(tmp)
        (root / "prefect-home").mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("PREFECT_HOME", str(root / "prefect-home"))
        os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Run as a script this module is `__main__`, which worker processes cannot import:
        # the work they are sent must come from the module under its own name.
        from fuzz import run as run_importable
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=120):
            counts = run_importable(
                args.n,
                root / "runs",
                seed=args.seed,
                batch_size=args.batch,
                progress=lambda line: print(line, file=sys.stderr, flush=True),
            )
    if args.json:
        print(json.dumps({k: v for k, v in counts.__dict__.items()}, default=str, indent=2))
    else:
        print("\n".join(counts.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
