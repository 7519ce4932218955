"""The period report as a workbook for the district and the province."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from sources.feedback import put

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP = Alignment(wrap_text=True, vertical="top")

Section = tuple[str, Sequence[str], Sequence[Sequence[Any]]]


def write_period_report(path: Path, title: str, sections: Sequence[Section]) -> Path:
    """One sheet per section: the title, the headings, then the rows.

    Every text is written as text, so nothing a unit typed can become a formula.
    """
    book = Workbook()
    book.remove(book.worksheets[0])
    for name, headings, rows in sections:
        sheet = book.create_sheet(name[:31])
        put(sheet.cell(1, 1), title)
        sheet.cell(1, 1).font = Font(bold=True, size=13)
        put(sheet.cell(2, 1), name)
        sheet.cell(2, 1).font = _BOLD
        for col, heading in enumerate(headings, start=1):
            cell = sheet.cell(4, col)
            put(cell, heading)
            cell.font, cell.fill, cell.alignment = _BOLD, _HEADER_FILL, _WRAP
        for r, row in enumerate(rows, start=5):
            for col, value in enumerate(row, start=1):
                put(sheet.cell(r, col), _plain(value))
                sheet.cell(r, col).alignment = _WRAP
        for col in range(1, len(headings) + 1):
            sheet.column_dimensions[sheet.cell(4, col).column_letter].width = 18
        sheet.freeze_panes = "A5"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _plain(value: Any) -> Any:
    # Excel keeps no time zone; the report shows Vietnam's wall-clock time.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(VIETNAM).replace(tzinfo=None)
    if isinstance(value, bool):
        return "có" if value else "không"
    return value
