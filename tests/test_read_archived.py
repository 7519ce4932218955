"""Reading files of the archive: the receipt's identity is taken, the bytes read by workers."""

from __future__ import annotations

from pathlib import Path

from filemakers import template, write

from sources.inbox import InboxEntry
from sources.read import read_local, read_many


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


def test_a_received_file_is_named_as_sent_and_read_from_its_archived_copy(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    copy = write(tmp_path / "archive" / "abcdef.xlsx", template())
    sent = "sftp://hop-thu/THON-01/THON-01_2026Q3.xlsx"  # never opened: the copy is read
    whole = copy.stat().st_size + 1_000  # as received; the copy may be read only to the limit
    entry = InboxEntry(
        sent, "THON-01_2026Q3.xlsx", whole, "THON-01", sha256="e" * 64, archived=str(copy)
    )
    [submission] = read_many([entry])
    assert (submission.url, submission.name, submission.size) == (
        sent,
        "THON-01_2026Q3.xlsx",
        whole,
    )
    assert submission.sha256 == "e" * 64
    assert submission.unit_code == "THON-01" and submission.values
    # Its cells name the file where the unit sent it, never the archive's copy.
    assert {row.ref.file for row in submission.values} == {sent}


def test_a_local_file_is_read_whole_or_one_byte_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "THON-01_2026Q3.xlsx"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    assert read_local(str(path), len(data)) == data
    assert read_local(str(path), 10 * len(data)) == data
    assert read_local(str(path), 100) == data[:101]  # too big: the extra byte says so
    path.write_bytes(b"")
    assert read_local(str(path), 100) == b""
