"""The other formats of tests/data: Word reports, text exports, archives, password-protected and
non-spreadsheet files, read through the worker processes as the flow reads them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from filemakers import template, xlsx_bytes
from formatmakers import docx_bytes, text_export, to_tcvn3, word_report, zip_bytes

from core.model import Submission
from core.settings import Settings
from sources.archives import (
    is_member_name,
    member_url,
    split_member_url,
    unit_folder_of,
    unpack_many,
)
from sources.archives import unpack as unpack_one
from sources.guard import Limits
from sources.inbox import InboxEntry, list_inbox
from sources.read import read_bytes, read_many
from sources.textfile import decode

DATA = Path(__file__).parent / "data"
GOOD_VALUES = [("1.1", "1.1.1", 3), ("1.1", "1.1.2", 120), ("3.1", "3.1.1", 1234.5)]
LIMITS = Limits.of(Settings())


@pytest.fixture(scope="module")
def read() -> dict[str, Submission]:
    names = [
        "word_report.docx",
        "word_report_merged_header.docx",
        "word_report_value_not_number.docx",
        "word_doc_renamed_docx.docx",
        "text_unicode_text_utf16le_tab.txt",
        "text_utf16be_bom_tab.tsv",
        "text_utf8_no_bom_semicolon.csv",
        "text_tcvn3_comma.csv",
        "text_vni_comma.csv",
        "password_protected.xlsx",
        "not_submission_photo.jpg",
        "not_submission_legacy_word.doc",
        "not_submission_archive.rar",
        "not_submission_archive.7z",
        "unsupported_format.pdf",
    ]
    entries = [InboxEntry(str(DATA / n), n, (DATA / n).stat().st_size, None) for n in names]
    return dict(zip(names, read_many(entries, LIMITS), strict=True))


def values(sub: Submission) -> list[tuple[object, ...]]:
    return [(v.task_code, v.element_code, v.value) for v in sub.values]


def places(sub: Submission) -> list[tuple[str, str]]:
    return [(v.ref.sheet, v.ref.address) for v in sub.values]


def codes(sub: Submission) -> list[tuple[str, str | None, str | None]]:
    return [
        (i.code, i.ref.sheet if i.ref else None, i.ref.address if i.ref else None)
        for i in sub.issues
    ]


def test_word_report_tables_and_labels(read: dict[str, Submission]) -> None:
    sub = read["word_report.docx"]
    assert values(sub) == GOOD_VALUES
    assert places(sub) == [("Bảng 1", "E2"), ("Bảng 1", "E3"), ("Bảng 1", "E4")]
    assert sub.values[0].refs["element_code"].address == "B2"
    assert [(p.task_code, p.status, p.difficulties) for p in sub.progress] == [
        ("1.1", "Hoàn thành", None),
        ("3.1", "Đang triển khai", "Thiếu kinh phí"),
    ]
    assert {p.ref.sheet for p in sub.progress} == {"Bảng 2"}
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_word_report_merged_two_row_header(read: dict[str, Submission]) -> None:
    sub = read["word_report_merged_header.docx"]
    assert values(sub) == GOOD_VALUES
    assert places(sub) == [("Bảng 1", "E3"), ("Bảng 1", "E4"), ("Bảng 1", "E5")]
    assert {k: r.address for k, r in sub.values[0].refs.items()} == {
        "task_code": "A3",
        "element_code": "B3",
        "element_name": "C3",
        "measure": "D3",
        "value": "E3",
        "note": "F3",
    }
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_word_report_finding_names_table_row_and_column(read: dict[str, Submission]) -> None:
    sub = read["word_report_value_not_number.docx"]
    assert values(sub) == [("1.1", "1.1.1", 3), ("1.1", "1.1.2", None), ("3.1", "3.1.1", 1234.5)]
    assert codes(sub) == [("R-VALUE-NOT-NUMBER", "Bảng 1", "E3")]
    assert "'Bảng 1', ô E3" in sub.issues[0].message
    assert "khoảng 120" in sub.issues[0].message


def test_word_report_without_tables_and_the_text_grid() -> None:
    sub = read_bytes(
        docx_bytes(["Mã đơn vị: THON-01", "Không có bảng."]), "x.docx", settings=LIMITS
    )
    assert [c for c, _, _ in codes(sub)] == [
        "R-TABLE-NOT-FOUND",
        "R-UNIT-MISSING",
        "R-PERIOD-MISSING",
    ]
    # Labels after the last table are not the report's: the signature's date is no period.
    blocks = word_report()
    blocks.insert(0, "Kỳ báo cáo: 2026Q2")
    sub = read_bytes(docx_bytes(blocks), "y.docx", settings=LIMITS)
    assert [c for c, _, _ in codes(sub)] == ["R-PERIOD-CONFLICT"]
    assert sub.issues[0].ref is not None and sub.issues[0].ref.sheet == "Văn bản"


def test_workbook_with_encrypted_parts_is_password_protected() -> None:
    parts = zipfile.ZipFile(io.BytesIO(xlsx_bytes(template())))
    locked = zip_bytes({n: parts.read(n) for n in parts.namelist()}, encrypted=True)
    sub = read_bytes(locked, "THON-01_2026Q3.xlsx", settings=LIMITS)
    assert [i.code for i in sub.issues] == ["R-FILE-PASSWORD"] and sub.unreadable


@pytest.mark.parametrize("data", [xlsx_bytes(template()), zip_bytes({"a.txt": b"x"})])
def test_other_zips_named_docx_are_corrupt(data: bytes) -> None:
    sub = read_bytes(data, "bao-cao.docx", settings=LIMITS)
    assert [i.code for i in sub.issues] == ["R-FILE-CORRUPT"]
    assert "không phải tài liệu Word .docx hợp lệ" in sub.issues[0].message


@pytest.mark.parametrize(
    "name",
    [
        "text_unicode_text_utf16le_tab.txt",
        "text_utf16be_bom_tab.tsv",
        "text_utf8_no_bom_semicolon.csv",
        "text_tcvn3_comma.csv",
    ],
)
def test_text_exports(read: dict[str, Submission], name: str) -> None:
    sub = read[name]
    assert values(sub) == GOOD_VALUES
    assert [a for _, a in places(sub)] == ["G2", "G3", "G4"]
    assert sub.values[0].ref.sheet == Path(name).stem
    assert [(p.task_code, p.status, p.difficulties) for p in sub.progress] == [
        ("1.1", "Hoàn thành", None),
        ("3.1", "Đang triển khai", "Thiếu kinh phí"),
    ]
    assert (sub.unit_code, sub.period, sub.issues) == ("THON-01", "2026Q3", [])


def test_encodings_are_told_apart() -> None:
    text = "Mã đơn vị;Kỳ báo cáo;Tên chỉ tiêu\r\nTHON-01;Quý III/2026;Số lượt người tham dự\r\n"
    found = decode(to_tcvn3(text))
    assert found is not None and (found.encoding, found.text) == ("tcvn3", text)
    found = decode(text_export([["Mã đơn vị", "Kỳ"]], "cp1258", ","))
    assert found is not None and found.encoding == "cp1258"
    for encoding in ("utf-16-le-bom", "utf-16-be-bom"):
        found = decode(text_export([["Mã đơn vị", "Đơn vị tính"]], encoding, "\t"))
        assert found is not None and found.text.startswith("Mã đơn vị\tĐơn vị tính")


def test_tcvn3_capitals_read_as_small_letters_still_match() -> None:
    rows = [["Mã đơn vị", "THON-01"], ["KỲ BÁO CÁO", "2026Q3"]]
    found = decode(text_export(rows, "tcvn3", ","))
    assert found is not None and found.encoding == "tcvn3"
    assert found.text.splitlines()[1] == "Kỳ BáO CáO,2026Q3"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("text_vni_comma.csv", "R-FILE-ENCODING-LEGACY"),
        ("password_protected.xlsx", "R-FILE-PASSWORD"),
        ("word_doc_renamed_docx.docx", "R-FILE-CORRUPT"),
        ("not_submission_photo.jpg", "R-FILE-FORMAT"),
        ("not_submission_legacy_word.doc", "R-FILE-FORMAT"),
        ("not_submission_archive.rar", "R-FILE-FORMAT"),
        ("not_submission_archive.7z", "R-FILE-FORMAT"),
        ("unsupported_format.pdf", "R-FILE-FORMAT"),
    ],
)
def test_files_that_are_answered_not_read(
    read: dict[str, Submission], name: str, code: str
) -> None:
    sub = read[name]
    assert sub.unreadable
    assert codes(sub) == [(code, None, None)]
    assert name in sub.issues[0].message


def test_non_spreadsheets_are_told_the_accepted_formats(read: dict[str, Submission]) -> None:
    message = read["not_submission_photo.jpg"].issues[0].message
    for accepted in (".xlsx", ".xls", ".ods", ".csv", ".txt", ".docx", ".zip"):
        assert accepted in message
    assert "'.jpg'" in message
    assert "VNI" in read["text_vni_comma.csv"].issues[0].message
    assert "mật khẩu" in read["password_protected.xlsx"].issues[0].message


# ---------------------------------------------------------------------------------------------
# Archives


@pytest.fixture(scope="module")
def unpacked() -> dict[str, object]:
    paths = sorted((DATA / "archives").glob("*.zip"))
    results = unpack_many([(p.name, p.read_bytes()) for p in paths], LIMITS)
    return {p.name: r for p, r in zip(paths, results, strict=True)}


def test_archive_members_each_a_submission(unpacked: dict[str, object]) -> None:
    result = unpacked["villages.zip"]
    assert result.issue is None  # type: ignore[attr-defined]
    members = result.members  # type: ignore[attr-defined]
    assert [m.name for m in members] == [
        "villages.zip/THON-01_2026Q3.xlsx",
        "villages.zip/THON-03/bao-cao.docx",
        "villages.zip/THON-02/bao-cao.xlsx",
        "villages.zip/anh-chup.jpg",
        "villages.zip/cu/bao-cao-cu.zip",
    ]
    folders = {"inbox/villages.zip": None}
    entries = [
        InboxEntry(
            member_url("inbox/villages.zip", m.path),
            m.name,
            len(m.data),
            unit_folder_of(member_url("inbox/villages.zip", m.path), folders),
        )
        for m in members
    ]
    assert [e.unit_folder for e in entries] == [None, "THON-03", "THON-02", None, "cu"]
    subs = [
        read_bytes(m.data, e.url, name=e.name, unit_folder=e.unit_folder, settings=LIMITS)
        for m, e in zip(members, entries, strict=True)
    ]
    assert [(s.unit_code, s.period) for s in subs[:3]] == [
        ("THON-01", "2026Q3"),
        ("THON-03", "2026Q3"),
        ("THON-02", "2026Q3"),
    ]
    assert [values(s) for s in subs[:3]] == [GOOD_VALUES] * 3
    assert [s.issues for s in subs[:3]] == [[], [], []]
    assert codes(subs[3]) == [("R-FILE-FORMAT", None, None)]
    assert codes(subs[4]) == [("R-FILE-ARCHIVE-NESTED", None, None)]
    assert "villages.zip/cu/bao-cao-cu.zip" in subs[4].issues[0].message


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("only_junk.zip", "R-FILE-ARCHIVE-EMPTY"),
        ("path_trick.zip", "R-FILE-UNSAFE"),
        ("encrypted_member.zip", "R-FILE-PASSWORD"),
        ("bomb_member.zip", "R-FILE-UNPACKED-TOO-BIG"),
        ("truncated.zip", "R-FILE-CORRUPT"),
        ("too_many_members.zip", "R-FILE-ARCHIVE-TOO-MANY"),
    ],
)
def test_hostile_or_broken_archives_cost_themselves(
    unpacked: dict[str, object], name: str, code: str
) -> None:
    result = unpacked[name]
    assert result.members == []  # type: ignore[attr-defined]
    assert result.issue.code == code  # type: ignore[attr-defined]
    assert name in result.issue.message  # type: ignore[attr-defined]
    # Read as a file, the rejected archive gives the same answer.
    data = (DATA / "archives" / name).read_bytes()
    sub = read_bytes(data, name, settings=LIMITS)
    assert [i.code for i in sub.issues] == [code] and sub.unreadable


def test_archive_limits_on_members_and_declared_sizes() -> None:
    small = Limits(5000, 8000, 2_000_000, 30.0, 400 * 1024 * 1024)
    too_big = unpack_one("a.zip", zip_bytes({"big.csv": b"a;" * 3000}), small)
    assert too_big.issue is not None and too_big.issue.code == "R-FILE-TOO-BIG"
    assert "a.zip/big.csv" in too_big.issue.message
    many = {f"{k}.csv": bytes(3000) for k in range(3)}
    total = unpack_one("b.zip", zip_bytes(many), small)
    assert total.issue is not None and total.issue.code == "R-FILE-UNPACKED-TOO-BIG"
    # A member that inflates past its declared size is a lying archive.
    honest = bytearray(zip_bytes({"x.csv": b"a" * 100}))
    liar = honest.replace((100).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    lied = unpack_one("c.zip", bytes(liar), LIMITS)
    assert lied.issue is not None and lied.issue.code in (
        "R-FILE-UNPACKED-TOO-BIG",
        "R-FILE-CORRUPT",
    )


def test_a_rejected_archive_costs_only_itself() -> None:
    bomb = zip_bytes({"a.csv": bytes(15 * 1024 * 1024)})
    good = zip_bytes({"THON-01_2026Q3.xlsx": xlsx_bytes(template())})
    results = unpack_many([("bomb.zip", bomb), ("good.zip", good)], LIMITS, workers=1)
    assert results[0].issue is not None and results[0].issue.code == "R-FILE-UNPACKED-TOO-BIG"
    assert [m.name for m in results[1].members] == ["good.zip/THON-01_2026Q3.xlsx"]


def test_member_urls_and_names() -> None:
    url = member_url("/inbox/THON-05/bc.zip", "2026Q3/a b.xlsx")
    assert split_member_url(url) == ("/inbox/THON-05/bc.zip", "2026Q3/a b.xlsx")
    assert unit_folder_of(url, {"/inbox/THON-05/bc.zip": "THON-05"}) == "THON-05"
    assert split_member_url("/inbox/x.xlsx") is None
    assert is_member_name("bc.zip/a.xlsx") and not is_member_name("THON-01/a.xlsx")


def test_inbox_lists_every_non_junk_file(tmp_path: Path) -> None:
    for name in ["a.xlsx", "b.docx", "c.zip", "d.jpg", "e.pdf", "f.doc", "g.rar", "h.7z",
                 "~$a.xlsx", "Thumbs.db", ".DS_Store", "__MACOSX/._a.xlsx", "i.txt"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [e.name for e in list_inbox(str(tmp_path))] == [
        "a.xlsx", "b.docx", "c.zip", "d.jpg", "e.pdf", "f.doc", "g.rar", "h.7z", "i.txt"
    ]  # fmt: skip
