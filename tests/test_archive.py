"""The archive of received files: content-addressed, whole or absent, read-only, written once."""

from __future__ import annotations

import hashlib
import io
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from core.settings import Settings
from sources.guard import Limits
from warehouse.archive import _CHUNK, Receipt, archive, copy_in, copy_in_many

RECEIVED = datetime(2026, 10, 5, 8, 30, tzinfo=UTC)


def _kept(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_a_file_is_kept_read_only_under_its_hash_with_its_suffix(tmp_path: Path) -> None:
    data = b"PK\x03\x04 a workbook's bytes"
    receipt = archive(
        data,
        name="Bao cao Q3.XLSX",
        url="/inbox/a.XLSX",
        archive_dir=tmp_path,
        received_at=RECEIVED,
    )
    sha256 = hashlib.sha256(data).hexdigest()
    assert (receipt.sha256, receipt.size) == (sha256, len(data))
    assert receipt.archived_path == tmp_path / sha256[:2] / f"{sha256}.xlsx"
    assert receipt.archived_path.read_bytes() == data
    assert stat.S_IMODE(receipt.archived_path.stat().st_mode) == 0o444
    assert _kept(tmp_path) == [receipt.archived_path]


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("bao cao", ""),
        ("bao-cao.tar.gz", ".gz"),
        (".xlsx", ""),
        ("a.x y", ""),
        ("dir/b.Ods", ".ods"),
    ],
)
def test_only_a_plain_suffix_is_kept(tmp_path: Path, name: str, suffix: str) -> None:
    receipt = archive(b"x", name=name, url="u", archive_dir=tmp_path, received_at=RECEIVED)
    assert receipt.archived_path.name == receipt.sha256 + suffix


def test_bytes_already_kept_are_not_written_again(tmp_path: Path) -> None:
    first = archive(b"same", name="a.xlsx", url="/a", archive_dir=tmp_path, received_at=RECEIVED)
    before = first.archived_path.stat()
    again = archive(
        io.BytesIO(b"same"), name="b.xlsx", url="/b", archive_dir=tmp_path, received_at=RECEIVED
    )
    assert again.archived == first.archived and again.url == "/b" and again.name == "b.xlsx"
    after = first.archived_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _kept(tmp_path) == [first.archived_path]


def test_a_file_bigger_than_a_chunk_is_streamed_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * (_CHUNK * 2 // 256) + b"tail"
    source = tmp_path / "big.csv"
    source.write_bytes(data)
    archive_dir = tmp_path / "archive"
    for _ in range(2):  # then again: the same copy, no temporary file left
        with source.open("rb") as handle:
            receipt = archive(
                handle,
                name="big.csv",
                url=str(source),
                archive_dir=archive_dir,
                flush=False,
                received_at=RECEIVED,
            )
        assert (receipt.sha256, receipt.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert receipt.archived_path.read_bytes() == data
        assert _kept(archive_dir) == [receipt.archived_path]


class _Raw(io.RawIOBase):
    """A source giving at most `per_read` bytes a read, as a network stream may, and failing
    after `reads` reads when given, as a share that drops."""

    def __init__(self, data: bytes, per_read: int, reads: int | None = None) -> None:
        self.data, self.per_read, self.reads = data, per_read, reads

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.reads is not None:
            if self.reads == 0:
                raise OSError("connection reset")
            self.reads -= 1
        given = self.data[: self.per_read if size < 0 else min(size, self.per_read)]
        self.data = self.data[len(given) :]
        return given


def _stream(data: bytes, per_read: int, reads: int | None = None) -> BinaryIO:
    return cast(BinaryIO, _Raw(data, per_read, reads))


def test_a_source_giving_less_than_asked_is_kept_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20
    receipt = archive(
        _stream(data, 1000), name="a.csv", url="u", archive_dir=tmp_path, received_at=RECEIVED
    )
    assert (receipt.size, receipt.archived_path.read_bytes()) == (len(data), data)


@pytest.mark.parametrize("chunks", [1, 3])
def test_a_source_failing_midway_leaves_nothing(tmp_path: Path, chunks: int) -> None:
    with pytest.raises(OSError, match="connection reset"):
        archive(
            _stream(b"x" * _CHUNK * 4, _CHUNK, reads=chunks),
            name="a.xlsx",
            url="u",
            archive_dir=tmp_path,
            received_at=RECEIVED,
        )
    assert _kept(tmp_path) == []


def test_a_reception_time_without_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time zone"):
        archive(b"x", name="a", url="u", archive_dir=tmp_path, received_at=datetime(2026, 1, 1))  # noqa: DTZ001
    assert _kept(tmp_path) == []


def test_copies_made_in_worker_processes_are_the_copies_made_here(tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    sent.mkdir()
    files = [sent / "a.xlsx", sent / "b.csv", sent / "big.xlsx"]
    for k, path in enumerate(files):
        path.write_bytes(bytes([k]) * (2 * _CHUNK + 7 if path.name == "big.xlsx" else 100 + k))
    listed = [(str(p), p.name, RECEIVED) for p in [*files, sent / "gone.xlsx"]]
    limits = Limits.of(Settings(data_dir=tmp_path / "data"))

    pooled = copy_in_many(listed, tmp_path / "pooled", limits)
    here = [copy_in(*each, archive_dir=tmp_path / "here") for each in listed[:-1]]

    for there, mine in zip(pooled[:-1], here, strict=True):
        assert isinstance(there, Receipt) and isinstance(mine, Receipt)
        assert (there.sha256, there.size, there.name) == (mine.sha256, mine.size, mine.name)
        assert Path(there.archived).read_bytes() == Path(mine.archived).read_bytes()
    # A copy that failed there is the caller's to make, and to meet its error.
    assert pooled[-1] is None
    with pytest.raises(FileNotFoundError):
        copy_in(*listed[-1], archive_dir=tmp_path / "here")
