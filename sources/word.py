"""Word reports (.docx): the body's tables as grids, and the text around them as one more grid.

Each top-level table of the document body becomes a grid named `Bảng N` (N counts the body's
tables from 1), cell (row r, column c) at Excel-style address `<letter of c><r>`, so a finding
reads "Trang tính 'Bảng 2', ô E4" and the unit finds row 4, fifth column of the second table.
A cell spanning columns or rows (gridSpan, vMerge) is one merged range, as in a workbook.

The paragraphs before the last table form a grid named `Văn bản`, one paragraph per row in
column A, where the unit and period are looked for like label cells (`Mã đơn vị: THON-01`,
`Kỳ báo cáo: Quý III/2026`, a title line). Nested tables, headers, footers and text boxes are
not read. Cell text is kept as text; numbers are read from it as from any typed cell.
"""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.opc.exceptions import OpcError
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph
from lxml import etree

from sources.tables import Grid

TEXT_SHEET = "Văn bản"


def table_sheet(number: int) -> str:
    """The name a .docx table's grid goes by: `Bảng 1`, `Bảng 2`…"""
    return f"Bảng {number}"


class NotADocument(Exception):
    """The bytes are not a Word document python-docx can open."""


class TooManyCells(Exception):
    """The document's tables hold more cells than the reading limit allows."""

    def __init__(self, sheet: str, cells: int) -> None:
        super().__init__(sheet, cells)
        self.sheet = sheet
        self.cells = cells


def grids(data: bytes, file: str, max_cells: int) -> list[Grid]:
    """The text grid, then one grid per body table, in document order.

    Args:
        data: the .docx bytes (already through `sources.guard.check_structure`).
        file: what every `CellRef` names as the file.
        max_cells: the reading limit on cells, over all tables.

    Raises:
        TooManyCells: the tables hold more than `max_cells` cells.
        NotADocument: python-docx could not open the package.
    """
    try:
        document = Document(io.BytesIO(data))
    except (ValueError, LookupError, AttributeError, etree.LxmlError, OpcError) as exc:
        raise NotADocument(str(exc)) from exc
    paragraphs: list[str] = []
    before_last: list[str] = []
    tables: list[Grid] = []
    cells = 0
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if text:
                paragraphs.append(text)
        elif isinstance(block, DocxTable):
            before_last = paragraphs[:]
            grid = _table_grid(block, file, table_sheet(len(tables) + 1))
            cells += sum(len(row) for row in grid.rows)
            if cells > max_cells:
                raise TooManyCells(grid.sheet, cells)
            tables.append(grid)
    text_rows: list[list[Any]] = [[p] for p in before_last]
    return [Grid(file, TEXT_SHEET, text_rows), *tables]


def _table_grid(table: DocxTable, file: str, sheet: str) -> Grid:
    rows: list[list[Any]] = []
    # A merged cell is the same <w:tc> in every grid position it covers; the element objects
    # are kept referenced here, so lxml hands back the same proxy for the same element.
    origin: dict[Any, tuple[int, int]] = {}
    merged: dict[tuple[int, int], tuple[int, int]] = {}
    for i, row in enumerate(table.rows):
        # A row may start later than the table's first column.
        values: list[Any] = [None] * row.grid_cols_before
        for j, cell in enumerate(row.cells, start=len(values)):
            tc = cell._tc
            first = origin.get(tc)
            if first is None:
                origin[tc] = (i, j)
                text = cell.text.strip()
                values.append(text or None)
            else:
                merged[(i, j)] = first
                values.append(None)
        rows.append(values)
    return Grid(file, sheet, rows, merged=merged)
