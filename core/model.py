"""What reading a submission produces: values and progress rows with their cells, and issues.

Every issue, from reading or validation, is built by `issue()` from the one code registry of
`core.codes`: its severity, what is wrong and what to do about it, in Vietnamese, naming the
sheet and the cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from core.codes import READ_ISSUES, UNREADABLE_CODES, Severity, spec

__all__ = [
    "FIELD_LABELS",
    "READ_ISSUES",
    "UNREADABLE_CODES",
    "CellRef",
    "ProgressRow",
    "ReadIssue",
    "RowRefs",
    "Severity",
    "Submission",
    "ValueRow",
    "column_letters",
    "issue",
    "where",
]

# Vietnamese header label of every field, as units see it; also the keys of `refs`.
FIELD_LABELS: dict[str, str] = {
    "unit_code": "Mã đơn vị",
    "unit_name": "Tên đơn vị",
    "period": "Kỳ báo cáo",
    "task_code": "Mã nhiệm vụ",
    "task_content": "Nội dung nhiệm vụ",
    "element_code": "Mã chỉ tiêu",
    "element_name": "Tên chỉ tiêu",
    "measure": "Đơn vị tính",
    "value": "Giá trị",
    "note": "Ghi chú",
    "status": "Tình trạng",
    "results": "Kết quả đạt được",
    "difficulties": "Khó khăn, vướng mắc",
    "proposals": "Đề xuất, kiến nghị",
    "evidence": "Minh chứng",
}


def column_letters(index: int) -> str:
    """Excel column letters of a 0-based column index: 0 -> "A", 27 -> "AB"."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True, slots=True)
class CellRef:
    """Where a value sits, as the unit sees it in Excel."""

    file: str
    sheet: str
    row: int
    column: str

    @property
    def address(self) -> str:
        """The Excel address, e.g. "E12"."""
        return f"{self.column}{self.row}"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # Submissions cross process boundaries by the thousand; the generic dataclass pickling
        # of slotted classes costs more than reading the file.
        return (CellRef, (self.file, self.sheet, self.row, self.column))


class RowRefs(Mapping[str, CellRef]):
    """The cells of one table row, by field, made when asked from the row and its table's
    columns (`{field: column letters}`, one dict shared by every row of the table, never
    changed).

    A part's tens of thousands of rows cross from the reading processes: as one small object
    a row instead of a dict of refs, they take a fraction of the time to send and take back.
    """

    __slots__ = ("columns", "file", "row", "sheet")

    def __init__(self, file: str, sheet: str, row: int, columns: dict[str, str]) -> None:
        self.file, self.sheet, self.row, self.columns = file, sheet, row, columns

    def __getitem__(self, name: str) -> CellRef:
        return CellRef(self.file, self.sheet, self.row, self.columns[name])

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return repr(dict(self))

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (RowRefs, (self.file, self.sheet, self.row, self.columns))


@dataclass(slots=True)
class ReadIssue:
    """A problem found in a submission, in Vietnamese for the unit officer.

    `problem` says what is wrong and where, `fix` what to do; the feedback sheet shows them in
    two columns, and everything else reads `message`, the two joined.
    """

    code: str
    problem: str
    fix: str
    ref: CellRef | None
    severity: Severity

    @property
    def message(self) -> str:
        """What is wrong, then what to do."""
        return f"{self.problem} {self.fix}" if self.fix else self.problem

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (ReadIssue, (self.code, self.problem, self.fix, self.ref, self.severity))


def where(ref: CellRef | None) -> str:
    """How a message names a cell: "Trang tính 'Chỉ tiêu', ô E12", or "Tệp" without one."""
    return f"Trang tính '{ref.sheet}', ô {ref.address}" if ref else "Tệp"


def issue(code: str, ref: CellRef | None = None, **params: object) -> ReadIssue:
    """Builds the issue `code`, from reading or validation, from its template in `core.codes`.

    Args:
        code: a code of the registry, or `V-RULE-<rule code>`.
        ref: the cell concerned, if any; it fills `{where}` in the template.
        **params: the template's other placeholders; unused ones are ignored.

    Returns:
        The issue with what is wrong (`problem`) and what to do (`fix`), in Vietnamese.
    """
    severity, template, fix = spec(code)
    return ReadIssue(
        code=code,
        problem=template.format(where=where(ref), **params),
        fix=fix.format(**params),
        ref=ref,
        severity=severity,
    )


@dataclass(slots=True)
class ValueRow:
    """One data-element row; `value` None means missing (an empty cell is never zero)."""

    task_code: str | None
    element_code: str | None
    value: int | float | None
    raw: object
    note: str | None
    ref: CellRef
    refs: Mapping[str, CellRef] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (
            ValueRow,
            (
                self.task_code,
                self.element_code,
                self.value,
                self.raw,
                self.note,
                self.ref,
                self.refs,
            ),
        )


@dataclass(slots=True)
class ProgressRow:
    """One task-progress row."""

    task_code: str | None
    status: str | None
    results: str | None
    difficulties: str | None
    proposals: str | None
    evidence: str | None
    ref: CellRef
    refs: Mapping[str, CellRef] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (
            ProgressRow,
            (
                self.task_code,
                self.status,
                self.results,
                self.difficulties,
                self.proposals,
                self.evidence,
                self.ref,
                self.refs,
            ),
        )


@dataclass(slots=True)
class Submission:
    """One file as read: who sent it for which period, its rows, and what was wrong."""

    url: str
    name: str
    size: int
    sha256: str
    unit_code: str | None = None
    period: str | None = None
    template_version: str | None = None
    values: list[ValueRow] = field(default_factory=list)
    progress: list[ProgressRow] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)

    @property
    def unreadable(self) -> bool:
        """True when reading itself failed (limits, corrupt or unsafe file)."""
        return any(i.code in UNREADABLE_CODES for i in self.issues)
