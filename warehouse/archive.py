"""The archive of received files: content-addressed, written once, never deleted."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")


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
    data: bytes, *, name: str, url: str, archive_dir: Path, received_at: datetime
) -> Receipt:
    """Keep a copy of a received file under its SHA-256 and describe the receipt.

    The copy is written to a temporary name, flushed to disk and renamed, so the archive never
    holds a partial file; bytes already archived are not written again.

    Args:
        data: the file's bytes, as fetched.
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
    sha256 = hashlib.sha256(data).hexdigest()
    target = archived_path(archive_dir, sha256, name)
    if not target.is_file() or target.stat().st_size != len(data):
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o444)
        temporary.replace(target)
    return Receipt(
        sha256=sha256,
        size=len(data),
        name=name,
        url=url,
        received_at=received_at,
        archived_path=target,
    )
