"""Finding the tables in a sheet's grid, wherever and however the unit left them.

A header row is a row where at least two cells name fields and one of them is an anchor
(`Mã chỉ tiêu`, `Tình trạng` or `Kết quả đạt được`), or where `Tên chỉ tiêu` and `Giá trị` both
appear (a value table without its code column). The row below it completes the header when
it names fields in columns the first row left unnamed (a merged `Báo cáo kết quả` over
`Giá trị | Ghi chú`). A row of column numbers (`(1) (2) (3)`) under the header is skipped.
Data rows follow until a signature block or the next header; blank rows and `Tổng cộng` rows
in between are not data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from core.model import FIELD_LABELS, CellRef, RowRefs, column_letters
from core.text import CELL_TEXTS, fold
from sources.values import Cell, is_empty

# Folded spellings of each field's header; the labels themselves are added below.
_ALIASES: dict[str, tuple[str, ...]] = {
    "unit_code": ("ma don vi bao cao",),
    "unit_name": ("don vi bao cao", "ten don vi bao cao", "co quan bao cao", "don vi gui bao cao"),
    "period": ("ky", "ky bao cao so lieu"),
    "task_code": ("ma nv", "ma so nhiem vu"),
    "task_content": ("nhiem vu", "ten nhiem vu", "noi dung"),
    "element_code": ("ma ct", "ma so chi tieu"),
    "element_name": ("chi tieu", "ten chi tieu bao cao"),
    "measure": ("dvt", "don vi"),
    "value": ("so lieu", "gia tri thuc hien", "ket qua thuc hien"),
    "status": ("tinh trang thuc hien", "trang thai"),
    "results": ("ket qua", "ket qua dat duoc"),
    "difficulties": ("kho khan", "vuong mac", "kho khan vuong mac"),
    "proposals": ("de xuat", "kien nghi", "de xuat kien nghi"),
    "evidence": ("minh chung", "tai lieu minh chung", "van ban minh chung"),
}
_IGNORED = frozenset({"stt", "tt", "so tt", "so thu tu"})
_ANCHORS = frozenset({"element_code", "status", "results"})
# A value table without its code column: elements are then matched by name.
_NAMED_VALUES = frozenset({"element_name", "value"})
PROGRESS_FIELDS = ("status", "results", "difficulties", "proposals", "evidence")
_NON_WORD = re.compile(r"[^\w]+")
_PARENTHESES = re.compile(r"\(.*?\)|\*")
_TOTAL = frozenset({"tong", "tong cong", "cong", "tong so", "cong tong"})
_SIGNATURE_WORDS = frozenset(
    {
        "nguoi lap bieu", "nguoi lap", "nguoi bao cao", "nguoi tong hop", "thu truong don vi",
        "thu truong", "chu tich", "pho chu tich", "kt chu tich", "tm uy ban nhan dan",
        "tm ubnd", "hieu truong", "truong thon", "giam doc", "ke toan", "ky ten",
        "ky ten dong dau", "xac nhan cua thu truong don vi",
    }
)  # fmt: skip
_SIGNATURE = re.compile(r"ghi ro ho ten|^\S.{0,60}\bngay\b.*\bthang\b.*\bnam\b")
_CODE_LIKE = re.compile(r"^\d+(\.\d+)+$")


@lru_cache(maxsize=CELL_TEXTS)
def _key(text: str) -> str:
    return _NON_WORD.sub(" ", fold(text)).strip()


# One string per column: shared by every CellRef of the column, so Submissions pickle small.
_letters = lru_cache(maxsize=16384)(column_letters)


def cell_ref(file: str, sheet: str, row: int, column: str) -> CellRef:
    """`CellRef(file, sheet, row, column)`, made at a third of the cost.

    A file's data rows make some hundred refs, and unpickling them again in the calling
    process costs more than most of reading did: the frozen dataclass's __init__ sets each
    slot through `object.__setattr__`, this sets them through their slot descriptors.
    """
    ref = _new_object(CellRef)
    _set_file(ref, file)
    _set_sheet(ref, sheet)
    _set_row(ref, row)
    _set_column(ref, column)
    return ref


_new_object = object.__new__
_set_file, _set_sheet, _set_row, _set_column = (
    CellRef.__dict__[name].__set__ for name in ("file", "sheet", "row", "column")
)


_HEADERS: dict[str, str] = {}
for _field, _label in FIELD_LABELS.items():
    for _spelling in (_label, *_ALIASES.get(_field, ())):
        _HEADERS[_key(_spelling)] = _field


def match_header(cell: Cell) -> str | None:
    """The field a header cell names, `""` for an ignored column (STT), None for unknown.

    Matching survives NFC/NFD, tone placement, case, spacing, punctuation, missing diacritics,
    a trailing colon and a note in parentheses (`Giá trị (số)`).
    """
    if not isinstance(cell, str):
        return None
    return _match_text(cell)


@lru_cache(maxsize=CELL_TEXTS)
def _match_text(cell: str) -> str | None:
    key = _key(cell)
    if not key:
        return None
    if key in _IGNORED:
        return ""
    if key in _HEADERS:
        return _HEADERS[key]
    short = _key(_PARENTHESES.sub(" ", fold(cell)))
    if short in _IGNORED:
        return ""
    return _HEADERS.get(short)


@dataclass(slots=True)
class Grid:
    """A sheet's cells with where they sit in Excel.

    `rows[i][j]` is the cell at Excel row `top + i + 1`, column index `left + j` (0-based).
    `merged` maps a cell inside a merged range (grid coordinates) to its top-left cell.
    """

    file: str
    sheet: str
    rows: Sequence[Sequence[Cell]]
    top: int = 0
    left: int = 0
    merged: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    fields: dict[int, dict[int, str | None]] = field(default_factory=dict)
    headers: dict[int, bool] = field(default_factory=dict)
    # Cells inside a merged range that hold a value of their own: the merge hides it on screen
    # and reading would put the top-left cell's value in its place.
    hidden: list[tuple[int, int]] = field(default_factory=list)
    # `rows` with merged ranges filled in, built on first use (see `row`).
    _filled: Sequence[Sequence[Cell]] | None = field(default=None, init=False, repr=False)

    def ref(self, i: int, j: int) -> CellRef:
        """The Excel cell of grid position (i, j), or of its merged range's top-left cell."""
        if self.merged:
            i, j = self.merged.get((i, j), (i, j))
        return cell_ref(self.file, self.sheet, self.top + i + 1, _letters(self.left + j))

    def cell(self, i: int, j: int) -> Cell:
        """The value at (i, j); a cell inside a merged range has its top-left cell's value."""
        row = (self._filled or self.filled())[i]
        if j < len(row):
            return row[j]
        if self.merged and (i, j) in self.merged:
            i, j = self.merged[(i, j)]
            row = self.rows[i]
            return row[j] if j < len(row) else None
        return None

    def row(self, i: int) -> Sequence[Cell]:
        """Row i as `cell` sees it: merged ranges filled with their top-left cell's value."""
        return (self._filled or self.filled())[i]

    def filled(self) -> Sequence[Sequence[Cell]]:
        """Every row as `row` gives it; the rows no merge touches are `rows`' own."""
        if self._filled is None:
            if not self.merged:
                self._filled = self.rows
            else:
                rows = list(self.rows)
                copied: set[int] = set()
                for (i, j), (oi, oj) in self.merged.items():
                    if i >= len(rows) or j >= len(rows[i]):
                        continue
                    if i not in copied:
                        rows[i] = list(rows[i])
                        copied.add(i)
                    origin = self.rows[oi]
                    rows[i][j] = origin[oj] if oj < len(origin) else None  # type: ignore[index]
                self._filled = rows
        return self._filled

    def add_merged(self, ranges: list[tuple[tuple[int, int], tuple[int, int]]] | None) -> None:
        """Registers merged ranges given in absolute 0-based (row, column) coordinates."""
        height = len(self.rows)
        width = max((len(r) for r in self.rows), default=0)
        for (r0, c0), (r1, c1) in ranges or ():
            origin = (r0 - self.top, c0 - self.left)
            # Clip to the grid: a merge over a whole column must not cost a million entries.
            self._filled = None
            for i in range(max(origin[0], 0), min(r1 - self.top, height - 1) + 1):
                for j in range(max(origin[1], 0), min(c1 - self.left, width - 1) + 1):
                    if (i, j) != origin:
                        self.merged[(i, j)] = origin
                        row = self.rows[i]
                        if j < len(row) and row[j] is not None and row[j] != "":
                            self.hidden.append((i, j))

    def columns_of(self, columns: Sequence[tuple[str, int]]) -> dict[str, str]:
        """`{name: column letters}` for the (name, j) given: a table's layout, for `row_refs`."""
        return {name: _letters(self.left + j) for name, j in columns}

    def row_refs(
        self, i: int, columns: Sequence[tuple[str, int]], letters: dict[str, str]
    ) -> Mapping[str, CellRef]:
        """A data row's cells by field: `columns` the (name, j) given, `letters` the same
        as `columns_of` gives them (made once a table)."""
        if self.merged and any((i, j) in self.merged for _, j in columns):
            return {name: self.ref(i, j) for name, j in columns}
        return RowRefs(self.file, self.sheet, self.top + i + 1, letters)

    def own_ref(self, i: int, j: int) -> CellRef:
        """The Excel cell of grid position (i, j) itself, merged or not."""
        return cell_ref(self.file, self.sheet, self.top + i + 1, _letters(self.left + j))


@dataclass(slots=True)
class Table:
    """A table found in a grid: which column holds which field, and its data rows."""

    header_rows: list[int]
    columns: dict[str, int]
    data_rows: list[int]
    unknown: list[tuple[int, str]]
    duplicates: list[tuple[int, str]]

    @property
    def gives_values(self) -> bool:
        """Whether the table has a `Mã chỉ tiêu` column, or `Tên chỉ tiêu` and `Giá trị`."""
        return "element_code" in self.columns or self.columns.keys() >= _NAMED_VALUES

    @property
    def gives_progress(self) -> bool:
        """Whether the table has any progress column (`Tình trạng`, `Kết quả đạt được`…)."""
        return any(f in self.columns for f in PROGRESS_FIELDS)


def _row_fields(grid: Grid, i: int) -> dict[int, str | None]:
    found = grid.fields.get(i)
    if found is None:
        found = {}
        for j, c in enumerate(grid.row(i)):
            if c.__class__ is str:
                if c:  # "" is blank: no lookup needed
                    name = _header_text(c)
                    if name is not _BLANK:
                        found[j] = name
            elif isinstance(c, str):
                name = _header_text(c)
                if name is not _BLANK:
                    found[j] = name
            elif c is not None:
                found[j] = None
        grid.fields[i] = found
    return found


_BLANK = "\0blank"


@lru_cache(maxsize=CELL_TEXTS)
def _header_text(text: str) -> str | None:
    """`match_header` of a text cell, or `_BLANK` when the cell counts as empty."""
    return _BLANK if is_empty(text) else _match_text(text)


def _is_header(fields: dict[int, str | None]) -> bool:
    if len(fields) < 2:
        return False
    named = {f for f in fields.values() if f}
    return len(named) >= 2 and (bool(named & _ANCHORS) or named >= _NAMED_VALUES)


def _is_header_row(grid: Grid, i: int) -> bool:
    """`_is_header` of row i, worked out once per row."""
    found = grid.headers.get(i)
    if found is None:
        found = grid.headers[i] = _is_header(_row_fields(grid, i))
    return found


def _is_numbering(grid: Grid, i: int) -> bool:
    cells = [c for c in grid.rows[i] if not is_empty(c)]
    return len(cells) >= 3 and all(
        re.fullmatch(r"\(?\d{1,2}\)?|\(?[A-Za-z]\)?", str(int(c) if isinstance(c, float) else c))
        for c in cells
        if isinstance(c, str | int | float)
    )


def is_signature(grid: Grid, i: int, columns: dict[str, int]) -> bool:
    """Whether row i starts the signature block (`Người lập biểu`, `(Ký, ghi rõ họ tên)`).

    A row holding a number or a code in a code column is data, whatever its text says.
    """
    row = grid.rows[i]
    texts = False
    for c in row:
        if c.__class__ is str:
            texts = True
        elif isinstance(c, int | float):
            return False
        elif isinstance(c, str):
            texts = True
    if not texts:
        return False
    for name in ("task_code", "element_code"):
        j = columns.get(name)
        if j is not None and j < len(row) and _CODE_LIKE.match(str(row[j]).strip()):
            return False
    return any(isinstance(c, str) and _signs(c) for c in row)


@lru_cache(maxsize=CELL_TEXTS)
def _signs(text: str) -> bool:
    if not text.strip():
        return False
    key = _key(text)
    return key in _SIGNATURE_WORDS or bool(_SIGNATURE.search(key))


def is_total(grid: Grid, i: int) -> bool:
    """Whether row i is a `Tổng cộng` / `Cộng` row: its first text names a total."""
    for c in grid.rows[i]:
        if isinstance(c, str) and c.strip():
            return _key(c) in _TOTAL
    return False


def find_tables(grid: Grid) -> Iterator[Table]:
    """Yields every table of the grid, top to bottom."""
    i = 0
    height = len(grid.rows)
    while i < height:
        if not _is_header_row(grid, i):
            i += 1
            continue
        fields = _row_fields(grid, i)
        below = _row_fields(grid, i + 1) if i + 1 < height else {}
        if i + 1 < height and _is_header_row(grid, i + 1):
            # A title-like first header row (vertical merges repeat its names below): use the
            # lower, complete one.
            i += 1
            continue
        header_rows = [i]
        if any(f and not fields.get(j) for j, f in below.items()):
            header_rows.append(i + 1)
        table = _columns(grid, header_rows)
        r = header_rows[-1] + 1
        if r < height and _is_numbering(grid, r):
            r += 1
        columns = list(table.columns.values())
        filled = grid.filled()
        while r < height:
            if is_signature(grid, r, table.columns) or _is_header_row(grid, r):
                break
            if not is_total(grid, r) and _any_filled(grid, filled[r], r, columns):
                table.data_rows.append(r)
            r += 1
        yield table
        i = r


def _any_filled(grid: Grid, row: Sequence[Cell], i: int, columns: list[int]) -> bool:
    """Whether any of the columns holds something in row i (as `Grid.cell` sees it)."""
    width = len(row)
    for j in columns:
        c = row[j] if j < width else grid.cell(i, j)
        if c is not None and (c.__class__ is not str or not is_empty(c)):
            return True
    return False


def _columns(grid: Grid, header_rows: list[int]) -> Table:
    table = Table(header_rows, {}, [], [], [])
    rows = [_row_fields(grid, r) for r in header_rows]
    for j in sorted(set().union(*rows)):
        names = [row.get(j) for row in rows if j in row]
        name = next((n for n in names if n), None)
        if name and name in table.columns:
            table.duplicates.append((j, name))
        elif name:
            table.columns[name] = j
        elif "" not in names:
            # Unnamed in every header row (a parent heading always sits over named columns).
            text = [
                str(grid.cell(r, j)) for r, row in zip(header_rows, rows, strict=True) if j in row
            ]
            table.unknown.append((j, text[-1]))
    return table


def find_labels(grid: Grid, labels: tuple[str, ...]) -> Iterator[tuple[str, Cell, CellRef]]:
    """Yields (field, value, cell) for label/value pairs such as `Mã đơn vị | THON-01`.

    The value is the first non-empty cell right of the label in the same row, or the text after
    a colon in the label cell itself (`Mã đơn vị: THON-01`). Rows that are table headers are
    skipped.
    """
    merged: dict[int, set[int]] = {}
    for i, j in grid.merged:
        merged.setdefault(i, set()).add(j)
    for i, row in enumerate(grid.rows):
        if _is_header_row(grid, i):
            continue
        for j, cell in _label_candidates(grid, i, row, merged.get(i)):
            found = _label_cell(cell, labels)
            if found is None:
                continue
            name, tail = found
            if tail is None:
                for k in range(j + 1, min(len(row), j + 6)):
                    if not is_empty(row[k]):
                        # An empty value followed by the next label is no value at all.
                        if match_header(row[k]) is None:
                            yield name, row[k], grid.ref(i, k)
                        break
            else:
                yield name, tail, grid.ref(i, j)


def _label_candidates(
    grid: Grid, i: int, row: Sequence[Cell], merged: set[int] | None
) -> list[tuple[int, str]]:
    """The text cells of row i that may be labels: those naming a field, or with a colon.

    The row's fields say which cells name a field; a cell a merge covers (`merged`: its
    columns) is not in them as itself, so it is looked at whatever it holds.
    """
    fields = _row_fields(grid, i)
    width = len(row)
    columns = sorted(fields.keys() | merged) if merged else fields
    found = []
    for j in columns:
        cell = row[j] if j < width else None
        if (
            isinstance(cell, str)
            and cell
            and ((merged is not None and j in merged) or fields.get(j) or ":" in cell)
        ):
            found.append((j, cell))
    return found


@lru_cache(maxsize=CELL_TEXTS)
def _label_cell(cell: str, labels: tuple[str, ...]) -> tuple[str, str | None] | None:
    """(field, None) for a label cell, (field, value) for `label: value`, else None."""
    if not cell.strip():
        return None
    name = match_header(cell)
    if name and name in labels:
        return name, None
    if ":" in cell:
        head, _, tail = cell.partition(":")
        name = match_header(head)
        if name and name in labels and tail.strip():
            return name, tail.strip()
    return None
