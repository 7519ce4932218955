"""Text exports (.csv, .tsv, .txt): their encoding, their separator, and one grid.

Encodings, in the order they are tried: a BOM (UTF-8, UTF-16 LE/BE: Excel's "Unicode Text"),
UTF-16 without a BOM (a NUL in every other byte of ASCII text), UTF-8, then the 8-bit
encodings Vietnamese offices still use. Of those, TCVN3 (ABC, the `.VnTime` fonts) and
Windows-1258 are told apart by where their letters sit: TCVN3 puts the most common Vietnamese
letters (á à ả ã ạ â ă đ ơ ư ê ô) in 0xA1-0xBE, a range where Windows-1258 holds only
punctuation and symbols. VNI-Windows writes a letter as an ASCII letter plus a Latin-1 mark
(`ñ` for đ, `ö` for ư, `ø ù û õ ï` for the tones): it is recognised, but not converted,
because its marks and real Latin-1 letters cannot be told apart one by one; the unit is asked
to convert the file to Unicode.

The separator is the one of tab, semicolon and comma that splits the first lines into the same
number of fields most often (the csv module's sniffer, else the most frequent in the first
line).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from core.text import canonical

TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# TCVN3 (TCVN 5712:1993, VN3): byte -> letter. Capital toned letters have no code in it (they
# are typed in a separate capitals font), so only the seven capital shapes appear.
_TCVN3 = {
    0xA1: "Ă", 0xA2: "Â", 0xA3: "Ê", 0xA4: "Ô", 0xA5: "Ơ", 0xA6: "Ư", 0xA7: "Đ",
    0xA8: "ă", 0xA9: "â", 0xAA: "ê", 0xAB: "ô", 0xAC: "ơ", 0xAD: "ư", 0xAE: "đ",
    0xB5: "à", 0xB6: "ả", 0xB7: "ã", 0xB8: "á", 0xB9: "ạ",
    0xBB: "ằ", 0xBC: "ẳ", 0xBD: "ẵ", 0xBE: "ắ", 0xC6: "ặ",
    0xC7: "ầ", 0xC8: "ẩ", 0xC9: "ẫ", 0xCA: "ấ", 0xCB: "ậ",
    0xCC: "è", 0xCE: "ẻ", 0xCF: "ẽ", 0xD0: "é", 0xD1: "ẹ",
    0xD2: "ề", 0xD3: "ể", 0xD4: "ễ", 0xD5: "ế", 0xD6: "ệ",
    0xD7: "ì", 0xD8: "ỉ", 0xDC: "ĩ", 0xDD: "í", 0xDE: "ị",
    0xDF: "ò", 0xE1: "ỏ", 0xE2: "õ", 0xE3: "ó", 0xE4: "ọ",
    0xE5: "ồ", 0xE6: "ổ", 0xE7: "ỗ", 0xE8: "ố", 0xE9: "ộ",
    0xEA: "ờ", 0xEB: "ở", 0xEC: "ỡ", 0xED: "ớ", 0xEE: "ợ",
    0xEF: "ù", 0xF1: "ủ", 0xF2: "ũ", 0xF3: "ú", 0xF4: "ụ",
    0xF5: "ừ", 0xF6: "ử", 0xF7: "ữ", 0xF8: "ứ", 0xF9: "ự",
    0xFA: "ỳ", 0xFB: "ỷ", 0xFC: "ỹ", 0xFD: "ý", 0xFE: "ỵ",
}  # fmt: skip
# VNI's đ/Đ, ư/Ư and tone marks as single bytes; none is a Vietnamese letter in Windows-1258.
_VNI_MARKS = frozenset(b"\xf1\xd1\xf6\xd6\xf8\xd8\xef\xcf\xfb\xdb")
_SAMPLE = 65536


class LegacyEncoding(Exception):
    """The text is in an 8-bit Vietnamese font encoding that is recognised but not converted."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class Decoded:
    """A text file's characters and the encoding they were read with."""

    text: str
    encoding: str


def decode(data: bytes) -> Decoded | None:
    """The text of a text export, or None when no encoding fits.

    Raises:
        LegacyEncoding: the bytes are VNI-Windows text.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            name = "utf-8" if encoding == "utf-8-sig" else _utf16_name(bom)
            return Decoded(data.decode(encoding, errors="replace"), name)
    head = data[:4096]
    if head and head.count(0) > len(head) // 4:
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        return Decoded(data.decode(encoding, errors="replace"), encoding)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    high = [b for b in data[:_SAMPLE] if b >= 0x80]
    if not high:  # pragma: no cover - plain ASCII decodes as UTF-8 above
        return Decoded(data.decode("ascii", errors="replace"), "ascii")
    in_symbols = sum(1 for b in high if 0xA1 <= b <= 0xBE)
    if in_symbols * 3 >= len(high) and all(b in _TCVN3 for b in high):
        return Decoded("".join(_TCVN3.get(b, chr(b)) for b in data), "tcvn3")
    if sum(1 for b in high if b in _VNI_MARKS) * 5 >= len(high):
        raise LegacyEncoding("VNI")
    try:
        return Decoded(data.decode("cp1258"), "cp1258")
    except UnicodeDecodeError:
        return None


def _utf16_name(bom: bytes) -> str:
    return "utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be"


def sniff_delimiter(text: str) -> str:
    """The separator of a text export: tab, semicolon or comma."""
    sample = text[:8192]
    try:
        return csv.Sniffer().sniff(sample, delimiters="\t;,").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max("\t;,", key=first.count)


class TooManyCells(Exception):
    """The text holds more cells than the reading limit allows."""

    def __init__(self, cells: int) -> None:
        super().__init__(cells)
        self.cells = cells


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def rows_of(text: str, max_cells: int) -> list[list[object]]:
    """The records of a decoded text export, each cell in canonical spelling.

    Raises:
        TooManyCells: more than `max_cells` cells.
        csv.Error: a record the csv module cannot take (a field past its limit...).
    """
    delimiter = sniff_delimiter(text)
    dialect = type("Sniffed", (csv.excel,), {"delimiter": delimiter})
    rows: list[list[object]] = []
    cells = 0
    for record in csv.reader(io.StringIO(text, newline=""), dialect):
        cells += len(record)
        if cells > max_cells:
            raise TooManyCells(cells)
        # Windows-1258 text arrives with combining tone marks; one spelling from here on. A
        # control character is shown, not dropped: `\x1f` in place of a 3 is not a blank.
        rows.append([canonical(_CONTROL.sub("\ufffd", cell)) for cell in record])
    return rows
