"""Protection against hostile or broken files: cheap checks first, then parsing, in workers.

Two layers. `check_structure` looks only at what is cheap to look at: the file size, the zip
central directory (declared uncompressed sizes, compression ratio, entry names), the first
bytes of every XML part (a DOCTYPE means entity tricks) and the `<dimension ref>` each xlsx
sheet claims. What survives is parsed. `sources.read.read_many` runs both in worker
processes (`sources.pool.run_isolated`) with an address-space limit and a per-file timeout,
so that even the zip library looking at a hostile file does it there: a reader that crashes,
aborts on an allocation or hangs costs one worker and one file, never the run.

A zip can lie about its sizes and a sheet about its dimension; the workers' limits catch those.
ODS and XLS files get no dimension pre-check: calamine expands neither repeated empty ODS rows
nor XLS dimension records into cells, and a sheet that really holds too many cells is caught
after loading (`R-FILE-TOO-MANY-CELLS`) or by the memory limit (`R-FILE-CRASH`).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element as StdElement
from xml.etree.ElementTree import fromstring as std_fromstring

import olefile
from defusedxml import ElementTree

from core.model import ReadIssue, issue

if TYPE_CHECKING:
    from core.settings import Settings

SUPPORTED_SUFFIXES = frozenset(
    {".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".tsv", ".txt", ".docx", ".zip"}
)
_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
# Office's password encryption wraps the real file in an OLE container with this stream.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_NOT_A_ZIP = {
    ".docx": "nội dung không phải tài liệu Word .docx",
    ".zip": "nội dung không phải tệp nén .zip",
}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Real sheet XML compresses 10-30x; a part that inflates much more and is large is a bomb.
MAX_RATIO = 200
RATIO_MIN_BYTES = 10 * 1024 * 1024
_PREFIX_BYTES = 4096
# Deflate never needs more than this much input for `_PREFIX_BYTES` of output (nor for the
# first bytes of a part that `inflate` is asked for without the rest).
_RAW_PREFIX_BYTES = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
# BIFF record types carry a version in their high byte: 0x00-0x02 (BIFF2-3 and BIFF8's plain
# records), 0x04 (BIFF4, SHRFMLA), 0x08 (BIFF5+ BOF and the later "future" records), 0x10
# (charts). A record's data is at most 8,224 bytes.
_BIFF_HIGH_BYTES = frozenset({0x00, 0x01, 0x02, 0x04, 0x08, 0x10})
_BIFF_MAX_RECORD = 8224
_BIFF_BOF, _BIFF_EOF = 0x0809, 0x000A
# Records whose length BIFF3-8 fixes (EOF, BLANK, NUMBER, BOOLERR, ROW, LABELSST, RK) or bounds
# (HEADER, FOOTER: 255 characters): another length means a flipped length byte, after which a
# reader walks the stream out of step and skips whatever the wrong length covers.
_BIFF_LENGTHS = {0x000A: 0, 0x0201: 6, 0x0203: 14, 0x0205: 8, 0x0208: 16, 0x00FD: 10, 0x027E: 10}
_BIFF_MAX_LENGTHS = {0x0014: 513, 0x0015: 513}
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?"')


@dataclass(frozen=True, slots=True)
class Limits:
    """The reading limits of `core.settings.Settings`, small enough to send to workers."""

    max_file_bytes: int
    max_unpacked_bytes: int
    max_cells: int
    read_timeout_seconds: float
    read_memory_bytes: int
    # Worker processes at once: with the memory cap, they hold at most workers × that.
    workers: int = 1

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits of a settings object."""
        return cls(
            settings.max_file_bytes,
            settings.max_unpacked_bytes,
            settings.max_cells,
            settings.read_timeout_seconds,
            settings.read_memory_bytes,
            settings.read_workers,
        )


def _column_number(letters: str) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


def check_structure(name: str, data: bytes, limits: Limits) -> ReadIssue | None:
    """The cheap, in-process checks of one file.

    Args:
        name: the file name as listed (its suffix decides text, workbook, .docx or .zip).
        data: the file's bytes.
        limits: the reading limits.

    Returns:
        The issue that rejects the file (an `R-FILE-*` code), or None when it may be parsed.
    """
    return check_and_open(name, data, limits)[0]


def check_and_open(
    name: str, data: bytes, limits: Limits
) -> tuple[ReadIssue | None, zipfile.ZipFile | None]:
    """`check_structure`, and the zip archive it opened for an accepted workbook or document:
    whoever looks into its parts next reuses the central directory read for the checks.

    Returns:
        (the issue that rejects the file or None, the opened archive or None).
    """
    suffix = suffix_of(name)
    if suffix not in SUPPORTED_SUFFIXES:
        return issue("R-FILE-FORMAT", file=name, ext=suffix or "không có"), None
    if len(data) > limits.max_file_bytes:
        found = issue("R-FILE-TOO-BIG", file=name, size=len(data), limit=limits.max_file_bytes)
        return found, None
    if suffix in _TEXT_SUFFIXES:
        return None, None
    if data.startswith(OLE_MAGIC):
        if _ENCRYPTED_STREAM in data:
            return issue("R-FILE-PASSWORD", file=name), None
        if suffix == ".docx":
            detail = "tệp Word cũ (.doc) được đổi đuôi thành .docx"
            return issue("R-FILE-CORRUPT", file=name, detail=detail), None
        return _check_biff(name, data), None
    if not data.startswith(ZIP_MAGIC):
        detail = _NOT_A_ZIP.get(suffix, "nội dung không phải bảng tính Excel")
        return issue("R-FILE-CORRUPT", file=name, detail=detail), None
    if suffix == ".zip":
        # An archive's own checks run where it is unpacked (`sources.archives`).
        return None, None
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        rejected = _check_zip(name, archive, memoryview(data), limits)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        detail = f"tệp nén hỏng hoặc bị cắt cụt: {exc}"
        return issue("R-FILE-CORRUPT", file=name, detail=detail), None
    return rejected, (archive if rejected is None else None)


def suffix_of(name: str) -> str:
    """`PurePosixPath(name).suffix.lower()`, without building a path for a plain name."""
    if not name or name.endswith(("/", "/.")) or "/./" in name or name == ".":
        return PurePosixPath(name).suffix.lower()
    last = name.rpartition("/")[2]
    i = last.rfind(".")
    return last[i:].lower() if 0 < i < len(last) - 1 else ""


def _check_biff(name: str, data: bytes) -> ReadIssue | None:
    """The records of a legacy workbook's stream: a record no reader knows is a corrupt file.

    BIFF readers skip record types they do not know, so a flipped byte in the type of the
    record holding a number makes the number vanish in silence. Record types carry their BIFF
    version in the high byte (`_BIFF_HIGH_BYTES`); any other, or a record longer than BIFF
    allows or of another length than its type has, inside a BOF…EOF substream rejects the
    file. What olefile cannot open is left to the reader, which rejects it with its own words.
    """
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
            if stream is None:
                return None
            body = ole.openstream(stream).read()
    except Exception:  # noqa: BLE001 - a broken container is the reader's to report
        return None
    offset, depth = 0, 0
    while offset + 4 <= len(body):
        kind, length = struct.unpack_from("<HH", body, offset)
        if kind == _BIFF_BOF:
            depth += 1
        elif depth == 0:
            break  # past the last substream: the stream's padding
        elif (
            kind >> 8 not in _BIFF_HIGH_BYTES
            or length > _BIFF_MAX_LENGTHS.get(kind, _BIFF_MAX_RECORD)
            or length != _BIFF_LENGTHS.get(kind, length)
        ):
            detail = (
                f"bản ghi không hợp lệ (loại 0x{kind:04X}, dài {length} byte) ở byte {offset} "
                f"của luồng {stream}"
            )
            return issue("R-FILE-CORRUPT", file=name, detail=detail)
        elif kind == _BIFF_EOF:
            depth -= 1
        offset += 4 + length
    return None


def inflate(
    archive: zipfile.ZipFile, data: bytes | memoryview, info: zipfile.ZipInfo, limit: int
) -> bytes:
    """At most `limit` bytes of a part of `archive` (opened on `data`), from its start.

    Inflated straight from the file's bytes: `ZipFile.open` costs more than the inflating,
    a dozen times per workbook; it is kept for what is not plain stored or deflated data. No
    CRC is checked: the parts are looked at, the file is read by its reader.
    """
    raw = _raw(data, info, limit)
    if raw is None:
        with archive.open(info) as part:
            return part.read(limit)
    return _inflated(info.compress_type, raw, limit)


def _raw(data: bytes | memoryview, info: zipfile.ZipInfo, limit: int) -> memoryview | None:
    """The stored bytes `inflate` needs for `limit` bytes of a part: what they inflate to
    depends on nothing else. None for a part that is neither plain stored nor deflated."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
        return None
    offset = info.header_offset
    local = bytes(data[offset : offset + _LOCAL_HEADER.size])
    if len(local) < _LOCAL_HEADER.size or not local.startswith(ZIP_MAGIC):
        raise zipfile.BadZipFile(f"phần đầu mục nén hỏng ở '{info.filename}'")
    name_length, extra_length = _LOCAL_HEADER.unpack(local)[-2:]
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    if info.compress_type == zipfile.ZIP_STORED:
        size = min(info.compress_size, limit)
    elif limit >= info.file_size:
        size = info.compress_size
    else:
        size = min(info.compress_size, _RAW_PREFIX_BYTES)
    return memoryview(data)[start : start + size]


def _inflated(compress_type: int, raw: bytes | memoryview, limit: int) -> bytes:
    if compress_type == zipfile.ZIP_STORED:
        return bytes(raw[:limit])
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit)


@dataclass(frozen=True, slots=True)
class _Head:
    """What the checks look for in a part's first `_PREFIX_BYTES`."""

    declares_entities: bool
    # The cells a sheet's `<dimension ref>` claims, or None.
    cells: int | None

    @classmethod
    def of(cls, head: bytes) -> _Head:
        match = _DIMENSION.search(head)
        cells = None
        if match and match.group(3):
            rows = int(match.group(4)) - int(match.group(2)) + 1
            columns = (
                _column_number(match.group(3).decode())
                - _column_number(match.group(1).decode())
                + 1
            )
            cells = rows * columns
        return cls(b"<!DOCTYPE" in head or b"<!ENTITY" in head, cells)


# Workbooks made from one template share most parts byte for byte (theme, styles, relations):
# what their stored bytes inflate to is looked at once. Small parts only, so the cache stays
# small; the key is the stored bytes themselves, which decide what they inflate to.
_CACHED_RAW_BYTES = 8 * 1024


@lru_cache(maxsize=256)
def _cached_head(compress_type: int, raw: bytes) -> _Head:
    return _Head.of(_inflated(compress_type, raw, _PREFIX_BYTES))


def _head(archive: zipfile.ZipFile, data: memoryview, info: zipfile.ZipInfo) -> _Head:
    """`_Head` of a part's first `_PREFIX_BYTES`, inflated straight from the file's bytes."""
    raw = _raw(data, info, _PREFIX_BYTES)
    if raw is None:
        return _Head.of(inflate(archive, data, info, _PREFIX_BYTES))
    if len(raw) <= _CACHED_RAW_BYTES:
        return _cached_head(info.compress_type, bytes(raw))
    return _Head.of(_inflated(info.compress_type, raw, _PREFIX_BYTES))


def _check_zip(
    name: str, archive: zipfile.ZipFile, data: memoryview, limits: Limits
) -> ReadIssue | None:
    infos = archive.infolist()
    total = 0
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
            return issue("R-FILE-UNSAFE", file=name, detail=f"mục nén '{info.filename}'")
        if info.flag_bits & 1:
            return issue("R-FILE-PASSWORD", file=name)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > limits.max_unpacked_bytes or (
            info.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO
        ):
            detail = f"{total} byte sau giải nén, tỉ lệ nén {ratio:.0f} lần ở '{info.filename}'"
            return issue("R-FILE-UNPACKED-TOO-BIG", file=name, detail=detail)
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        head = _head(archive, data, info)
        if head.declares_entities:
            detail = f"phần '{info.filename}' khai báo DOCTYPE/ENTITY (kiểu bom XML)"
            return issue("R-FILE-UNSAFE", file=name, detail=detail)
        if head.cells is not None and head.cells > limits.max_cells:
            sheet = sheet_parts(archive).get(info.filename, info.filename)
            return issue(
                "R-FILE-TOO-MANY-CELLS",
                file=name,
                sheet=sheet,
                cells=head.cells,
                limit=limits.max_cells,
            )
    return None


def sheet_parts(archive: zipfile.ZipFile, data: bytes | None = None) -> dict[str, str]:
    """Sheet XML part -> sheet name, from workbook.xml and its relationships.

    Args:
        archive: the opened workbook.
        data: the bytes it was opened on, if at hand: the two parts are then inflated from
            them directly (see `inflate`).
    """
    try:
        if data is None:
            workbook = archive.read("xl/workbook.xml")
            rels = archive.read("xl/_rels/workbook.xml.rels")
        else:
            infos = (
                archive.getinfo("xl/workbook.xml"),
                archive.getinfo("xl/_rels/workbook.xml.rels"),
            )
            workbook, rels = (inflate(archive, data, info, info.file_size) for info in infos)
    except KeyError:
        return {}
    return dict(_sheet_parts(workbook, rels))


# Workbooks made from one template share these two parts byte for byte: parsed once.
@lru_cache(maxsize=256)
def _sheet_parts(workbook_xml: bytes, rels_xml: bytes) -> tuple[tuple[str, str], ...]:
    try:
        workbook = _parse_xml(workbook_xml)
        rels = _parse_xml(rels_xml)
    except (ElementTree.ParseError, ValueError):
        return ()
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[rel.get("Id")] = target
    names = {}
    for element in workbook.iter():
        if element.tag.endswith("}sheet"):
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            if rid in targets:
                names[targets[rid]] = element.get("name", "")
    return tuple(names.items())


def _parse_xml(xml: bytes) -> StdElement:
    # Entity tricks need a document type declaration; without one the plain parser is as safe
    # as defusedxml's and costs half as much.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        return ElementTree.fromstring(xml)
    return std_fromstring(xml)


# ---------------------------------------------------------------------------------------------
# Worker processes
