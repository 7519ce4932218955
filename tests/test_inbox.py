"""Listing an inbox through fsspec: a local folder and memory:// work the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from filemakers import template, xlsx_bytes

from sources.inbox import fetch, list_inbox
from sources.read import read_many

FILES = {
    "THON-01/bao-cao.xlsx": b"",
    "2026Q3/THON-02/bc.xlsx": b"",
    "TH-NH_2026Q3.xlsx": b"",
    "anh-chup.jpg": b"hello",
    "THON-01/~$bao-cao.xlsx": b"lock",
    ".DS_Store": b"x",
    "THON-01/Thumbs.db": b"x",
    ".~lock.bc.ods#": b"x",
}


def fill(put: object, root: str) -> None:
    book = xlsx_bytes(template())
    for name, data in FILES.items():
        put(f"{root}/{name}", data or book)  # type: ignore[operator]


@pytest.fixture(params=["local", "memory"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "local":

        def put(path: str, data: bytes) -> None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(data)

        fill(put, str(tmp_path / "inbox"))
        yield str(tmp_path / "inbox")
        return
    fs = fsspec.filesystem("memory")
    root = f"/inbox-{id(request)}"
    fill(fs.pipe_file, root)
    yield f"memory://{root}"
    fs.rm(root, recursive=True)


def test_listing(inbox: str) -> None:
    entries = list_inbox(inbox)
    assert [(e.name, e.unit_folder) for e in entries] == [
        ("bc.xlsx", "THON-02"),
        ("TH-NH_2026Q3.xlsx", None),
        ("bao-cao.xlsx", "THON-01"),
        ("anh-chup.jpg", None),
    ]
    assert entries[3].size == 5
    assert all(e.url.startswith("memory://") == inbox.startswith("memory://") for e in entries)
    assert fetch(entries[3].url) == b"hello"
    assert fetch(entries[3].url, limit=2) == b"hel"


def test_reading_the_inbox(inbox: str) -> None:
    subs = read_many(list_inbox(inbox), workers=1)
    assert [(s.unit_code, s.period, s.unreadable) for s in subs] == [
        ("THON-01", "2026Q3", False),  # the cells say THON-01; the folder THON-02 disagrees
        ("THON-01", "2026Q3", False),
        ("THON-01", "2026Q3", False),
        (None, None, True),
    ]
    assert [i.code for i in subs[0].issues] == ["R-UNIT-CONFLICT"]
    assert [i.code for i in subs[1].issues] == ["R-UNIT-CONFLICT"]
    assert subs[2].issues == []
    assert [i.code for i in subs[3].issues] == ["R-FILE-FORMAT"]


def test_missing_inbox_is_empty(tmp_path: Path) -> None:
    assert list_inbox(str(tmp_path / "nothing")) == []
