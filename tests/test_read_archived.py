"""Reading files of the archive: the receipt's identity is taken, the bytes read by workers."""

from __future__ import annotations

from pathlib import Path

from filemakers import template, write

from sources.inbox import InboxEntry
from sources.read import read_many


def _entry(path: Path, sha256: str | None = None) -> InboxEntry:
    return InboxEntry(str(path), path.name, path.stat().st_size, None, sha256=sha256)


def test_an_archived_file_is_read_by_its_worker_with_the_receipts_hash(tmp_path: Path) -> None:
    good = write(tmp_path / "THON-01_2026Q3.xlsx", template())
    hostile = tmp_path / "hong.xlsx"
    hostile.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    receipt_hash = "f" * 64  # not the bytes' hash: a hash computed again would differ
    direct, crafted = read_many([_entry(good), _entry(hostile)])
    archived, hostile_archived = read_many(
        [_entry(good, receipt_hash), _entry(hostile, receipt_hash)]
    )
    assert archived.sha256 == receipt_hash and direct.sha256 != receipt_hash
    assert (archived.unit_code, archived.period) == (direct.unit_code, direct.period)
    assert archived.values == direct.values and archived.progress == direct.progress
    assert archived.issues == direct.issues == []
    # A broken file read by its worker is answered as when read here.
    assert [i.code for i in hostile_archived.issues] == [i.code for i in crafted.issues] != []
