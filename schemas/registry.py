"""The unit registry: imported from the analyst's spreadsheet, kept as `schemas/units.yaml`."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

from core.text import canonical, decode_text, fold
from schemas.errors import Problem, ProblemList, SchemaError
from schemas.model import UNIT_TYPES, Registry, Unit
from schemas.yamlio import read_yaml, write_yaml

_COLUMNS = {
    "ma don vi": "code",
    "ten don vi": "name",
    "loai don vi": "type",
    "email": "email",
    "thu dien tu": "email",
    "dang hoat dong": "active",
    "ten khac": "aliases",
    "ten goi khac": "aliases",
}
# `Tên khác` holds several names, one per line or separated by `;`.
_ALIAS_SEPARATORS = re.compile(r"[;\n]+")
_TYPES = {fold(t): t for t in UNIT_TYPES}
_YES = {"", "co", "x", "1", "true", "yes", "dang hoat dong"}
_NO = {"khong", "0", "false", "no", "ngung hoat dong"}
_EMAIL_SEPARATORS = re.compile(r"[,;\s]+")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
SAMPLE_NOTE = "# DỮ LIỆU MẪU: thay bằng danh sách đơn vị thật của xã (khcn units import TỆP).\n"


def read_registry(path: Path, sample: bool = False) -> Registry:
    """Read a registry spreadsheet (`.xlsx`, `.xls`, `.ods` or `.csv`).

    Columns: `Mã đơn vị`, `Tên đơn vị`, `Loại đơn vị`, optional `Email`, `Đang hoạt động` and
    `Tên khác` (other names the unit goes by, one per line or separated by `;`; submissions
    may name the unit by any of them).

    Raises:
        SchemaError: naming the file and row of every duplicate code, unknown type or
            missing name.
    """
    file, problems = str(path), ProblemList()
    rows = _rows(path)
    header_at = next((i for i, r in enumerate(rows) if _header(r[1])), None)
    if header_at is None:
        raise SchemaError(
            [Problem(file, None, "không thấy hàng tiêu đề Mã đơn vị, Tên đơn vị, Loại đơn vị")]
        )
    columns = _header(rows[header_at][1]) or {}
    units: list[Unit] = []
    first_row: dict[str, int] = {}
    for number, cells in rows[header_at + 1 :]:
        record = {name: _text(cells[i]) if i < len(cells) else "" for name, i in columns.items()}
        if not any(record.values()):
            continue
        code = record["code"]
        before = len(problems)
        _check_record(problems, file, number, record, first_row.get(code))
        if code:
            first_row.setdefault(code, number)
        if len(problems) == before:
            units.append(
                Unit(
                    code=code,
                    name=record["name"],
                    type=_TYPES[fold(record["type"])],  # type: ignore[arg-type]
                    email="; ".join(split_emails(record.get("email", ""))) or None,
                    active=fold(record.get("active", "")) not in _NO,
                    aliases=_aliases(cells, columns.get("aliases")),
                )
            )
    if not units and not problems:
        problems.add(file, None, "không có đơn vị nào dưới hàng tiêu đề")
    problems.raise_if_any()
    return Registry(source=path.name, sample=sample, units=tuple(units))


def _check_record(
    problems: ProblemList, file: str, number: int, record: dict[str, str], seen_at: int | None
) -> None:
    """Adds the problems of one registry row; `seen_at` is the row its code first appeared on."""
    code, name, kind = record["code"], record["name"], record["type"]
    if not code:
        problems.add(file, number, "thiếu Mã đơn vị")
    elif seen_at is not None:
        problems.add(file, number, f"Mã đơn vị {code} trùng với dòng {seen_at}")
    if not name:
        problems.add(file, number, "thiếu Tên đơn vị")
    if fold(kind) not in _TYPES:
        problems.add(
            file, number, f"Loại đơn vị «{kind}» không hợp lệ; dùng: {', '.join(UNIT_TYPES)}"
        )
    if fold(record.get("active", "")) not in _YES | _NO:
        problems.add(file, number, f"Đang hoạt động «{record['active']}»: ghi Có hoặc Không")
    for address in split_emails(record.get("email", "")):
        if not _EMAIL.match(address):
            problems.add(file, number, f"Email «{address}» không hợp lệ; ghi dạng ten@mien.vn")


def split_emails(text: str | None) -> tuple[str, ...]:
    """The addresses of one registry cell: several per unit, separated by `,`, `;` or spaces."""
    return tuple(a.lower() for a in _EMAIL_SEPARATORS.split(text or "") if a)


def units_by_email(registry: Registry) -> dict[str, tuple[str, ...]]:
    """Address → the codes of the active units that list it (more than one is ambiguous)."""
    found: dict[str, list[str]] = {}
    for unit in registry.units:
        if unit.active:
            for address in split_emails(unit.email):
                found.setdefault(address, []).append(unit.code)
    return {address: tuple(codes) for address, codes in found.items()}


def write_registry(registry: Registry, path: Path) -> None:
    """Write the registry as YAML, atomically; a sample registry says so at the top."""
    header = SAMPLE_NOTE if registry.sample else ""
    write_yaml(path, registry.model_dump(mode="json"), header)


def load_registry(path: Path) -> Registry:
    """Read `units.yaml` and check unique codes."""
    problems = ProblemList()
    registry = problems.model(Registry, read_yaml(path), str(path), None)
    problems.raise_if_any()
    assert registry is not None
    counts = Counter(u.code for u in registry.units)
    for index, unit in enumerate(registry.units, start=1):
        if counts[unit.code] > 1:
            problems.add(str(path), f"units[{index}]", f"Mã đơn vị {unit.code} bị trùng")
    problems.raise_if_any()
    return registry


def _header(cells: list[Any]) -> dict[str, int] | None:
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _COLUMNS.get(fold(_text(cell)))
        if name and name not in found:
            found[name] = index
    return found if {"code", "name", "type"} <= found.keys() else None


def _aliases(cells: list[Any], column: int | None) -> tuple[str, ...]:
    if column is None or column >= len(cells) or cells[column] is None:
        return ()
    # Read raw: `_text` folds line breaks into spaces.
    parts = _ALIAS_SEPARATORS.split(str(cells[column]))
    return tuple(dict.fromkeys(canonical(p) for p in parts if p.strip()))


def unit_names(registry: Registry) -> list[tuple[str, str, tuple[str, ...]]]:
    """(code, name, aliases) of every unit, for the reader's `sources.names.Names`."""
    return [(u.code, u.name, u.aliases) for u in registry.units]


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return canonical("" if value is None else str(value))


def _rows(path: Path) -> list[tuple[int, list[Any]]]:
    """Rows with the row number the analyst sees in Excel or a text editor."""
    if path.suffix.lower() in {".csv", ".txt", ".tsv"}:
        text = decode_text(path.read_bytes())
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
        return list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    sheet = book.get_sheet_by_index(0)
    return list(enumerate(sheet.to_python(skip_empty_area=False), start=1))
