"""The archive of received files: content-addressed, written once, never deleted."""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Receipt:
    """One file as received: its bytes' identity, where it came from, when, and its copy."""

    sha256: str
    size: int
    name: str
    url: str
    received_at: datetime
    archived_path: Path


def archived_path(archive_dir: Path, sha256: str, name: str) -> Path:
    """Where the bytes with this hash live; the suffix is kept so readers know the format."""
    suffix = PurePosixPath(name).suffix.lower()
    return archive_dir / sha256[:2] / (sha256 + (suffix if _SUFFIX.match(suffix) else ""))


def archive(
    source: bytes | BinaryIO,
    *,
    name: str,
    url: str,
    archive_dir: Path,
    received_at: datetime,
) -> Receipt:
    """Keep a copy of a received file under its SHA-256 and describe the receipt.

    The bytes are streamed to a temporary name in chunks, hashed on the way, flushed to disk
    and renamed, so the archive never holds a partial file and a file of any size is kept
    without being held in memory; bytes already archived are not written again.

    Args:
        source: the file's bytes, or an open binary file to read them from.
        name: the file's original name.
        url: where it was fetched from.
        archive_dir: the archive's root folder.
        received_at: when it was received; must carry a time zone.

    Returns:
        The receipt, to be passed to `warehouse.load.load` with the file's verdict.

    Raises:
        ValueError: `received_at` has no time zone.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must carry a time zone")
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    archive_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    temporary = archive_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with temporary.open("wb") as handle:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        sha256 = digest.hexdigest()
        target = archived_path(archive_dir, sha256, name)
        if target.is_file() and target.stat().st_size == size:
            temporary.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary.chmod(0o444)
            temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return Receipt(
        sha256=sha256,
        size=size,
        name=name,
        url=url,
        received_at=received_at,
        archived_path=target,
    )
