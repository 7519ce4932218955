"""The archive of received files: content-addressed, written once, never deleted."""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import chain, count
from pathlib import Path
from typing import BinaryIO

from core.names import storable
from sources.guard import Limits
from sources.inbox import RefusedFileError, open_source
from sources.pool import Pool

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_CHUNK = 1 << 20
_TEMPORARY = ".tmp-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_NUMBERS = count()


@dataclass(frozen=True, slots=True)
class Receipt:
    """One file as received: its bytes' identity, where it came from, when, and its copy.

    The copy's path is kept as text (`archived`): a run holds a receipt per file until it has
    published, and 100,000 `Path` objects take 50 MB where their text takes 20.
    """

    sha256: str
    size: int
    name: str
    url: str
    received_at: datetime
    archived: str

    @property
    def archived_path(self) -> Path:
        """The archived copy."""
        return Path(self.archived)


def archived_path(archive_dir: Path, sha256: str, name: str) -> str:
    """Where the bytes with this hash live; the suffix is kept so readers know the format."""
    suffix = posixpath.splitext(name.rpartition("/")[2])[1].lower()
    kept = suffix if _SUFFIX.match(suffix) else ""
    return f"{archive_dir}/{sha256[:2]}/{sha256}{kept}"


def archive(
    source: bytes | BinaryIO,
    *,
    name: str,
    url: str,
    archive_dir: Path,
    received_at: datetime,
    flush: bool = True,
) -> Receipt:
    """Keep a copy of a received file under its SHA-256 and describe the receipt.

    The bytes are written to a temporary name, flushed to disk and renamed, so the archive
    never holds a partial file; bytes already archived are not written again. A file of one
    chunk (every workbook a unit sends) is hashed before anything is written; a bigger one is
    streamed to the temporary name in chunks, hashed on the way, never held in memory whole.

    Args:
        source: the file's bytes, or an open binary file to read them from.
        name: the file's original name.
        url: where it was fetched from.
        archive_dir: the archive's root folder.
        received_at: when it was received; must carry a time zone.
        flush: wait for the bytes to reach the disk; a caller archiving many files passes
            False and calls `flush_archive` once, before anything refers to them.

    Returns:
        The receipt, to be passed to `warehouse.load.load` with the file's verdict.

    Raises:
        ValueError: `received_at` has no time zone.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must carry a time zone")
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    # A source may give fewer bytes than asked before its end: the file is whole once a read
    # gives none.
    first = stream.read(_CHUNK)
    more = stream.read(_CHUNK) if first else b""
    if not more:
        sha256, size = hashlib.sha256(first).hexdigest(), len(first)
        target = archived_path(archive_dir, sha256, name)
        if not _same_size(target, size):
            _place(_written(archive_dir, [first], flush), target)
    else:
        digest, size = hashlib.sha256(), 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in chain((first, more), iter(partial(stream.read, _CHUNK), b"")):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        temporary = _written(archive_dir, chunks(), flush)
        sha256 = digest.hexdigest()
        target = archived_path(archive_dir, sha256, name)
        if _same_size(target, size):
            os.unlink(temporary)
        else:
            _place(temporary, target)
    return Receipt(
        sha256=sha256, size=size, name=name, url=url, received_at=received_at, archived=target
    )


def _written(archive_dir: Path, chunks: Iterable[bytes], flush: bool) -> str:
    """A new temporary file in the archive's root holding `chunks`, created read-only (the
    creating descriptor still writes); removed again if writing fails."""
    while True:
        temporary = f"{archive_dir}/{_TEMPORARY}{os.getpid()}-{next(_NUMBERS)}"
        try:
            fd = os.open(temporary, _CREATE, 0o444)
        except FileExistsError:
            continue  # left by a process that had this one's id before
        except FileNotFoundError:
            archive_dir.mkdir(parents=True, exist_ok=True)
            continue
        break
    try:
        # Straight to the descriptor: the chunks are big already, and a buffer of a chunk's
        # size made for each 15 KB workbook cost a quarter of its copy's CPU.
        for chunk in chunks:
            _write_all(fd, chunk)
        if flush:
            os.fsync(fd)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        os.close(fd)
    return temporary


def _write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd` (a write may take fewer than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _place(temporary: str, target: str) -> None:
    """Rename a written temporary file to its place, its hash's folder made when missing; the
    temporary file is removed if it cannot be placed."""
    try:
        try:
            os.replace(temporary, target)
        except FileNotFoundError:
            os.makedirs(posixpath.dirname(target), exist_ok=True)
            os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _same_size(path: str, size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False


def flush_archive(archive_dir: Path) -> None:
    """Make every file archived without `flush` durable, renames included, at once.

    One `syncfs` of the archive's file system (Linux) instead of an fsync per file, which cost
    2 ms a file; elsewhere, `sync`.
    """
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    fd = os.open(archive_dir, os.O_RDONLY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def copy_in(url: str, name: str, received_at: datetime, archive_dir: Path) -> Receipt | str:
    """One listed file copied into the archive, not yet flushed (see `flush_archive`); the
    refusal (`REFUSALS`) when, opened, it is one the inbox refuses."""
    try:
        with open_source(url) as source:
            return archive(
                source,
                name=name,
                url=url,
                archive_dir=archive_dir,
                received_at=received_at,
                flush=False,
            )
    except RefusedFileError as exc:
        return exc.refusal


# Below this many files to copy, starting the copying processes costs more than they save.
POOLED_FROM = 5_000


def copy_in_many(
    listed: Sequence[tuple[str, str, datetime]], archive_dir: Path, limits: Limits
) -> list[Receipt | str | None]:
    """`copy_in` for each listed (url, name, received time), in `limits.workers` processes
    (at 100,000 files, copying takes ~26 s of one core); None for a file whose copy failed
    there, which the caller copies itself, to meet its error as one copy would."""
    with Pool(
        partial(_copy_in, archive_dir=archive_dir),
        _not_copied,
        workers=limits.workers,
        timeout=limits.read_timeout_seconds,
        memory_bytes=limits.read_memory_bytes,
        chunk_size=64,
    ) as pool:
        return pool.run(listed)


def _copy_in(listed: tuple[str, str, datetime], archive_dir: Path) -> Receipt | str:
    return copy_in(*listed, archive_dir=archive_dir)


def _not_copied(listed: tuple[str, str, datetime], reason: str) -> None:
    return None


def flush_archive_soon(archive_dir: Path) -> Future[None]:
    """`flush_archive` in a thread of its own, whose future the caller waits for before
    anything refers to the copies: reading them needs the page cache only, and a province's
    100,000 new copies take 3 s to reach the disk."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="khcn-flush")
    try:
        return pool.submit(flush_archive, archive_dir)
    finally:
        pool.shutdown(wait=False)


def received_before(
    db_path: Path, listed: Sequence[tuple[str, int, datetime]]
) -> dict[str, tuple[str, str]]:
    """The listed files (url, size, modification time) the warehouse registered before,
    by URL: their hash and archived copy's path, where that copy is still whole.

    A join of the listing with what is registered, so its cost follows the inbox, not the
    history. When the warehouse cannot be read (none yet, or another run is writing it),
    nothing is known and every file is received as new.
    """
    if not listed or not db_path.is_file():
        return {}
    # Imported here: the copying workers (`copy_in_many`) import this module, not the database.
    import duckdb

    from warehouse.db import sql

    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return {}
    try:
        rows = con.execute(
            sql("load/received_before"),
            {
                "urls": [storable(url) for url, _, _ in listed],
                "sizes": [size for _, size, _ in listed],
                "times": [when for _, _, when in listed],
            },
        ).fetchall()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    sizes = {storable(url): size for url, size, _ in listed}
    known = {}
    for url, sha256, archived in rows:
        try:
            whole = Path(archived).stat().st_size == sizes[url]
        except OSError:
            whole = False
        if whole:
            known[url] = (sha256, archived)
    return known
