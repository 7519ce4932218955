"""What reading a submission produces: values and progress rows with their cells, and issues.

Every issue a reader can raise is listed in `READ_ISSUES` with its severity, the Vietnamese
message a unit officer reads and what to do about it. Messages name the sheet and the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

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

# code -> (severity, message template, how to fix). Templates use the keys given to `issue()`;
# `{where}` is filled in as "trang tính 'X', ô E12" when the issue has a cell.
READ_ISSUES: dict[str, tuple[Severity, str, str]] = {
    "R-FILE-FORMAT": (
        "error",
        "Tệp '{file}' không phải dạng báo cáo đọc được (đuôi '{ext}'): ảnh chụp, PDF, tệp Word "
        "cũ (.doc) hay tệp nén .rar/.7z không cho lấy ra số liệu.",
        "Gửi lại báo cáo bằng tệp .xlsx theo mẫu của xã; cũng nhận .xlsm, .xls, .ods, .csv, "
        ".tsv, .txt (Unicode Text của Excel), .docx có bảng số liệu, hoặc tệp .zip chứa các "
        "tệp đó.",
    ),
    "R-FILE-PASSWORD": (
        "error",
        "Tệp '{file}' được đặt mật khẩu nên không mở được.",
        "Mở tệp, gỡ mật khẩu (Excel: Tệp > Thông tin > Bảo vệ sổ làm việc > Mã hoá bằng mật "
        "khẩu, xoá mật khẩu; tệp nén: nén lại không đặt mật khẩu), lưu rồi gửi lại; không gửi "
        "mật khẩu qua thư.",
    ),
    "R-FILE-ARCHIVE-NESTED": (
        "error",
        "Tệp '{file}' là tệp nén nằm trong một tệp nén khác; chỉ đọc một lớp nén.",
        "Giải nén tệp bên trong, hoặc gửi thẳng các tệp báo cáo (hoặc một tệp .zip chứa chúng).",
    ),
    "R-FILE-ARCHIVE-EMPTY": (
        "error",
        "Tệp nén '{file}' không chứa tệp báo cáo nào.",
        "Kiểm tra lại tệp nén: cho các tệp báo cáo (.xlsx, .xls, .ods, .csv, .docx…) vào rồi "
        "gửi lại.",
    ),
    "R-FILE-ARCHIVE-TOO-MANY": (
        "error",
        "Tệp nén '{file}' chứa quá nhiều tệp ({count} tệp, tối đa {limit}).",
        "Chia thành nhiều tệp nén nhỏ hơn, mỗi tệp tối đa {limit} tệp báo cáo.",
    ),
    "R-FILE-CORRUPT": (
        "error",
        "Không mở được tệp '{file}': tệp bị hỏng hoặc không phải bảng tính ({detail}).",
        "Mở tệp bằng Excel để kiểm tra, lưu lại thành .xlsx rồi gửi lại.",
    ),
    "R-FILE-TOO-BIG": (
        "error",
        "Tệp '{file}' quá lớn ({size} byte, tối đa {limit} byte).",
        "Chỉ gửi bảng báo cáo theo mẫu, bỏ ảnh và các trang tính không cần thiết.",
    ),
    "R-FILE-UNPACKED-TOO-BIG": (
        "error",
        "Tệp '{file}' khi giải nén phình ra quá lớn ({detail}); tệp bị từ chối để bảo vệ hệ thống.",
        "Lưu lại báo cáo từ mẫu của xã thành tệp .xlsx mới rồi gửi lại.",
    ),
    "R-FILE-TOO-MANY-CELLS": (
        "error",
        "Trang tính '{sheet}' của tệp '{file}' khai báo quá nhiều ô ({cells} ô, tối đa {limit}).",
        "Xoá các hàng, cột thừa ở cuối trang tính (hoặc chép bảng sang tệp mẫu mới) rồi gửi lại.",
    ),
    "R-FILE-UNSAFE": (
        "error",
        "Tệp '{file}' có cấu trúc không an toàn ({detail}); tệp bị từ chối.",
        "Mở tệp bằng Excel, lưu thành tệp .xlsx mới rồi gửi lại.",
    ),
    "R-FILE-TIMEOUT": (
        "error",
        "Đọc tệp '{file}' quá {seconds} giây nên đã dừng.",
        "Xoá các trang tính, hàng, cột thừa; lưu lại thành .xlsx theo mẫu rồi gửi lại.",
    ),
    "R-FILE-CRASH": (
        "error",
        "Đọc tệp '{file}' làm hỏng chương trình đọc (thường do tệp khai báo quá nhiều ô hoặc "
        "dùng quá nhiều bộ nhớ).",
        "Chép bảng số liệu sang tệp mẫu mới của xã rồi gửi lại.",
    ),
    "R-FILE-ENCODING": (
        "error",
        "Không đọc được bảng mã chữ của tệp văn bản '{file}'.",
        "Lưu tệp CSV với bảng mã UTF-8 (CSV UTF-8) hoặc gửi tệp .xlsx.",
    ),
    "R-FILE-ENCODING-LEGACY": (
        "error",
        "Tệp văn bản '{file}' dùng bảng mã {name} cũ, không chuyển sang Unicode chắc chắn được.",
        "Chuyển mã tệp sang Unicode (ví dụ công cụ chuyển mã của Unikey, từ {name} sang "
        "Unicode) hoặc mở bằng Excel và lưu thành .xlsx, rồi gửi lại.",
    ),
    "R-FILE-REFUSED": (
        "error",
        "Tệp '{file}' {detail} nên không được đọc.",
        "Gửi lại báo cáo bằng một tệp bảng tính thật (không phải lối tắt hay liên kết) "
        "đặt ngay trong thư mục nhận báo cáo.",
    ),
    "R-TABLE-NOT-FOUND": (
        "error",
        "Không tìm thấy bảng số liệu nào trong tệp '{file}' (cần dòng tiêu đề có cột "
        "'Mã chỉ tiêu' hoặc 'Tình trạng').",
        "Dùng mẫu của xã và giữ nguyên dòng tiêu đề của bảng.",
    ),
    "R-COLUMN-UNKNOWN": (
        "warning",
        "{where}: cột '{header}' không thuộc mẫu nên được bỏ qua.",
        "Nếu đây là số liệu cần báo cáo, hãy ghi vào cột đúng của mẫu.",
    ),
    "R-COLUMN-DUPLICATE": (
        "warning",
        "{where}: cột '{header}' xuất hiện hai lần; chỉ đọc cột đầu tiên ({first}).",
        "Xoá cột trùng.",
    ),
    "R-COLUMN-MISSING": (
        "error",
        "{where}: bảng thiếu cột '{header}'.",
        "Thêm lại cột '{header}' theo mẫu của xã.",
    ),
    "R-UNIT-MISSING": (
        "error",
        "Không xác định được mã đơn vị của tệp '{file}'.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' (hoặc đặt tên tệp <MÃ ĐƠN VỊ>_<KỲ>.xlsx).",
    ),
    "R-UNIT-CONFLICT": (
        "error",
        "Mã đơn vị không thống nhất: {first} ghi '{a}', còn {second} ghi '{b}'.",
        "Sửa cho cùng một mã đơn vị (đúng đơn vị gửi báo cáo) rồi gửi lại.",
    ),
    "R-UNIT-TEMPLATE": (
        "error",
        "{where}: mã đơn vị ghi '{typed}', nhưng tệp này là mẫu xã lập cho đơn vị {template}.",
        "Ghi lại '{template}' vào ô này; nếu báo cáo cho đơn vị {typed}, dùng mẫu của đơn vị đó.",
    ),
    "R-PERIOD-MISSING": (
        "error",
        "Không xác định được kỳ báo cáo của tệp '{file}'.",
        "Ghi kỳ báo cáo vào ô bên cạnh 'Kỳ báo cáo', ví dụ 2026Q3 hoặc 'Quý III/2026'.",
    ),
    "R-PERIOD-INVALID": (
        "error",
        "{where}: không hiểu kỳ báo cáo '{value}'.",
        "Ghi kỳ báo cáo dạng 2026Q3, 'Quý III/2026', 'Quý 3 năm 2026', 2026S1, 202607 hoặc 2026.",
    ),
    "R-PERIOD-CONFLICT": (
        "error",
        "Kỳ báo cáo không thống nhất: {first} ghi '{a}', còn {second} ghi '{b}'.",
        "Sửa cho cùng một kỳ báo cáo rồi gửi lại.",
    ),
    "R-PERIOD-TEMPLATE": (
        "error",
        "{where}: kỳ báo cáo ghi '{typed}', nhưng tệp này là mẫu xã lập cho kỳ {template}.",
        "Ghi lại '{template}' vào ô này; nếu báo cáo cho kỳ {typed}, dùng mẫu kỳ {typed} của xã.",
    ),
    "R-UNIT-NAME-UNKNOWN": (
        "error",
        "{where}: tên đơn vị '{value}' ({source}) không có trong danh sách đơn vị của xã; các "
        "đơn vị có tên gần giống: {candidates}.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' (ví dụ THON-01), hoặc ghi đúng tên đơn vị như "
        "trong danh sách của xã.",
    ),
    "R-UNIT-NAME-AMBIGUOUS": (
        "error",
        "{where}: tên đơn vị '{value}' ({source}) ứng với nhiều đơn vị: {candidates}.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' để chỉ rõ là đơn vị nào.",
    ),
    "R-PERIOD-RANGE": (
        "error",
        "{where}: khoảng thời gian '{value}' không trùng với kỳ báo cáo nào; các kỳ gần nhất: "
        "{close}.",
        "Ghi kỳ báo cáo dạng 2026Q3 hoặc 'Quý III/2026', hoặc sửa ngày cho khớp trọn một kỳ.",
    ),
    "R-ELEMENT-NAME-UNKNOWN": (
        "error",
        "{where}: dòng không có mã chỉ tiêu, và tên chỉ tiêu '{value}' không có trong danh mục; "
        "các chỉ tiêu có tên gần giống: {candidates}.",
        "Ghi mã chỉ tiêu của dòng (ví dụ 1.1.1), hoặc chép đúng tên chỉ tiêu từ tệp mẫu.",
    ),
    "R-ELEMENT-NAME-AMBIGUOUS": (
        "error",
        "{where}: dòng không có mã chỉ tiêu, và tên chỉ tiêu '{value}' ứng với nhiều chỉ tiêu: "
        "{candidates}.",
        "Ghi mã chỉ tiêu của dòng để chỉ rõ là chỉ tiêu nào.",
    ),
    "R-VALUE-READ-PAST-UNIT": (
        "warning",
        "{where}: ô giá trị ghi '{value}' (có cả đơn vị tính); đã đọc là {read}.",
        "Lần sau chỉ ghi con số ({read}) vào ô 'Giá trị'; đơn vị tính đã có ở cột 'Đơn vị tính'.",
    ),
    "R-MERGE-HIDES-VALUE": (
        "error",
        "{where}: ô này nằm trong vùng ô gộp bắt đầu từ ô {first} nên giá trị '{value}' của nó bị "
        "che, không đọc được.",
        "Bỏ gộp vùng ô đó (Merge & Center → Unmerge Cells) để mỗi giá trị nằm trong ô riêng, "
        "rồi gửi lại.",
    ),
    "R-VALUE-NOT-NUMBER": (
        "error",
        "{where}: giá trị '{value}' không phải là số.",
        "Chỉ ghi con số (ví dụ 12 hoặc 1.234,5); để trống nếu chưa có số liệu; "
        "ghi giải thích vào cột 'Ghi chú'.",
    ),
    "R-VALUE-DATE": (
        "error",
        "{where}: ô giá trị đang ở dạng ngày tháng ({value}).",
        "Định dạng ô là Number (Số) rồi gõ lại con số.",
    ),
    "R-FORMULA-NO-VALUE": (
        "error",
        "{where}: ô có công thức nhưng không có kết quả đã tính.",
        "Mở tệp bằng Excel, để Excel tính lại công thức (hoặc gõ thẳng con số), lưu rồi gửi lại.",
    ),
    "R-CELL-ERROR": (
        "error",
        "{where}: ô báo lỗi công thức '{value}'.",
        "Sửa công thức hoặc gõ thẳng con số rồi gửi lại.",
    ),
    "R-CODE-DATE": (
        "error",
        "{where}: mã '{label}' đã bị Excel đổi thành ngày tháng ({value}).",
        "Định dạng ô là Text (Văn bản) rồi gõ lại mã, ví dụ 1.2 (hoặc gõ '1.2).",
    ),
    "R-CODE-NUMBER": (
        "error",
        "{where}: mã '{label}' đã bị Excel đổi thành số ({value}), không khôi phục được.",
        "Định dạng ô là Text (Văn bản) rồi gõ lại mã đúng như mẫu, ví dụ 1.10 hoặc 1.1.1.",
    ),
    "R-CODE-MISSING": (
        "error",
        "{where}: dòng có giá trị nhưng không có mã chỉ tiêu.",
        "Ghi mã chỉ tiêu của dòng theo mẫu (ví dụ 1.1.1).",
    ),
    "R-VALUE-INEXACT": (
        "error",
        "{where}: không đọc được chính xác giá trị của ô ({detail}).",
        "Mở tệp bằng Excel, gõ lại con số vào ô (định dạng Number), lưu thành .xlsx rồi gửi lại.",
    ),
    "R-VALUE-TOO-BIG": (
        "error",
        "{where}: giá trị '{value}' lớn bất thường (quá {limit} về độ lớn), không thể là số liệu "
        "báo cáo của xã.",
        "Kiểm tra và gõ lại đúng con số; để trống nếu chưa có số liệu.",
    ),
    "R-VALIDATE-FAILED": (
        "error",
        "Không kiểm tra được tệp '{file}' ({detail}).",
        "Chép bảng số liệu sang tệp mẫu mới của xã, lưu thành .xlsx rồi gửi lại.",
    ),
    "R-FEEDBACK-FAILED": (
        "warning",
        "Không lập được tệp phản hồi cho tệp '{file}' ({detail}).",
        "Xem danh sách lỗi của tệp trong báo cáo tổng hợp của xã, hoặc liên hệ cán bộ tổng hợp.",
    ),
    "R-LOAD-FAILED": (
        "error",
        "Không lưu được tệp '{file}' vào kho dữ liệu ({detail}).",
        "Lưu báo cáo thành tệp .xlsx mới theo mẫu của xã, đặt tên ngắn rồi gửi lại.",
    ),
}

# Issues that mean the file itself could not be read; everything else concerns its content.
UNREADABLE_CODES = frozenset(code for code in READ_ISSUES if code.startswith("R-FILE-"))


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


@dataclass(slots=True)
class ReadIssue:
    """A problem found while reading, in Vietnamese for the unit officer."""

    code: str
    message: str
    ref: CellRef | None
    severity: Severity

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (ReadIssue, (self.code, self.message, self.ref, self.severity))


def issue(code: str, ref: CellRef | None = None, **params: object) -> ReadIssue:
    """Builds the issue `code` from its `READ_ISSUES` template.

    Args:
        code: a key of `READ_ISSUES`.
        ref: the cell concerned, if any; it fills `{where}` in the template.
        **params: the template's other placeholders.

    Returns:
        The issue with its full Vietnamese message (what is wrong, then what to do).
    """
    severity, template, fix = READ_ISSUES[code]
    where = f"Trang tính '{ref.sheet}', ô {ref.address}" if ref else "Tệp"
    text = template.format(where=where, **params)
    return ReadIssue(
        code=code, message=f"{text} {fix.format(**params)}", ref=ref, severity=severity
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
    refs: dict[str, CellRef] = field(default_factory=dict)

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
    refs: dict[str, CellRef] = field(default_factory=dict)

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
