"""A mixed inbox through the real ingest flow: Word reports, an archive of several units'
reports, Excel's "Unicode Text", non-spreadsheets, a password-protected workbook and junk.
Every listed file is recorded in mart.submissions, values exact, references right."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from formatmakers import docx_bytes, encrypted, text_export, zip_bytes
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from core.periods import parse_period
from core.settings import Settings
from demo.samples import fill_workbook, sample_progress, sample_values
from flows.ingest_submissions import ingest_submissions
from outputs.template import HEADER_ROW, PROGRESS_SHEET, VALUES_SHEET, write_template
from schemas.schema import Schema, load_schema
from sources.inbox import list_inbox
from warehouse.publish import published_database

pytestmark = pytest.mark.usefixtures("prefect_api")
PERIOD = "2026Q2"


def _filled(schema: Schema, unit_code: str, path: Path, seed: int) -> dict[str, float]:
    """A template filled in for the unit; its values by element code."""
    rng = random.Random(seed)
    unit = next(u for u in schema.registry.units if u.code == unit_code)
    period = parse_period(PERIOD)
    tasks = schema.tasks_due(unit, period)
    write_template(schema, unit, period, path)
    values: dict[str, int | float] = {}
    while not values:  # a unit that leads nothing may draw no value at all
        values = sample_values(schema, unit, tasks, rng)
    fill_workbook(path, values, sample_progress(tasks, period, rng))
    return {code: float(v) for code, v in values.items()}


def _table(path: Path, sheet: str) -> list[list[Any]]:
    """The table of a filled template's sheet, from its header row down, as typed text."""
    rows = load_workbook(path)[sheet].iter_rows(min_row=HEADER_ROW, values_only=True)
    return [[_typed(cell) for cell in row] for row in rows]


def _typed(cell: object) -> object:
    if isinstance(cell, float):
        return f"{cell:.1f}".replace(".", ",")  # as an officer types it in Word: 150,5
    return cell


def _word(unit: str, values: list[list[Any]], progress: list[list[Any]]) -> bytes:
    return docx_bytes(
        [
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "BÁO CÁO KẾT QUẢ THỰC HIỆN NHIỆM VỤ KHCN, ĐMST VÀ CĐS",
            f"Mã đơn vị: {unit}",
            f"Kỳ báo cáo: {PERIOD}",
            values,
            "Tiến độ thực hiện",
            progress,
        ]
    )


def _units(schema: Schema, count: int) -> list[str]:
    period = parse_period(PERIOD)
    due = [
        u.code
        for u in schema.registry.units
        if u.active and u.type == "Thôn" and schema.tasks_due(u, period)
    ]
    assert len(due) >= count
    return due[:count]


def _published(settings: Settings, query: str, *params: object) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def test_mixed_inbox_listed_equals_recorded(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_SCHEMAS_DIR", str(settings.schemas_dir))
    monkeypatch.setenv("KHCN_DATA_DIR", str(settings.data_dir))
    schema = load_schema(settings)
    inbox = settings.data_dir / "inbox"
    inbox.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    word_unit, zipped_book, zipped_word, text_unit, bad_unit = _units(schema, 5)

    expected: dict[str, dict[str, float]] = {}
    filled = {}
    for k, unit in enumerate((word_unit, zipped_book, zipped_word, text_unit, bad_unit)):
        path = work / f"{unit}_{PERIOD}.xlsx"
        expected[unit] = _filled(schema, unit, path, seed=k)
        filled[unit] = path

    def word_of(unit: str) -> bytes:
        path = filled[unit]
        return _word(unit, _table(path, VALUES_SHEET), _table(path, PROGRESS_SHEET))

    (inbox / "bao-cao-quy-2.docx").write_bytes(word_of(word_unit))
    (inbox / "cac-thon.zip").write_bytes(
        zip_bytes(
            {
                f"{zipped_book}_{PERIOD}.xlsx": filled[zipped_book].read_bytes(),
                f"{zipped_word}/bao-cao.docx": word_of(zipped_word),
                "anh-bien-ban.jpg": b"\xff\xd8\xff\xe0",
                "__MACOSX/._anh-bien-ban.jpg": b"junk",
            }
        )
    )
    text_rows = [
        ["Mã đơn vị", text_unit],
        ["Kỳ báo cáo", PERIOD],
        *_table(filled[text_unit], VALUES_SHEET),
        [],
        *_table(filled[text_unit], PROGRESS_SHEET),
    ]
    (inbox / "xuat-unicode.txt").write_bytes(text_export(text_rows, "utf-16-le-bom", "\t"))
    # A Word report with one value typed as words: its finding names table, row and column.
    bad_values = _table(filled[bad_unit], VALUES_SHEET)
    value_column = bad_values[0].index("Giá trị")
    bad_values[1][value_column] = "khoảng năm"
    (inbox / "bao-cao-sai.docx").write_bytes(
        _word(bad_unit, bad_values, _table(filled[bad_unit], PROGRESS_SHEET))
    )
    (inbox / "mat-khau.xlsx").write_bytes(encrypted(filled[word_unit].read_bytes()))
    (inbox / "bom.zip").write_bytes(zip_bytes({"a.xlsx": bytes(15 * 1024 * 1024)}))
    for name, data in {
        "anh-chup.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
        "ban-scan.pdf": b"%PDF-1.4\n",
        "bao-cao-cu.doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        "nen.rar": b"Rar!\x1a\x07\x01\x00",
        "nen.7z": b"7z\xbc\xaf\x27\x1c",
        "~$bao-cao-quy-2.docx": b"lock",
        "Thumbs.db": b"x",
        ".DS_Store": b"x",
    }.items():
        (inbox / name).write_bytes(data)

    listed = [entry.name for entry in list_inbox(str(inbox))]
    assert "Thumbs.db" not in listed and "~$bao-cao-quy-2.docx" not in listed
    assert len(listed) == 11

    report = ingest_submissions()

    assert report.listed == len(listed)
    rows = _published(settings, "select file_name, unit_code, period, status from mart.submissions")
    names = [r[0] for r in rows]
    # Listed = recorded: a plain file by its name, an unpacked archive by its members.
    for name in listed:
        assert name in names or any(n.startswith(f"{name}/") for n in names), name
    assert sorted(n for n in names if n.startswith("cac-thon.zip/")) == sorted(
        [
            f"cac-thon.zip/{zipped_book}_{PERIOD}.xlsx",
            "cac-thon.zip/anh-bien-ban.jpg",
            f"cac-thon.zip/{zipped_word}/bao-cao.docx",
        ]
    )
    by_name = {r[0]: r for r in rows}
    for name, unit in (
        ("bao-cao-quy-2.docx", word_unit),
        (f"cac-thon.zip/{zipped_book}_{PERIOD}.xlsx", zipped_book),
        (f"cac-thon.zip/{zipped_word}/bao-cao.docx", zipped_word),
        ("xuat-unicode.txt", text_unit),
    ):
        assert by_name[name][1:] == (unit, PERIOD, "accepted"), name
        loaded = dict(
            _published(
                settings,
                "select element_code, value from mart.data_values where unit_code = ? "
                "and period = ?",
                unit,
                PERIOD,
            )
        )
        assert expected[unit] and loaded == pytest.approx(expected[unit]), name

    errors: dict[str, list[tuple[Any, ...]]] = {}
    for r in _published(
        settings,
        "select file_name, error_code, sheet, cell from mart.submission_errors "
        "where severity = 'error' order by submission_id, line",
    ):
        errors.setdefault(r[0], []).append(r[1:])
    answered = {
        "anh-chup.jpg": "R-FILE-FORMAT",
        "ban-scan.pdf": "R-FILE-FORMAT",
        "bao-cao-cu.doc": "R-FILE-FORMAT",
        "nen.rar": "R-FILE-FORMAT",
        "nen.7z": "R-FILE-FORMAT",
        "cac-thon.zip/anh-bien-ban.jpg": "R-FILE-FORMAT",
        "mat-khau.xlsx": "R-FILE-PASSWORD",
        "bom.zip": "R-FILE-UNPACKED-TOO-BIG",
    }
    for name, code in answered.items():
        assert errors[name] == [(code, None, None)], name
        assert by_name[name][3] == "rejected"
    # Header on row 1 of `Bảng 1`, the slipped value on row 2.
    assert errors["bao-cao-sai.docx"][0] == (
        "R-VALUE-NOT-NUMBER",
        "Bảng 1",
        f"{get_column_letter(value_column + 1)}2",
    )

    # The run's report names members as the warehouse does.
    assert {f.file for f in report.files} == set(names)
    assert report.run_report is not None
    page = Path(report.run_report).read_text(encoding="utf-8")
    assert f"cac-thon.zip/{zipped_word}/bao-cao.docx" in page

    # The unit's feedback names the table and the cell too.
    cell = f"{get_column_letter(value_column + 1)}2"
    feedback = next(Path(p) for p in report.feedback if "bao-cao-sai" in p)
    found = load_workbook(feedback)["Lỗi cần sửa"]
    texts = [str(c) for row in found.iter_rows(values_only=True) for c in row if c]
    assert any(f"'Bảng 1', ô {cell}" in t and "khoảng năm" in t for t in texts)

    # Originals are kept: the archive itself and each member, content-addressed.
    kept = {p.suffix for p in settings.archive.rglob("*") if p.is_file()}
    assert {".zip", ".docx", ".xlsx", ".txt", ".jpg", ".pdf", ".doc", ".rar", ".7z"} <= kept

    again = ingest_submissions()
    assert again.new == 0
    assert again.load is not None and again.load.imported == again.load.updated == 0
