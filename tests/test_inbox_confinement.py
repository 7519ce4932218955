"""The inbox cannot reach outside itself: links, hard links to outside files, device files and
FIFOs are refused with a finding, and no byte of them is read."""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from filemakers import csv_rows, write_csv

from core.settings import Settings
from flows.ingest_submissions import read_files, receive_files
from outputs.feedback import write_feedback
from sources import pool
from sources.inbox import (
    REFUSALS,
    InboxEntry,
    ReadAhead,
    RefusedFileError,
    list_inbox,
    open_source,
)
from sources.read import Reader
from sources.refusals import refusal_in
from warehouse.archive import Receipt

SECRET = "root:x:0:0:bí-mật-của-máy-chủ:/root:/bin/bash"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file the service can read but that no unit sent: a stand-in for /etc/passwd."""
    secret = tmp_path / "secret" / "passwd.csv"
    secret.parent.mkdir()
    secret.write_text(f"{SECRET}\n", encoding="utf-8")
    return secret


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "inbox"
    folder.mkdir(parents=True)
    write_csv(folder / "THON-01_2026Q3.csv", csv_rows())
    return folder


def _refused(inbox: Path) -> dict[str, str | None]:
    return {Path(e.url).relative_to(inbox).as_posix(): e.refused for e in list_inbox(str(inbox))}


def test_symlink_to_an_outside_file_is_refused_and_never_read(
    inbox: Path, outside: Path, settings: Settings
) -> None:
    (inbox / "x.csv").symlink_to(outside)
    entries = list_inbox(str(inbox))
    assert {Path(e.url).name: e.refused for e in entries} == {
        "THON-01_2026Q3.csv": None,
        "x.csv": "symlink",
    }
    receipts, _ = receive_files.fn(entries, settings).take()
    # The archive holds a note of the refusal, not the file.
    for receipt in receipts:
        assert SECRET.encode() not in receipt.archived_path.read_bytes()
    folders = {e.url: e.unit_folder for e in entries}
    with Reader(settings) as reader:
        submissions = read_files.fn(reader, receipts, folders, {}).take()
    refused = next(s for s in submissions if s.name == "x.csv")
    assert refused.unreadable and not refused.values
    [issue] = refused.issues
    assert issue.code == "R-FILE-REFUSED"
    assert "'x.csv'" in issue.message and REFUSALS["symlink"] in issue.message
    assert "Gửi lại báo cáo" in issue.message
    assert next(s for s in submissions if s.name != "x.csv").unit_code == "THON-01"

    from schemas.schema import load_schema
    from schemas.validation import validate_in_batches

    verdicts = validate_in_batches(submissions, load_schema(settings), today=date(2026, 10, 1))
    verdict = next(v for v in verdicts if v.submission.name == "x.csv")
    assert verdict.status == "rejected"
    archived = {r.sha256: r.archived_path for r in receipts}[refused.sha256]
    path = write_feedback(verdict, archived, settings.outbox)
    assert path is not None
    book = openpyxl.load_workbook(path)
    text = " ".join(
        str(cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
    )
    assert "R-FILE-REFUSED" in text or REFUSALS["symlink"] in text
    assert "bí-mật" not in text and "root:x" not in text


def test_symlinked_folders_are_not_followed_even_in_a_loop(
    inbox: Path, outside: Path, tmp_path: Path
) -> None:
    (inbox / "THON-02").symlink_to(outside.parent, target_is_directory=True)
    (inbox / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert _refused(inbox) == {"THON-01_2026Q3.csv": None, "THON-02": "symlink", "loop": "symlink"}


def test_hard_links_to_outside_files_are_refused(inbox: Path, outside: Path) -> None:
    os.link(outside, inbox / "copy.csv")
    # Two names inside the inbox for one file reach nothing outside it.
    os.link(inbox / "THON-01_2026Q3.csv", inbox / "again.csv")
    assert _refused(inbox) == {
        "THON-01_2026Q3.csv": None,
        "again.csv": None,
        "copy.csv": "hardlink",
    }


def test_fifos_are_refused_without_blocking(inbox: Path, settings: Settings) -> None:
    os.mkfifo(inbox / "pipe.csv")
    entries = list_inbox(str(inbox))
    assert {Path(e.url).name: e.refused for e in entries}["pipe.csv"] == "special"
    # Nobody writes to the FIFO: reading it would block the run for ever.
    receipts, _ = receive_files.fn(entries, settings).take()
    assert len(receipts) == 2


def _received_in_time(entries: list[InboxEntry], settings: Settings) -> list[Receipt]:
    """The receipts of `entries`, received in a thread that must end within a minute (a
    receipt that waits on a FIFO would hold the run for ever)."""
    done: list[list[Receipt]] = []
    receiving = threading.Thread(
        target=lambda: done.append(receive_files.fn(entries, settings).take()[0]), daemon=True
    )
    receiving.start()
    receiving.join(60)
    assert done, "receiving waits on a FIFO"
    return done[0]


def test_a_file_swapped_for_a_fifo_after_listing_blocks_nothing(
    inbox: Path, settings: Settings
) -> None:
    """Receiving asks for the listed files ahead of copying them: neither that nor the copy
    waits on a FIFO put where a workbook was listed."""
    target = inbox / "THON-01_2026Q3.csv"
    entries = list_inbox(str(inbox))
    target.unlink()
    os.mkfifo(target)
    [receipt] = _received_in_time(entries, settings)
    assert refusal_in(receipt.archived_path.read_bytes()) == "special"


@pytest.mark.parametrize("pooled", [False, True], ids=["here", "in-worker-processes"])
def test_files_swapped_after_listing_are_refused_wherever_they_are_copied(
    inbox: Path, outside: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    """A province's many new files are copied in worker processes: a file swapped for a FIFO
    or a link after the listing is refused there as it is here, and the others copied whole."""
    for name in ("fifo.csv", "link.csv"):
        write_csv(inbox / name, csv_rows())
    entries = list_inbox(str(inbox))
    (inbox / "fifo.csv").unlink()
    os.mkfifo(inbox / "fifo.csv")
    (inbox / "link.csv").unlink()
    (inbox / "link.csv").symlink_to(outside)
    if pooled:
        monkeypatch.setattr("flows.ingest_submissions.POOLED_FROM", 1)
    workers: list[int] = []
    start = pool._start_worker

    def counted(work: bytes, memory_bytes: int) -> pool._Slot:
        slot = start(work, memory_bytes)
        workers.append(slot.process.pid)
        return slot

    monkeypatch.setattr(pool, "_start_worker", counted)
    by_name = {r.name: r.archived_path.read_bytes() for r in _received_in_time(entries, settings)}
    assert refusal_in(by_name["fifo.csv"]) == "special"
    assert refusal_in(by_name["link.csv"]) == "symlink"
    assert by_name["THON-01_2026Q3.csv"] == (inbox / "THON-01_2026Q3.csv").read_bytes()
    assert SECRET.encode() not in b"".join(by_name.values())
    assert bool(workers) == pooled


def test_read_ahead_passes_over_what_is_not_a_plain_file(inbox: Path, outside: Path) -> None:
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "link.csv").symlink_to(outside)
    through = threading.Event()

    def paths() -> Iterator[str]:
        for path in (inbox / "pipe.csv", inbox / "link.csv", inbox / "gone.csv", outside):
            yield str(path)
        yield "memory://inbox/THON-01_2026Q3.csv"
        through.set()  # asked for the path after the last: every one was passed

    ahead = ReadAhead(paths())
    assert through.wait(30), "the read-ahead waits on a FIFO"
    ahead.close()


def test_a_file_swapped_for_a_link_after_listing_is_not_opened(inbox: Path, outside: Path) -> None:
    target = inbox / "THON-01_2026Q3.csv"
    [entry] = list_inbox(str(inbox))
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(RefusedFileError) as raised:
        open_source(entry.url)
    assert raised.value.refusal == "symlink"


def test_fsspec_members_outside_the_root_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "inbox.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("inbox/THON-01_2026Q3.csv", "a,b\n")
        zipped.writestr("inbox/../evil.csv", SECRET)
        zipped.writestr("inbox/sub/../../evil2.csv", SECRET)
        zipped.writestr("/etc/evil3.csv", SECRET)
    within = {e.name: e.refused for e in list_inbox(f"zip://inbox::{archive}")}
    assert within == {"THON-01_2026Q3.csv": None, "evil.csv": "outside", "evil2.csv": "outside"}
    whole = {e.name: e.refused for e in list_inbox(f"zip://::{archive}")}
    assert whole["evil3.csv"] == "outside" and whole["evil.csv"] == "outside"
    assert all(e.size == 0 for e in list_inbox(f"zip://::{archive}") if e.refused)
