"""One bad file costs that file only: feedback, names, values and loads of hostile files."""

from __future__ import annotations

import io
import os
import resource
import time
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest
from filemakers import (
    csv_rows,
    ods_bytes,
    patch_zip,
    template,
    write_csv,
    xls_bytes,
    xlsx_bytes,
)
from warehouse_support import make_file

from core.model import Submission, issue
from core.names import safe_name, storable
from core.settings import Settings
from outputs.feedback import (
    FEEDBACK_SHEET,
    feedback_path,
    is_risky,
    write_feedback,
    write_feedback_many,
)
from schemas.schema import Schema
from schemas.verdict import Verdict
from sources.guard import Limits, sheet_parts
from sources.read import read_bytes
from warehouse.dimensions import sync_schema
from warehouse.load import load
from warehouse.migrate import init

LIMITS = Limits.of(Settings())


def _values_part(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return next(p for p, n in sheet_parts(archive).items() if n == "Chỉ tiêu")


def _xlsx(edit: bytes = b"", replace: tuple[bytes, bytes] | None = None, **kw: str) -> bytes:
    """The template as .xlsx, its `Chỉ tiêu` sheet XML edited."""
    data = xlsx_bytes(template(**kw))
    part = _values_part(data)

    def change(xml: bytes) -> bytes:
        if replace:
            xml = xml.replace(*replace, 1)
        return xml.replace(b"</sheetData>", b"</sheetData>" + edit, 1)

    return patch_zip(data, {part: change})


def _codes(data: bytes, name: str) -> list[tuple[str, str | None]]:
    sub = read_bytes(data, name, settings=LIMITS)
    return [(i.code, i.ref.address if i.ref else None) for i in sub.issues]


def _rejected(sub: Submission, *extra: str) -> Verdict:
    findings = list(sub.issues) + [issue("R-VALUE-NOT-NUMBER", None, value=text) for text in extra]
    if not any(f.severity == "error" for f in findings):
        findings.append(issue("R-UNIT-MISSING", file=sub.name))
    return Verdict(sub, findings)


# ---------------------------------------------------------------------------------------------
# 1. Feedback never ends the run; 2. it runs under the reading limits


def test_feedback_of_hostile_files_is_written_not_raised(tmp_path: Path) -> None:
    """Each of these raised in the flow process before (IllegalCharacterError, IndexError,
    OverflowError, `File name too long`)."""
    cases: dict[str, bytes] = {
        "dieu-khien.csv": b"",
        "kieu-o.xlsx": _xlsx(replace=(b'<c r="A1"', b'<c s="999999" r="A1"')),
        "so-dai.xlsx": _xlsx(replace=(b"<v>3</v>", b"<v>" + b"9" * 400 + b"</v>")),
        "x" * 240 + ".xlsx": _xlsx(),
    }
    rows = csv_rows()
    rows[1][7] = "ghi chú \x01\x1b[31m có ký tự điều khiển"
    write_csv(tmp_path / "seed.csv", rows)
    cases["dieu-khien.csv"] = (tmp_path / "seed.csv").read_bytes()
    items = []
    for name, data in cases.items():
        original = tmp_path / "archive" / f"{len(items)}{Path(name).suffix}"
        original.parent.mkdir(exist_ok=True)
        original.write_bytes(data)
        sub = read_bytes(data, str(tmp_path / "inbox" / name), name=name, settings=LIMITS)
        verdict = _rejected(sub, "mục nén 'xl/\x01.xml'\x00")
        items.append((verdict, original))
    # A unit code of 5,000 characters, and one that is a name Windows reserves.
    long_unit = read_bytes(_xlsx(unit="X" * 5000), "dai.xlsx", settings=LIMITS)
    items.append((_rejected(long_unit), None))
    con = read_bytes(_xlsx(unit="CON"), "con.xlsx", settings=LIMITS)
    items.append((_rejected(con), None))

    results = write_feedback_many(items, tmp_path / "outbox", LIMITS)

    assert [r.error for r in results] == [None] * len(items)
    for result in results:
        assert result.path is not None and result.path.is_file()
        assert len(result.path.name.encode()) <= 255
        assert (tmp_path / "outbox") in result.path.parents
        book = openpyxl.load_workbook(result.path)
        assert book.sheetnames[0] == FEEDBACK_SHEET
    assert results[-1].path is not None and results[-1].path.parent.name != "CON"


def test_a_whole_sheet_merge_gets_plain_feedback_quickly_and_out_of_process(
    tmp_path: Path,
) -> None:
    """A 9 KB workbook with `<mergeCell ref="A1:XFD1048576"/>` took the flow process past 5 GB."""
    data = _xlsx(b'<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>')
    assert len(data) < 20_000
    original = tmp_path / "gop.xlsx"
    original.write_bytes(data)
    sub = read_bytes(data, str(original), settings=LIMITS)
    verdict = _rejected(sub, "x")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()

    [result] = write_feedback_many([(verdict, original)], tmp_path / "outbox", LIMITS)

    assert time.monotonic() - started < 60
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 150
    assert result.path is not None
    book = openpyxl.load_workbook(result.path)
    # The plain workbook: the unit's rows at their cells, the finding marked there.
    assert "dựng lại từ số liệu đã đọc" in str(book[FEEDBACK_SHEET]["A3"].value)
    # The merge hides the values table from the reader; the progress rows it did read are kept.
    progress = book["Tiến độ"]
    assert progress["A9"].value == "1.1" and progress["A8"].value == "Mã nhiệm vụ"


@pytest.mark.parametrize(
    ("name", "edit", "replace"),
    [
        (
            "gop-50000.xlsx",
            b'<mergeCells count="50000">'
            + b"".join(b'<mergeCell ref="Z%d:AA%d"/>' % (100 + i, 100 + i) for i in range(50_000))
            + b"</mergeCells>",
            None,
        ),
        ("rong.xlsx", b"", (b"</row>", b'<c r="XFD1" t="n"><v>1</v></c></row>')),
        (
            "dong-lon.xlsx",
            b"",
            (
                b"</sheetData>",
                b'<row r="4294967297"><c r="A4294967297"><v>7</v></c></row></sheetData>',
            ),
        ),
    ],
)
def test_wide_and_many_merge_workbooks_cost_the_flow_process_nothing(
    tmp_path: Path, name: str, edit: bytes, replace: tuple[bytes, bytes] | None
) -> None:
    """50,000 merges or 16,384 columns took over 20 s in the flow process, row 4294967297 10 s."""
    data = _xlsx(edit, replace=replace)
    original = tmp_path / name
    original.write_bytes(data)
    sub = read_bytes(data, str(original), settings=LIMITS)
    verdict = _rejected(sub, "x")
    before = resource.getrusage(resource.RUSAGE_SELF)

    [result] = write_feedback_many([(verdict, original)], tmp_path / "outbox", LIMITS)

    after = resource.getrusage(resource.RUSAGE_SELF)
    # The copy runs in a worker: this process only waits (CPU seconds, not wall time).
    assert after.ru_utime - before.ru_utime < 5
    assert (after.ru_maxrss - before.ru_maxrss) / 1024 < 150
    assert result.error is None and result.path is not None
    assert openpyxl.load_workbook(result.path).sheetnames[0] == FEEDBACK_SHEET


def test_formats_openpyxl_cannot_copy_get_the_plain_workbook(tmp_path: Path) -> None:
    data = _xlsx()
    sub = read_bytes(data, "bao-cao.xlsx", settings=LIMITS)
    sub.name = "bao-cao.docx"
    original = tmp_path / "bao-cao.docx"
    original.write_bytes(b"PK\x03\x04 not a workbook")
    verdict = Verdict(sub, [issue("R-VALUE-NOT-NUMBER", sub.values[0].ref, value="x")])
    out = write_feedback(verdict, original, tmp_path / "outbox")
    assert out is not None
    book = openpyxl.load_workbook(out)
    cell = book["Chỉ tiêu"][sub.values[0].ref.address]
    assert cell.comment is not None and "R-VALUE-NOT-NUMBER" in cell.comment.text
    setup = book[FEEDBACK_SHEET].page_setup
    assert int(setup.paperSize) == 9 and int(setup.fitToWidth) == 1


def test_non_utf8_file_name_loads(tmp_path: Path, settings: Settings, schema: Schema) -> None:
    """`bad\\xff\\xfe.xlsx` stopped the load half way (DuckDB surrogate conversion error)."""
    name = os.fsdecode(b"bad\xff\xfe.xlsx")
    file = make_file(settings, "THON-01", "2026Q3", {}, errors=["R-UNIT-MISSING"], name=name)
    good = make_file(settings, "THON-02", "2026Q3", {}, name="tot.xlsx")
    db = settings.warehouse
    init(db)
    sync_schema(db, schema, settings)

    summary = load(db, [file.verdict, good.verdict], [file.receipt, good.receipt], settings)

    assert sorted(o.action for o in summary.outcomes) == ["imported", "rejected"]
    with duckdb.connect(str(db), read_only=True) as con:
        names = {row[0] for row in con.execute("select name from raw.received_files").fetchall()}
        finished = con.execute("select count(*) from meta.load_runs where finished_at is not null")
        assert finished.fetchone() == (1,)
    assert names == {"bad\\xff\\xfe.xlsx", "tot.xlsx"}


# ---------------------------------------------------------------------------------------------
# 4. Values are what the file says


@pytest.mark.parametrize(
    ("new", "code"),
    [
        (b"<v><![CDATA[12]]></v>", "R-VALUE-INEXACT"),
        (b"<v><![CDATA[-12]]></v>", "R-VALUE-INEXACT"),
        (b"<v><a><b>-5</b></a></v>", "R-VALUE-INEXACT"),
        (b"<v></v>", "R-VALUE-INEXACT"),
        (b"<v>1e-400</v>", "R-VALUE-INEXACT"),
        (b"<v>-2.5E-999</v>", "R-VALUE-INEXACT"),
        # Not zero, no negative exponent, and yet read as 0.
        (b"<v>0." + b"0" * 330 + b"1</v>", "R-VALUE-INEXACT"),
        (b"<v>0." + b"0" * 340 + b"7e+5</v>", "R-VALUE-INEXACT"),
        (b"<v>1e308</v>", "R-VALUE-TOO-BIG"),
        (b"<v>" + b"9" * 400 + b"</v>", "R-VALUE-TOO-BIG"),
    ],
)
def test_xlsx_value_read_inexactly_is_a_finding(new: bytes, code: str) -> None:
    assert _codes(_xlsx(replace=(b"<v>3</v>", new)), "THON-01_2026Q3.xlsx") == [(code, "E9")]


# The RK record (0x027E, 10 bytes) xlwt writes for the 3 in E9 (row 8, column 4).
_RK_OF_E9 = b"\x7e\x02\x0a\x00\x08\x00\x04\x00"


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        (b"\x7e\x0a\x0a\x00", "loại 0x0A7E, dài 10 byte"),
        (b"\x7e\x03\x0a\x00", "loại 0x037E, dài 10 byte"),
        (b"\x7e\x82\x0a\x00", "loại 0x827E, dài 10 byte"),
        # A flipped length: readers walk on out of step and skip what it covers.
        (b"\x7e\x02\x0a\x02", "loại 0x027E, dài 522 byte"),
    ],
)
def test_xls_record_no_reader_knows_is_a_corrupt_file(header: bytes, shown: str) -> None:
    data = xls_bytes(template())
    assert data.count(_RK_OF_E9) == 1 and _codes(data, "THON-01_2026Q3.xls") == []
    flipped = data.replace(_RK_OF_E9, header + _RK_OF_E9[4:])
    sub = read_bytes(flipped, "THON-01_2026Q3.xls", settings=LIMITS)
    assert [i.code for i in sub.issues] == ["R-FILE-CORRUPT"]
    assert shown in sub.issues[0].message and not sub.values


def test_xls_saved_by_libreoffice_is_not_taken_for_corrupt(tmp_path: Path) -> None:
    import shutil
    import subprocess

    source = tmp_path / "THON-01_2026Q3.xlsx"
    source.write_bytes(xlsx_bytes(template()))
    soffice = shutil.which("soffice") or "/usr/bin/soffice"
    subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}", "--headless",
         "--convert-to", "xls", "--outdir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    data = (tmp_path / "THON-01_2026Q3.xls").read_bytes()
    sub = read_bytes(data, "THON-01_2026Q3.xls", settings=LIMITS)
    assert sub.issues == [] and [v.value for v in sub.values] == [3, 120, 1234.5]


def test_a_number_the_xml_holds_is_never_a_blank_in_malformed_xml() -> None:
    """`</.s>` before the cell: calamine walked on out of step and read E9 as empty."""
    data = _xlsx(replace=(b'</is></c><c r="E9"', b'</.s></c><c r="E9"'))
    assert b"</.s>" in zipfile.ZipFile(io.BytesIO(data)).read(_values_part(data))
    assert _codes(data, "THON-01_2026Q3.xlsx") == [("R-VALUE-INEXACT", "E9")]


def test_dangling_shared_string_is_never_a_blank() -> None:
    data = _xlsx(replace=(b'<c r="E9" t="n"><v>3</v>', b'<c r="E9" t="s"><v>99999</v>'))
    assert _codes(data, "THON-01_2026Q3.xlsx") in (
        [("R-VALUE-INEXACT", "E9")],
        [("R-FILE-CORRUPT", None)],
    )


def test_csv_control_character_is_not_a_blank(tmp_path: Path) -> None:
    rows = csv_rows()
    rows[1][6] = "\x1f"
    data = write_csv(tmp_path / "THON-01_2026Q3.csv", rows).read_bytes()
    assert _codes(data, "THON-01_2026Q3.csv") == [("R-VALUE-NOT-NUMBER", "G2")]


@pytest.mark.parametrize(
    "new",
    [
        b'<table:table-cell office:value-type="float"><text:p>6</text:p></table:table-cell>',
        b'<table:table-cell office:value-type="float" office:value="3">'
        b"<text:p>6</text:p></table:table-cell>",
        b'<table:table-cell office:value-type="float" office:value="6" '
        b'table:number-columns-repeated="0"/>',
    ],
)
def test_ods_value_read_inexactly_is_a_finding(new: bytes) -> None:
    data = ods_bytes(template())
    old = b'<table:table-cell office:value-type="float" office:value="3"/>'
    data = patch_zip(data, {"content.xml": lambda xml: xml.replace(old, new, 1)})
    assert _codes(data, "THON-01_2026Q3.ods") == [("R-VALUE-INEXACT", "E9")]


def test_ods_number_below_the_smallest_double_is_not_a_zero() -> None:
    data = ods_bytes(template())
    old = b'office:value="3"/>'
    data = patch_zip(
        data, {"content.xml": lambda xml: xml.replace(old, b'office:value="1e-400"/>')}
    )
    assert _codes(data, "THON-01_2026Q3.ods") == [("R-VALUE-INEXACT", "E9")]


def test_a_written_zero_stays_a_zero() -> None:
    data = _xlsx(replace=(b"<v>3</v>", b"<v>0e-500</v>"))
    assert _codes(data, "THON-01_2026Q3.xlsx") == []
    data = ods_bytes(template(values=[0, 120, 1234.5]))
    assert _codes(data, "THON-01_2026Q3.ods") == []


def test_ods_number_shown_with_separators_is_exact() -> None:
    data = ods_bytes(template(values=[3, 1234, 1234.5]))
    data = patch_zip(
        data,
        {
            "content.xml": lambda xml: xml.replace(
                b'office:value="1234"/>',
                b'office:value="1234"><text:p>1.234</text:p></table:table-cell>',
            )
        },
    )
    assert _codes(data, "THON-01_2026Q3.ods") == []


def test_count_above_its_bound_is_rejected(schema: Schema) -> None:
    from schemas.validation import validate

    sub = read_bytes(xlsx_bytes(template(values=[3, 2_000_000, 12])), "THON-01_2026Q3.xlsx")
    [verdict] = validate([sub], schema, today=__import__("datetime").date(2026, 11, 30))
    assert ("V-COUNT-LIMIT", "E10") in {(f.code, f.ref and f.ref.address) for f in verdict.findings}


# ---------------------------------------------------------------------------------------------
# 7. Feedback paths; 8. formula-like text and reserved names


def test_same_name_from_two_folders_gets_two_feedback_files(tmp_path: Path) -> None:
    paths = set()
    for folder in ("a", "b"):
        sub = Submission(
            f"{tmp_path}/inbox/{folder}/THON-01_2026Q3.xlsx", "THON-01_2026Q3.xlsx", 1, "0"
        )
        sub.unit_code, sub.period = "THON-01", "2026Q3"
        verdict = Verdict(sub, [issue("R-UNIT-MISSING", file=sub.name)])
        paths.add(write_feedback(verdict, None, tmp_path / "outbox"))
    assert len(paths) == 2 and all(p is not None and p.is_file() for p in paths)


@pytest.mark.parametrize("text", ["\n=1+1", "\u200b=3+3", "\ufeff+1", " \t@x", "\u00a0-1"])
def test_formula_like_after_invisible_characters(text: str) -> None:
    assert is_risky(text)


def test_plain_text_is_not_formula_like() -> None:
    assert not is_risky("Hoàn thành =1") and not is_risky("") and not is_risky("\u200b")


@pytest.mark.parametrize("unit", ["CON", "con", "NUL", "COM1", "LPT9", "aux.txt"])
def test_reserved_names_never_become_folders(unit: str, tmp_path: Path) -> None:
    sub = Submission("x.xlsx", "x.xlsx", 1, "0", unit_code=unit)
    folder = feedback_path(Verdict(sub, []), tmp_path).parent.name
    assert folder.startswith("_") and folder[1:] == unit


def test_names_are_bounded_and_visible() -> None:
    assert safe_name("đ" * 300, fallback="x").encode().__len__() <= 120
    assert safe_name("Báo cáo quý 3", fallback="x") == "Báo cáo quý 3"
    assert safe_name(os.fsdecode(b"bad\xff"), fallback="x") == "bad%FF"
    assert safe_name("../..", fallback="x") == "_"
    assert safe_name("a\x01b\nc", fallback="x") == "a_b_c"
    assert safe_name("", fallback="x") == "x"
    assert storable(os.fsdecode(b"a\xfe")) == "a\\xfe"
