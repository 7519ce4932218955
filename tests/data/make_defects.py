"""Writes the broken submissions of tests/data, each named after its defect.

Run `.venv/bin/python tests/data/make_defects.py`; the output is deterministic (fixed zip
timestamps), so re-running it leaves git clean. tests/test_defects.py says what each file
must give.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from filemakers import (  # noqa: E402
    ELEMENTS,
    PROGRESS_HEADER,
    VALUE_HEADER,
    csv_rows,
    head,
    ods_bytes,
    patch_zip,
    template,
    to_cp1258_form,
    value_rows,
    xls_bytes,
    xlsm_bytes,
    xlsx_bytes,
)
from formatmakers import (  # noqa: E402
    docx_bytes,
    encrypted,
    text_export,
    word_report,
    word_value_rows,
    zip_bytes,
)

STAMP = (2026, 1, 1, 0, 0, 0)
SIGNATURE = [
    [],
    [None, None, None, None, "Nghĩa Hưng, ngày 10 tháng 10 năm 2026"],
    ["Người lập biểu", None, None, None, "Thủ trưởng đơn vị"],
    ["(Ký, ghi rõ họ tên)", None, None, None, "(Ký, ghi rõ họ tên, đóng dấu)"],
    [],
    ["Nguyễn Văn An", None, None, None, "Trần Thị Bình"],
]


def deterministic(data: bytes) -> bytes:
    """The same zip with fixed timestamps, so every run writes identical bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, STAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", content
                )
            target.writestr(fixed, content)
    return out.getvalue()


def sheet_xml(data: bytes, change: Callable[[bytes], bytes], part: str = "") -> bytes:
    """The workbook with one sheet's XML rewritten (the first sheet by default)."""
    return patch_zip(data, {part or "xl/worksheets/sheet1.xml": change})


def values_book(rows: list[list[object]], **kwargs: object) -> bytes:
    """A one-sheet `Chỉ tiêu` workbook with the template's head and the given table rows."""
    return xlsx_bytes({"Chỉ tiêu": [*head(), *rows]}, **kwargs)  # type: ignore[arg-type]


def zip_bomb() -> bytes:
    """About 1 MB that inflates to 1.1 GB of sheet XML: written in streaming, never in memory."""
    base = zipfile.ZipFile(io.BytesIO(xlsx_bytes(template())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in base.infolist():
            fixed = zipfile.ZipInfo(info.filename, STAMP)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            if info.filename == "xl/worksheets/sheet2.xml":
                with target.open(fixed, "w", force_zip64=True) as part:
                    part.write(b'<?xml version="1.0"?><worksheet><sheetData>')
                    block = b" " * (1 << 20)
                    for _ in range(1100):
                        part.write(block)
                    part.write(b"</sheetData></worksheet>")
            else:
                target.writestr(fixed, base.read(info.filename))
    return out.getvalue()


def xml_bomb(data: bytes) -> bytes:
    """Billion laughs in sharedStrings.xml."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    shared = (
        f'<?xml version="1.0"?><!DOCTYPE sst [{entities}]>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        'uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    ).encode()
    return patch_zip(data, {"xl/sharedStrings.xml": shared})


def defects() -> dict[str, bytes]:
    """File name -> bytes of every defect file."""
    good = xlsx_bytes(template())
    files: dict[str, bytes] = {}

    # Header on two rows: `Báo cáo kết quả` merged over `Giá trị | Ghi chú`, the other header
    # cells merged vertically over both rows.
    top = ["Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Báo cáo kết quả", None]
    bottom = [None, None, None, None, "Giá trị", "Ghi chú"]
    files["header_two_rows_merged.xlsx"] = values_book(
        [top, bottom, *value_rows()],
        merges={"Chỉ tiêu": ["A8:A9", "B8:B9", "C8:C9", "D8:D9", "E8:F8"]},
    )
    # The same without vertical merges: the lower row only names the value columns.
    files["header_two_rows_unmerged.xlsx"] = values_book(
        [top, bottom, *value_rows()], merges={"Chỉ tiêu": ["E8:F8"]}
    )
    files["header_with_column_numbers.xlsx"] = values_book(
        [VALUE_HEADER, ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)"], *value_rows()]
    )

    rows = value_rows()
    rows[1][0] = dt.date(2026, 2, 1)  # `1.2` typed into a date-formatted cell
    rows[2][1] = dt.date(2001, 1, 3)  # `3.1.1` read as 3 January 2001
    files["code_as_date.xlsx"] = values_book([VALUE_HEADER, *rows])

    rows = value_rows()
    rows[0][0] = 1.1  # recoverable: a task code has the shape n.n
    rows[2][0] = 3.1
    rows[1][1] = 1.1  # not recoverable: an element code has the shape n.n.n
    files["code_as_float.xlsx"] = values_book([VALUE_HEADER, *rows])

    rows = value_rows()
    rows[1][0] = None
    files["code_merged_over_rows.xlsx"] = values_book(
        [VALUE_HEADER, *rows], merges={"Chỉ tiêu": ["A9:A10"]}
    )

    total = [None, "Tổng cộng", None, None, 1357.5, None]
    files["total_row_and_signature.xlsx"] = values_book(
        [VALUE_HEADER, *value_rows(), total, *SIGNATURE]
    )

    order = [4, 1, None, 5, 0, 2, 3]  # Giá trị, Mã chỉ tiêu, (unknown), Ghi chú, Mã nhiệm vụ...
    header = [VALUE_HEADER[k] if k is not None else "Người phụ trách" for k in order]
    header[6] = "ĐVT"
    body = [[row[k] if k is not None else "Chị Hoa" for k in order] for row in value_rows()]
    files["columns_reordered_unknown_column.xlsx"] = values_book([header, *body])

    plain = ["Ma nhiem vu", "MA CHI TIEU", "ten chi tieu", "Don Vi Tinh", "Gia  tri", "Ghi chu:"]
    labels = [["Ma don vi", "THON-01"], ["Ky bao cao", "quy 3/2026"], []]
    files["no_diacritics_headers.xlsx"] = xlsx_bytes({"Chi tieu": [*labels, plain, *value_rows()]})

    nfd = [unicodedata.normalize("NFD", h.upper()) for h in VALUE_HEADER]
    nfd_progress = [unicodedata.normalize("NFD", h) for h in PROGRESS_HEADER]
    nfd_progress[4] = "Khó khăn,vướng mắc"  # no space after the comma
    nfd_head = [[unicodedata.normalize("NFD", str(c)) for c in row] for row in head()]
    files["nfd_headers.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [*nfd_head, nfd, *value_rows()],
            "Tiến độ": [*nfd_head, nfd_progress, ["1.1", "Quán triệt", "Hoàn thành"]],
        }
    )

    texts: list[object] = [
        "1.234.567",  # 1.1.1 cuộc: Vietnamese thousands
        "12,5",  # 1.1.2: decimal comma
        "1.234,5",  # 3.1.1 triệu đồng
        "1.234 triệu đồng",  # 3.1.2 triệu đồng, unit matches
        "5 cuộc",  # 1.4.2 cuộc
        "\u00a01 234\u00a0",  # 2.2.1: spaces as separators
        "1.234",  # 2.2.2: ambiguous, read as thousands
        "không có",  # 4.1.1: not a number
        "khoảng 5",  # 4.2.2: not a number
        "5 người",  # 5.2.1 lớp: a unit that is not the row's
    ]
    extra = [
        ("3.1", "3.1.2", "Tổng chi ngân sách xã", "triệu đồng"),
        ("1.4", "1.4.2", "Số hội nghị, hội thảo, sự kiện", "cuộc"),
        ("2.2", "2.2.1", "Kinh phí huy động từ ngân sách nhà nước", "triệu đồng"),
        ("2.2", "2.2.2", "Kinh phí huy động từ doanh nghiệp", "triệu đồng"),
        ("4.1", "4.1.1", "Số báo cáo, đề xuất đầu tư hạ tầng số", "văn bản"),
        ("4.2", "4.2.2", "Số trang thiết bị CNTT được đầu tư, nâng cấp", "thiết bị"),
        ("5.2", "5.2.1", "Số lớp đào tạo, bồi dưỡng", "lớp"),
    ]
    rows = [[*e, t, None] for e, t in zip([*ELEMENTS, *extra], texts, strict=True)]
    files["vietnamese_number_text.xlsx"] = values_book([VALUE_HEADER, *rows])

    files["empty_value_not_zero.xlsx"] = values_book([VALUE_HEADER, *value_rows([None, 0, "  "])])

    rows = value_rows()
    rows[2][4] = "=E9+E10"  # openpyxl stores formulas without a cached result
    files["formula_without_cached_value.xlsx"] = values_book([VALUE_HEADER, *rows])

    files["error_value_cell.xlsx"] = sheet_xml(
        values_book([VALUE_HEADER, *value_rows()]),
        lambda xml: xml.replace(
            b'<c r="E10" t="n"><v>120</v></c>', b'<c r="E10" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        ),
    )

    # Named <UNIT>_<PERIOD> after THON-02 while its cells say THON-01.
    files["unit_conflict_filename_vs_cell/THON-02_2026Q3.xlsx"] = good
    files["period_roman_quarter.xlsx"] = xlsx_bytes(template(period="Quý III/2026"))
    files["period_invalid.xlsx"] = xlsx_bytes(
        {"Chỉ tiêu": [*head(period="Quý 5/2026"), VALUE_HEADER, *value_rows()]}
    )

    files["csv_windows1258_semicolon.csv"] = _csv(csv_rows(), "cp1258", ";")
    files["csv_utf16_tab.csv"] = _csv(csv_rows(), "utf-16", "\t")
    files["csv_utf8_bom.csv"] = _csv(csv_rows(), "utf-8-sig", ",")

    files["macro_enabled.xlsm"] = xlsm_bytes(good)
    sheets = template()
    rows = value_rows()
    rows[0][0] = dt.date(2026, 1, 1)
    sheets["Chỉ tiêu"] = [*head(), VALUE_HEADER, *rows]
    files["legacy_format.xls"] = xls_bytes(sheets)
    files["opendocument.ods"] = ods_bytes(template())

    grid: list[list[object]] = [[] for _ in range(4)]
    grid[1] = [None, None, "Mã đơn vị", "THON-01"]
    grid[2] = [None, None, "Kỳ báo cáo", "2026Q3"]
    grid += [[None, None, *row] for row in [VALUE_HEADER, *value_rows()]]
    files["table_starts_at_c5.xlsx"] = xlsx_bytes({"Chỉ tiêu": grid})

    rows = value_rows()
    files["blank_rows_inside_table.xlsx"] = values_book(
        [VALUE_HEADER, rows[0], [], [None] * 6, rows[1], [], rows[2]]
    )
    files["no_table.xlsx"] = xlsx_bytes({"Sheet1": [["Báo cáo"], ["Không có số liệu"]]})

    files["not_a_spreadsheet.xlsx"] = "Đây là thư, không phải bảng tính.\n".encode()
    files["html_saved_as_xls.xls"] = b"<html><body><table><tr><td>1</td></tr></table></body></html>"
    files["unsupported_format.pdf"] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    files["truncated_zip.xlsx"] = deterministic(good)[: len(good) // 2]
    files["absurd_dimension.xlsx"] = sheet_xml(
        good,
        lambda xml: re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml),
        "xl/worksheets/sheet2.xml",
    )
    files["xml_bomb.xlsx"] = xml_bomb(good)
    files["path_trick_dotdot_entry.xlsx"] = patch_zip(good, {"../../evil.txt": b"pwned"})
    # The dimension is honest about nothing: one cell at XFD1048576 makes a dense 17-billion
    # cell range. Only a worker process with a memory limit survives reading it.
    files["dimension_lies_cell_at_xfd1048576.xlsx"] = sheet_xml(
        good,
        lambda xml: xml.replace(
            b"</sheetData>",
            b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>',
        ),
        "xl/worksheets/sheet2.xml",
    )
    files["zip_bomb.xlsx"] = zip_bomb()
    files.update(other_formats(good))
    return {
        name: deterministic(data)
        if data.startswith(b"PK\x03\x04") and "_zip" not in name and not name.endswith(".zip")
        else data
        for name, data in files.items()
    }


def other_formats(good: bytes) -> dict[str, bytes]:
    """Word reports, text exports, archives, password-protected and non-spreadsheet files."""
    files: dict[str, bytes] = {}
    files["word_report.docx"] = docx_bytes(word_report())
    # `Báo cáo kết quả` spans `Giá trị | Ghi chú`; the other header cells span both rows.
    top = ["Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Báo cáo kết quả", None]
    bottom = [None, None, None, None, "Giá trị", "Ghi chú"]
    merges = [((0, j), (1, j)) for j in range(4)] + [((0, 4), (0, 5))]
    files["word_report_merged_header.docx"] = docx_bytes(
        ["Mã đơn vị: THON-01", "Kỳ báo cáo: 2026Q3", [top, bottom, *word_value_rows()]],
        merges=[merges],
    )
    files["word_report_value_not_number.docx"] = docx_bytes(
        word_report(values=["3", "khoảng 120", "1.234,5"])
    )
    files["word_doc_renamed_docx.docx"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)

    rows = csv_rows()
    files["text_unicode_text_utf16le_tab.txt"] = text_export(rows, "utf-16-le-bom", "\t")
    files["text_utf16be_bom_tab.tsv"] = text_export(rows, "utf-16-be-bom", "\t")
    files["text_utf8_no_bom_semicolon.csv"] = text_export(rows, "utf-8", ";")
    files["text_tcvn3_comma.csv"] = text_export(rows, "tcvn3", ",")
    files["text_vni_comma.csv"] = text_export(rows, "vni", ",")

    files["password_protected.xlsx"] = encrypted(deterministic(good))
    files["not_submission_photo.jpg"] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
    files["not_submission_legacy_word.doc"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    files["not_submission_archive.rar"] = b"Rar!\x1a\x07\x01\x00" + bytes(32)
    files["not_submission_archive.7z"] = b"7z\xbc\xaf\x27\x1c" + bytes(32)

    village2 = deterministic(xlsx_bytes(template(unit="THON-02")))
    files["archives/villages.zip"] = zip_bytes(
        {
            "THON-01_2026Q3.xlsx": deterministic(good),
            "THON-03/bao-cao.docx": deterministic(docx_bytes(word_report(unit="THON-03"))),
            "THON-02/bao-cao.xlsx": village2,
            "anh-chup.jpg": b"\xff\xd8\xff\xe0",
            "cu/bao-cao-cu.zip": zip_bytes({"THON-01_2026Q2.xlsx": deterministic(good)}),
            "__MACOSX/._THON-01_2026Q3.xlsx": b"junk",
            "Thumbs.db": b"junk",
        }
    )
    files["archives/only_junk.zip"] = zip_bytes({"__MACOSX/._a.xlsx": b"x", ".DS_Store": b"x"})
    files["archives/path_trick.zip"] = zip_bytes({"../../evil.xlsx": deterministic(good)})
    files["archives/encrypted_member.zip"] = zip_bytes(
        {"THON-01_2026Q3.csv": "Mã đơn vị;THON-01\r\n".encode()}, encrypted=True
    )
    files["archives/bomb_member.zip"] = zip_bytes({"to.xlsx": bytes(15 * 1024 * 1024)})
    files["archives/truncated.zip"] = files["archives/villages.zip"][:900]
    files["archives/too_many_members.zip"] = zip_bytes(
        {f"THON-{k:03d}_2026Q3.csv": b"a;b\r\n" for k in range(201)}
    )
    return files


def _csv(rows: list[list[object]], encoding: str, delimiter: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    text = buffer.getvalue()
    return (to_cp1258_form(text) if encoding == "cp1258" else text).encode(encoding)


# ---------------------------------------------------------------------------------------------
# What a submission means: missing parts, units, periods and elements written in words.
# tests/test_submission_meaning.py ingests these through the flow.

MEANING_TITLE = "BÁO CÁO KẾT QUẢ THỰC HIỆN NHIỆM VỤ KHCN, ĐMST VÀ CĐS"
MEANING_HEADER = ["Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú"]


def _meaning_head(*labels: list[object], title: str = MEANING_TITLE) -> list[list[object]]:
    """Motto, title, the given label rows, a blank row."""
    from filemakers import MOTTO, MOTTO2

    return [[MOTTO], [MOTTO2], [title], *labels, []]


def _meaning_progress(task: str, *labels: list[object]) -> list[list[object]]:
    return [
        *_meaning_head(*labels),
        PROGRESS_HEADER,
        [task, "Triển khai nhiệm vụ", "Đang triển khai", "Đã triển khai", None, None, None],
    ]


def meaning() -> dict[str, bytes]:
    """File name -> bytes of each way a unit says what its submission is."""
    files: dict[str, bytes] = {}
    # Numbers only, no progress table, from a unit that leads tasks 1.1 and 3.1.
    files["values_only_no_progress.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(["Mã đơn vị", "UBND"], ["Kỳ báo cáo", "2026Q3"]),
                MEANING_HEADER,
                *value_rows(),
                *SIGNATURE,
            ]
        }
    )
    # The unit by its registry name, the period only in the title.
    named = ["Đơn vị báo cáo: Trường Tiểu học Nghĩa Hưng A"]
    quarter_title = f"{MEANING_TITLE} QUÝ III NĂM 2026"
    files["unit_named_period_in_title.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(named, title=quarter_title),
                MEANING_HEADER,
                ["5.3", "5.3.1", "Số hoạt động STEM, trải nghiệm sáng tạo", "hoạt động", 4, None],
                ["5.3", "5.3.3", "Số lượt học sinh tham gia", "lượt học sinh", 120, None],
                *SIGNATURE,
            ],
            "Tiến độ": _meaning_progress("5.3", named),
        }
    )
    # An alias from the registry's `Tên khác`, a half-year in words.
    alias = ["Tên đơn vị", "Trường TH Nghĩa Hưng B"]
    half = ["Kỳ báo cáo", "6 tháng đầu năm 2026"]
    files["unit_alias_half_year_in_words.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(alias, half),
                MEANING_HEADER,
                ["5.3", "5.3.1", "Số hoạt động STEM, trải nghiệm sáng tạo", "hoạt động", 2, None],
            ],
            "Tiến độ": _meaning_progress("5.3", alias, half),
        }
    )
    # Periods as date ranges that span a quarter exactly, beside the label or after it.
    rng = ["Mã đơn vị", "THON-02"], ["Kỳ báo cáo", "Từ ngày 01/7/2026 đến ngày 30/9/2026"]
    files["period_date_range.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*rng),
                MEANING_HEADER,
                ["2.1", "2.1.1", "Số báo cáo, văn bản đề xuất", "văn bản", 1, None],
                ["2.1", "2.1.2", "Số khó khăn, vướng mắc được tổng hợp, kiến nghị", "kiến nghị",
                 2, None],
            ],
            "Tiến độ": _meaning_progress("2.1", *rng),
        }
    )  # fmt: skip
    dashes = ["Mã đơn vị", "THON-03"], ["Kỳ báo cáo: 01/07/2026 - 30/09/2026"]
    files["period_dates_with_dashes.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*dashes),
                MEANING_HEADER,
                ["2.1", "2.1.1", "Số báo cáo, văn bản đề xuất", "văn bản", 3, None],
            ],
            "Tiến độ": _meaning_progress("2.1", *dashes),
        }
    )
    # Dates that are no period: rejected, with the periods close to them.
    files["period_range_not_a_period.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(
                    ["Mã đơn vị", "THON-04"], ["Kỳ báo cáo", "Từ ngày 01/7/2026 đến ngày 15/9/2026"]
                ),
                MEANING_HEADER,
                ["2.1", "2.1.1", "Số báo cáo, văn bản đề xuất", "văn bản", 1, None],
            ]
        }
    )
    # Elements by name: no code column at all, names in any case and spelling.
    pkt = ["Mã đơn vị", "P-KT"], ["Kỳ báo cáo", "Quý III/2026"]
    files["elements_by_name_no_code_column.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*pkt),
                ["STT", "Tên chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú"],
                [1, "Số hội nghị quán triệt, tập huấn", "cuộc", 5, None],
                [2, "SO LUOT NGUOI THAM DU HOI NGHI, TAP HUAN", "lượt người", 200, None],
                [3, "Số tin, bài về KHCN và ĐMST trên Trang thông tin điện tử (tin, bài)",
                 "tin, bài", 7, "Trang xã"],
                *SIGNATURE,
            ],
            "Tiến độ": _meaning_progress("1.1", *pkt),
        }
    )  # fmt: skip
    # The code column is there but some codes are left empty.
    vhxh = ["Mã đơn vị", "P-VHXH"], ["Kỳ báo cáo", "2026Q3"]
    files["elements_by_name_empty_codes.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*vhxh),
                MEANING_HEADER,
                ["1.1", "1.1.1", "Số hội nghị quán triệt, tập huấn", "cuộc", 2, None],
                ["1.1", None, "Số lượt người tham dự hội nghị, tập huấn", "lượt người", 80, None],
                [None, "", "số  tin, bài, chuyên mục trên hệ thống truyền thanh và nền tảng số",
                 "tin, bài", 12, None],
            ],
            "Tiến độ": _meaning_progress("1.1", *vhxh),
        }
    )  # fmt: skip
    # Names that fit no element, or several (the test's catalog gives two elements one name).
    thon5 = ["Mã đơn vị", "THON-05"], ["Kỳ báo cáo", "2026Q3"]
    files["element_name_unknown.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*thon5),
                MEANING_HEADER,
                ["2.1", "2.1.1", "Số báo cáo, văn bản đề xuất", "văn bản", 1, None],
                [None, None, "Số hội thảo khoa học", "cuộc", 2, None],
            ],
            "Tiến độ": _meaning_progress("2.1", *thon5),
        }
    )
    thon6 = ["Mã đơn vị", "THON-06"], ["Kỳ báo cáo", "2026Q3"]
    files["element_name_ambiguous.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(*thon6),
                MEANING_HEADER,
                [None, None, "Số báo cáo, văn bản đề xuất", "văn bản", 1, None],
            ],
            "Tiến độ": _meaning_progress("2.1", *thon6),
        }
    )
    # Unit names that fit no unit, or several (the test's registry gives both primary schools
    # the alias `Trường Tiểu học Nghĩa Hưng`).
    for name, unit in (
        ("unit_name_unknown.xlsx", "Đơn vị báo cáo: Trường Tiểu học Nghĩa Hưng C"),
        ("unit_name_ambiguous.xlsx", "Đơn vị báo cáo: Trường Tiểu học Nghĩa Hưng"),
    ):
        files[name] = xlsx_bytes(
            {
                "Chỉ tiêu": [
                    *_meaning_head([unit], ["Kỳ báo cáo", "2026Q3"]),
                    MEANING_HEADER,
                    ["5.3", "5.3.1", "Số hoạt động STEM, trải nghiệm sáng tạo", "hoạt động", 1,
                     None],
                ],
            }
        )  # fmt: skip
    # A unit folder named after the unit; the workbook names neither unit nor period label.
    files["Thôn Hạ/bao_cao_quy_3.xlsx"] = xlsx_bytes(
        {
            "Chỉ tiêu": [
                *_meaning_head(title="BÁO CÁO SỐ LIỆU QUÝ 3 NĂM 2026"),
                MEANING_HEADER,
                ["2.1", "2.1.1", "Số báo cáo, văn bản đề xuất", "văn bản", 4, None],
            ],
            "Tiến độ": _meaning_progress("2.1"),
        }
    )
    return {name: deterministic(data) for name, data in files.items()}


def main() -> None:
    """Writes every defect file next to this script."""
    for name, data in {**defects(), **meaning()}.items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{len(data):>10}  {name}")


if __name__ == "__main__":
    main()
