"""Zip archives of submissions: each member is a submission of its own, `ARCHIVE.zip/MEMBER`.

`unpack` opens an archive and takes its members out, within the reading limits applied to the
whole and to each member: at most `MAX_MEMBERS` members, no member larger than a file may be,
all of them together no larger than `max_unpacked_bytes` (sizes checked as declared, then as
really inflated), a sane compression ratio, no absolute or `..` names, no encryption. One
level only: a zip inside the zip is a member that is answered `R-FILE-ARCHIVE-NESTED`. System
junk (`__MACOSX/`, `.DS_Store`, `Thumbs.db`, lock files) is skipped as in the inbox; every
other member is kept, whatever its format, so that it is answered rather than dropped.

Archives come from outside: `unpack_many` runs `unpack` only in worker processes
(`sources.pool.run_isolated`, with the memory and time limits of reading), so a hostile
archive costs that archive and nothing else. A member's URL is fsspec's chained form
`zip://MEMBER::ARCHIVE-URL`, which names both the member and where its archive was found.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.model import ReadIssue, issue
from sources.guard import MAX_RATIO, RATIO_MIN_BYTES, ZIP_MAGIC, Limits
from sources.pool import run_isolated
from sources.values import period_of_cell

ARCHIVE_SUFFIXES = frozenset({".zip"})
MAX_MEMBERS = 200
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx"})
# `~$x.xlsx` (Excel), `.~lock.x.ods#` (LibreOffice), `._x.xlsx` (macOS resource forks).
_JUNK_PATTERN = re.compile(r"^(~\$|\.~lock\.|\._)")
_MEMBER_URL = re.compile(r"^zip://(?P<member>.+?)::(?P<archive>.+)$", re.S)
_READ_CHUNK = 1 << 20


def is_junk(name: str) -> bool:
    """Whether a file or folder name is housekeeping, not a submission (lock files…)."""
    return name.lower() in _JUNK_NAMES or bool(_JUNK_PATTERN.match(name))


def is_archive(name: str) -> bool:
    """Whether a file name is a zip archive's."""
    return PurePosixPath(name).suffix.lower() in ARCHIVE_SUFFIXES


def is_member_name(name: str) -> bool:
    """Whether a submission name is an archive member's (`ARCHIVE.zip/MEMBER`)."""
    head, _, tail = name.partition("/")
    return bool(tail) and is_archive(head)


def member_url(archive_url: str, member: str) -> str:
    """The URL of a member: `zip://MEMBER::ARCHIVE-URL`."""
    return f"zip://{member}::{archive_url}"


def split_member_url(url: str) -> tuple[str, str] | None:
    """(archive URL, member path) of a member URL, None for any other URL."""
    match = _MEMBER_URL.match(url)
    return (match.group("archive"), match.group("member")) if match else None


def unit_folder_of(url: str, folders: Mapping[str, str | None]) -> str | None:
    """The unit folder of a listed file or a member: a member's nearest folder inside the
    archive that is not a period, else the archive's own unit folder.

    Args:
        url: a listed file's URL or a member URL.
        folders: listed URL -> its unit folder (`InboxEntry.unit_folder`).
    """
    split = split_member_url(url)
    if split is None:
        return folders.get(url)
    archive_url, member = split
    inside = [part for part in PurePosixPath(member).parts[:-1] if period_of_cell(part) is None]
    return inside[-1] if inside else folders.get(archive_url)


@dataclass(frozen=True, slots=True)
class Member:
    """One file taken out of an archive."""

    name: str  # `ARCHIVE.zip/inner/path.xlsx`: how the unit and the warehouse see it
    path: str  # the path inside the archive
    data: bytes


@dataclass(slots=True)
class Unpacked:
    """An archive's members, or the issue that rejects the whole archive."""

    members: list[Member] = field(default_factory=list)
    issue: ReadIssue | None = None


def unpack(name: str, data: bytes, limits: Limits) -> Unpacked:
    """Takes the members out of one archive, or says why the archive is rejected.

    Run it on untrusted bytes only in a worker (`unpack_many`): inflating is what a zip bomb
    attacks.

    Args:
        name: the archive's file name, as listed.
        data: its bytes.
        limits: the reading limits.

    Returns:
        The members (junk skipped, in archive order), or an `R-FILE-*` issue and no members.
    """
    if len(data) > limits.max_file_bytes:
        return _rejected("R-FILE-TOO-BIG", file=name, size=len(data), limit=limits.max_file_bytes)
    if not data.startswith(ZIP_MAGIC):
        return _rejected("R-FILE-CORRUPT", file=name, detail="nội dung không phải tệp nén .zip")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _unpack(name, archive, limits)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        detail = f"tệp nén hỏng hoặc bị cắt cụt: {exc}"
        return _rejected("R-FILE-CORRUPT", file=name, detail=detail)


def _rejected(code: str, **params: object) -> Unpacked:
    return Unpacked(issue=issue(code, None, **params))


def _unpack(name: str, archive: zipfile.ZipFile, limits: Limits) -> Unpacked:
    infos = _listed(name, archive)
    if isinstance(infos, Unpacked):
        return infos
    refused = _over_limits(name, infos, limits)
    if refused is not None:
        return refused
    members = []
    for info in infos:
        content = _inflate(archive, info)
        if content is None:
            detail = f"mục '{info.filename}' giải nén ra nhiều hơn kích thước khai báo"
            return _rejected("R-FILE-UNPACKED-TOO-BIG", file=name, detail=detail)
        path = info.filename.replace("\\", "/")
        members.append(Member(f"{name}/{path}", path, content))
    return Unpacked(members)


def _listed(name: str, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo] | Unpacked:
    """The members to read (no folders, no junk), or the refusal of an unsafe or empty archive."""
    infos = []
    for info in archive.infolist():
        path = info.filename.replace("\\", "/")
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts or ":" in path:
            return _rejected("R-FILE-UNSAFE", file=name, detail=f"mục nén '{info.filename}'")
        if info.is_dir() or any(is_junk(part) for part in parts):
            continue
        infos.append(info)
    if len(infos) > MAX_MEMBERS:
        return _rejected("R-FILE-ARCHIVE-TOO-MANY", file=name, count=len(infos), limit=MAX_MEMBERS)
    if not infos:
        return _rejected("R-FILE-ARCHIVE-EMPTY", file=name)
    return infos


def _over_limits(name: str, infos: list[zipfile.ZipInfo], limits: Limits) -> Unpacked | None:
    """The refusal of an archive whose declared sizes break the limits, before inflating any."""
    total = 0
    for info in infos:
        if info.flag_bits & 1:
            return _rejected("R-FILE-PASSWORD", file=f"{name}/{info.filename}")
        if info.file_size > limits.max_file_bytes:
            return _rejected(
                "R-FILE-TOO-BIG",
                file=f"{name}/{info.filename}",
                size=info.file_size,
                limit=limits.max_file_bytes,
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > limits.max_unpacked_bytes or (
            info.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO
        ):
            detail = f"{total} byte sau giải nén, tỉ lệ nén {ratio:.0f} lần ở '{info.filename}'"
            return _rejected("R-FILE-UNPACKED-TOO-BIG", file=name, detail=detail)
    return None


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """The member's bytes, or None when it inflates past its declared size (a lying zip)."""
    out = bytearray()
    with archive.open(info) as part:
        while chunk := part.read(_READ_CHUNK):
            out += chunk
            if len(out) > info.file_size:
                return None
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _Job:
    name: str
    data: bytes
    limits: Limits


def _work(job: _Job) -> Unpacked:
    return unpack(job.name, job.data, job.limits)


def _failed(job: _Job, reason: str) -> Unpacked:
    if reason == "timeout":
        return _rejected("R-FILE-TIMEOUT", file=job.name, seconds=job.limits.read_timeout_seconds)
    return _rejected("R-FILE-CRASH", file=job.name)


def unpack_many(
    archives: Sequence[tuple[str, bytes]], limits: Limits, workers: int | None = None
) -> list[Unpacked]:
    """`unpack` of every (name, bytes) archive, each in a worker process under the limits.

    Args:
        archives: the archives' names and bytes.
        limits: the reading limits: memory and time per archive as for reading a file.
        workers: worker processes; default the limits' `workers`.

    Returns:
        One result per archive, in order; an archive that crashed or hung its worker is
        rejected with `R-FILE-CRASH` or `R-FILE-TIMEOUT`.
    """
    jobs = [_Job(name, data, limits) for name, data in archives]
    return run_isolated(
        jobs,
        _work,
        _failed,
        workers=min(workers or limits.workers, max(len(jobs), 1)),
        timeout=limits.read_timeout_seconds,
        memory_bytes=limits.read_memory_bytes,
        chunk_size=1,
    )
