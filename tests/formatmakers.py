"""Writers of the other formats units send: Word reports, zip archives, text exports in the
encodings of Vietnamese offices, password-protected workbooks.

A Word report is a list of blocks: a string is a paragraph, a list of rows is a table
(`docx_bytes`). Merged cells are given as ((row, column), (row, column)) corners, 0-based.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence

from docx import Document
from filemakers import (
    ELEMENTS,
    MOTTO,
    MOTTO2,
    PROGRESS,
    PROGRESS_HEADER,
    TITLE,
    VALUE_HEADER,
    to_cp1258_form,
)
from msoffcrypto.format.ooxml import OOXMLFile
from msoffcrypto.method import ecma376_agile
from msoffcrypto.method.container import ecma376_encrypted

STAMP = (2026, 1, 1, 0, 0, 0)
Block = str | Sequence[Sequence[object]]
Merge = tuple[tuple[int, int], tuple[int, int]]

WORD_VALUES: list[object] = ["3", "120", "1.234,5"]


def word_value_rows(values: Sequence[object] = WORD_VALUES) -> list[list[object]]:
    """The element rows of a Word report's value table, numbers typed as text."""
    return [[*element, value, None] for element, value in zip(ELEMENTS, values, strict=True)]


def word_report(
    unit: str = "THON-01",
    period: str = "Quý III/2026",
    values: Sequence[object] = WORD_VALUES,
) -> list[Block]:
    """A unit's quarterly report as a Word document: heading, labels, values and progress."""
    return [
        MOTTO,
        MOTTO2,
        TITLE,
        f"Mã đơn vị: {unit}",
        f"Kỳ báo cáo: {period}",
        "I. Số liệu chỉ tiêu",
        [VALUE_HEADER, *word_value_rows(values)],
        "II. Tiến độ thực hiện nhiệm vụ",
        [PROGRESS_HEADER, *PROGRESS],
        "Nghĩa Hưng, ngày 10 tháng 10 năm 2026",
    ]


def docx_bytes(blocks: Iterable[Block], merges: Sequence[Sequence[Merge]] = ()) -> bytes:
    """A .docx of the blocks; `merges[k]` are the merged ranges of the k-th table."""
    document = Document()
    tables = 0
    for block in blocks:
        if isinstance(block, str):
            document.add_paragraph(block)
            continue
        rows = [list(row) for row in block]
        width = max(len(row) for row in rows)
        table = document.add_table(rows=len(rows), cols=width)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                if cell is not None:
                    table.cell(i, j).text = str(cell)
        for (r0, c0), (r1, c1) in merges[tables] if tables < len(merges) else ():
            table.cell(r0, c0).merge(table.cell(r1, c1))
        tables += 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    """A zip of the members, with fixed timestamps; `encrypted` sets every member's
    "encrypted" flag (the bytes stay plain: a reader must refuse it before inflating)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    data = bytearray(buffer.getvalue())
    if encrypted:
        # zipfile clears the flag when writing: set bit 0 in each local and central header.
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            start = data.find(signature)
            while start != -1:
                data[start + offset] |= 1
                start = data.find(signature, start + 4)
    return bytes(data)


def text_export(rows: Sequence[Sequence[object]], encoding: str, delimiter: str) -> bytes:
    """Rows as a text export: `utf-16-le-bom` is Excel's "Unicode Text"; `tcvn3` and `vni`
    are the 8-bit font encodings."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    text = buffer.getvalue()
    if encoding == "utf-16-le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    if encoding == "tcvn3":
        return to_tcvn3(text)
    if encoding == "vni":
        return to_vni(text)
    if encoding == "cp1258":
        return to_cp1258_form(text).encode("cp1258")
    return text.encode(encoding)


_TCVN3_LOWER = "àảãáạăằẳẵắặâầẩẫấậđèẻẽéẹêềểễếệìỉĩíịòỏõóọôồổỗốộơờởỡớợùủũúụưừửữứựỳỷỹýỵ"
_TCVN3_BYTES = bytes(
    [0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xA8, 0xBB, 0xBC, 0xBD, 0xBE, 0xC6, 0xA9, 0xC7, 0xC8, 0xC9,
     0xCA, 0xCB, 0xAE, 0xCC, 0xCE, 0xCF, 0xD0, 0xD1, 0xAA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7,
     0xD8, 0xDC, 0xDD, 0xDE, 0xDF, 0xE1, 0xE2, 0xE3, 0xE4, 0xAB, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9,
     0xAC, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4, 0xAD, 0xF5, 0xF6, 0xF7,
     0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE]
)  # fmt: skip
_TCVN3_UPPER = {"Ă": 0xA1, "Â": 0xA2, "Ê": 0xA3, "Ô": 0xA4, "Ơ": 0xA5, "Ư": 0xA6, "Đ": 0xA7}


def to_tcvn3(text: str) -> bytes:
    """Text in TCVN3 (ABC): a capital toned letter is written as its small form, as the
    `.VnTime` fonts oblige (their capitals live in a separate `.VnTimeH` font)."""
    table = dict(zip(_TCVN3_LOWER, _TCVN3_BYTES, strict=True))
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        if ch in _TCVN3_UPPER:
            out.append(_TCVN3_UPPER[ch])
        elif ch in table:
            out.append(table[ch])
        elif ch.lower() in table:
            out.append(table[ch.lower()])
        else:
            out += ch.encode("ascii")
    return bytes(out)


# VNI-Windows: base letter, then a shape mark (â ê ô: 0xE2; ă: 0xEA; ơ ư: 0xF4/0xF6 as
# letters), then a tone mark (à ù û õ ï).
_VNI_TONES = {"\u0300": "ø", "\u0301": "ù", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}


def to_vni(text: str) -> bytes:
    """Text in VNI-Windows, close enough to be recognised (đ ñ, ư ö, ơ ô, tones as marks)."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", ch)
        base, marks = decomposed[0], decomposed[1:]
        if ch in "đĐ":
            out.append("ñ" if ch == "đ" else "Ñ")
            continue
        if "\u031b" in marks:  # horn: ơ, ư
            base = {"o": "ô", "u": "ö", "O": "Ô", "U": "Ö"}[base]
        elif "\u0302" in marks:
            base += "â"
        elif "\u0306" in marks:
            base += "ê"
        tone = next((_VNI_TONES[m] for m in marks if m in _VNI_TONES), "")
        out.append(base + tone)
    return "".join(out).encode("latin-1")


class _FixedClock(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _FixedClock:
        return cls(2026, 1, 1)


def encrypted(data: bytes, password: str = "khcn2026") -> bytes:
    """An Office file encrypted with a password, as Excel's "Encrypt with Password" saves it.

    The salts and keys come from a fixed sequence instead of the system's random source, and
    the container's timestamps from a fixed date, so the file is the same at every run.
    """
    counter = itertools.count()

    def fixed(size: int) -> bytes:
        return hashlib.sha256(f"khcn-{next(counter)}".encode()).digest()[:size].ljust(size, b"0")

    source = OOXMLFile(io.BytesIO(data))
    out = io.BytesIO()
    original, clock = ecma376_agile._random_buffer, ecma376_encrypted.datetime
    ecma376_agile._random_buffer = fixed
    ecma376_encrypted.datetime = _FixedClock
    try:
        source.encrypt(password, out)
    finally:
        ecma376_agile._random_buffer, ecma376_encrypted.datetime = original, clock
    return out.getvalue()
