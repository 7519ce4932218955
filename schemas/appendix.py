"""The plan's appendix (Phụ lục), as exported from Word or Excel, read into a task catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.text import canonical, decode_text, fold
from schemas.errors import Problem, ProblemList, SchemaError
from schemas.model import Catalog, Group, Responsibility, Task
from schemas.parties import Parties
from schemas.timeframe import TimeframeError, parse_timeframe

COLUMNS = ("stt", "content", "lead", "coordinators", "results", "timeframe")
# The plan's appendix as received (plain text), shipped with the catalog imported from it.
REFERENCE_APPENDIX = Path(__file__).resolve().parent / "reference" / "000_dca197c9b0492ba3.txt"
_GROUP = re.compile(r"^(\d+)\.?$")
_TASK = re.compile(r"^(\d+)\.(\d+)\.?$")


@dataclass
class SourceRow:
    """A row of the appendix's table and where the analyst finds it."""

    where: str
    cells: list[str]


@dataclass
class _Draft:
    where: str
    code: str
    cells: dict[str, str] = field(default_factory=dict)

    def extend(self, more: dict[str, str]) -> None:
        # A page break splits a row: the next row's cells continue this row's cells.
        for name, text in more.items():
            if text:
                self.cells[name] = f"{self.cells.get(name, '')} {text}".strip()


def read_rows(path: Path) -> list[SourceRow]:
    """The table rows of an appendix in `.txt`/`.tsv`, `.docx` or `.xlsx`/`.xls`/`.ods`."""
    suffix = path.suffix.lower()
    if suffix in {".txt", ".tsv", ".csv"}:
        return _text_rows(path)
    if suffix == ".docx":
        return _docx_rows(path)
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        return _sheet_rows(path)
    raise ValueError(f"không đọc được loại tệp «{suffix}»: dùng .txt, .docx hoặc .xlsx")


def _text_rows(path: Path) -> list[SourceRow]:
    text = decode_text(path.read_bytes())
    delimiter = "\t" if "\t" in text else ","
    return [
        SourceRow(str(number), line.split(delimiter))
        for number, line in enumerate(text.splitlines(), start=1)
    ]


def _docx_rows(path: Path) -> list[SourceRow]:
    import docx

    rows: list[SourceRow] = []
    for t_index, table in enumerate(docx.Document(str(path)).tables, start=1):
        for r_index, row in enumerate(table.rows, start=1):
            seen: set[int] = set()
            cells = []
            for cell in row.cells:
                # Word repeats a merged cell in every column it spans; keep it once.
                cells.append("" if id(cell._tc) in seen else cell.text)
                seen.add(id(cell._tc))
            rows.append(SourceRow(f"bảng {t_index}, hàng {r_index}", cells))
    return rows


def _sheet_rows(path: Path) -> list[SourceRow]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    rows: list[SourceRow] = []
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        for number, values in enumerate(sheet.to_python(skip_empty_area=False), start=1):
            rows.append(SourceRow(f"sheet {name}, hàng {number}", [_cell_text(v) for v in values]))
    return rows


def _cell_text(value: object) -> str:
    # Excel keeps "1" and "1.1" typed into general cells as the numbers 1.0 and 1.1.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _header_map(cells: list[str]) -> dict[str, int] | None:
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = fold(cell)
        name = (
            "stt"
            if key in {"stt", "tt", "so tt", "so thu tu"}
            else "content"
            if key.startswith("noi dung")
            else "lead"
            if "chu tri" in key
            else "coordinators"
            if "phoi hop" in key
            else "results"
            if "ket qua" in key or "san pham" in key
            else "timeframe"
            if "thoi gian" in key or "thoi han" in key
            else None
        )
        if name and name not in found:
            found[name] = index
    return found if {"stt", "content"} <= found.keys() and len(found) >= 4 else None


def parse_appendix(
    rows: list[SourceRow], source: str, parties: Parties, plan_years: range
) -> Catalog:
    """Build the catalog from an appendix's rows; every problem found is raised together.

    Raises:
        SchemaError: naming the file and row of each problem.
    """
    problems = ProblemList()
    header_at, columns = _header_row(rows, source, problems)
    groups, tasks = _drafts(rows[header_at + 1 :], columns, source, problems)
    for kind, drafts in (("nhóm", groups), ("nhiệm vụ", tasks)):
        codes = [d.code for d in drafts]
        for draft in drafts:
            if codes.count(draft.code) > 1:
                problems.add(source, draft.where, f"mã {kind} {draft.code} bị trùng")

    built = [_task(draft, source, parties, plan_years, problems) for draft in tasks]
    if not tasks:
        problems.add(source, None, "không có nhiệm vụ nào dưới hàng tiêu đề")
    problems.raise_if_any()
    return Catalog(
        source=Path(source).name,
        groups=tuple(
            Group(code=g.code, title=canonical(g.cells.get("content") or _first_text(g.cells)))
            for g in groups
        ),
        tasks=tuple(t for t in built if t is not None),
    )


def _header_row(
    rows: list[SourceRow], source: str, problems: ProblemList
) -> tuple[int, dict[str, int]]:
    """The header's index and its columns; a missing header or column ends the import."""
    header_at = next((i for i, row in enumerate(rows) if _header_map(row.cells) is not None), None)
    if header_at is None:
        raise SchemaError(
            [Problem(source, None, "không thấy hàng tiêu đề (Stt, Nội dung nhiệm vụ, …)")]
        )
    columns = _header_map(rows[header_at].cells) or {}
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        problems.add(source, rows[header_at].where, f"thiếu cột: {', '.join(missing)}")
        problems.raise_if_any()
    return header_at, columns


def _drafts(
    rows: list[SourceRow], columns: dict[str, int], source: str, problems: ProblemList
) -> tuple[list[_Draft], list[_Draft]]:
    """The groups and tasks below the header; a row without STT continues the one above."""
    groups: list[_Draft] = []
    tasks: list[_Draft] = []
    last: _Draft | None = None
    for row in rows:
        cells = {
            name: row.cells[i].strip() if i < len(row.cells) else "" for name, i in columns.items()
        }
        if not any(cells.values()):
            continue
        stt = cells.pop("stt")
        if not stt:
            if last is None:
                problems.add(source, row.where, "hàng không có STT đứng trước mọi nhiệm vụ")
            else:
                last.extend(cells)
        elif match := _GROUP.match(stt):
            last = _Draft(row.where, match.group(1), cells)
            groups.append(last)
        elif match := _TASK.match(stt):
            code = f"{match.group(1)}.{match.group(2)}"
            if not groups or groups[-1].code != match.group(1):
                problems.add(
                    source, row.where, f"nhiệm vụ {code} không nằm dưới nhóm {match.group(1)}"
                )
            last = _Draft(row.where, code, cells)
            tasks.append(last)
        else:
            problems.add(source, row.where, f"STT «{stt}» không phải nhóm (1) hay nhiệm vụ (1.1)")
    return groups, tasks


def _first_text(cells: dict[str, str]) -> str:
    return next((text for text in cells.values() if text), "")


def _task(
    draft: _Draft, source: str, parties: Parties, plan_years: range, problems: ProblemList
) -> Task | None:
    cells = {name: canonical(text) for name, text in draft.cells.items()}
    before = len(problems)
    try:
        timeframe = parse_timeframe(cells.get("timeframe", ""), plan_years)
    except TimeframeError as exc:
        problems.add(source, draft.where, f"nhiệm vụ {draft.code}: {exc}")
    lead = _responsibility(cells.get("lead", ""), "chủ trì", draft, source, parties, problems)
    coordinators = _responsibility(
        cells.get("coordinators", ""), "phối hợp", draft, source, parties, problems
    )
    if not cells.get("lead"):
        problems.add(source, draft.where, f"nhiệm vụ {draft.code}: thiếu đơn vị chủ trì")
    if not cells.get("content"):
        problems.add(source, draft.where, f"nhiệm vụ {draft.code}: thiếu nội dung")
    if len(problems) > before:
        return None
    return Task(
        code=draft.code,
        group_code=draft.code.split(".")[0],
        content=cells["content"],
        lead=lead,
        coordinators=coordinators,
        results=cells.get("results", ""),
        timeframe=timeframe,
    )


def _responsibility(
    text: str, role: str, draft: _Draft, source: str, parties: Parties, problems: ProblemList
) -> Responsibility:
    named, leftover = parties.resolve(text)
    if leftover:
        problems.add(
            source,
            draft.where,
            f"nhiệm vụ {draft.code}: đơn vị {role} «{text}» có phần không nhận ra «{leftover}»;"
            " thêm cụm này vào schemas/parties.yaml",
        )
    return Responsibility(text=text, parties=named)
