"""The run report, opened in Debian's headless Chromium with the network shut off."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from openpyxl import Workbook

from outputs.run_report import FileResult, RunRecord, write_run_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<script>document.title="pwned"</script>[red]x[/red] & «Thôn Đông»'


def _closed_port() -> int:
    """A loopback port nothing listens on: the proxy every request would have to go through."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chromium(page: Path, profile: Path, *args: str) -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: `make system` installs it")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--proxy-server=127.0.0.1:{_closed_port()}",
            "--proxy-bypass-list=<-loopback>",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return done.stdout


def _record(feedback: Path, started: datetime, dry_run: bool = False) -> RunRecord:
    files = [
        FileResult("UBND_2026Q3.xlsx", "inbox/UBND_2026Q3.xlsx", "UBND", "2026Q3", "accepted"),
        FileResult(
            "THON-01_2026Q3.xlsx",
            "inbox/THON-01_2026Q3.xlsx",
            "THON-01",
            "2026Q3",
            "rejected",
            errors=["Trang tính 'Chỉ tiêu', ô E11: giá trị 'khoảng 5' không phải là số."],
            feedback=str(feedback),
        ),
        FileResult(HOSTILE + ".xlsx", "inbox/x.xlsx", None, None, "rejected", errors=[HOSTILE]),
    ]
    return RunRecord(
        started_at=started,
        inbox="data/inbox",
        dry_run=dry_run,
        listed=4,
        new=3,
        verdicts={"accepted": 1, "warned": 0, "rejected": 2},
        files=files,
        load=None if dry_run else {"imported": 1, "updated": 0, "ignored": 1, "rejected": 2},
        seconds={"read": 1.5, "validate": 2.0},
    )


def test_run_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    feedback = tmp_path / "outbox" / "THON-01" / "THON-01_2026Q3_phan-hoi.xlsx"
    feedback.parent.mkdir(parents=True)
    Workbook().save(feedback)
    runs = tmp_path / "reports" / "runs"
    first = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
    write_run_report(runs, _record(feedback, first, dry_run=True))
    page = write_run_report(runs, _record(feedback, first + timedelta(hours=2)))

    # Self-contained: nothing to fetch, and a policy that forbids fetching anyway.
    for html in runs.glob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9]", text, re.IGNORECASE), html.name
        assert "default-src 'none'" in text and "<script>" not in text

    profile = tmp_path / "chromium"
    dom = _chromium(page, profile, "--dump-dom")
    assert "Báo cáo lần chạy 01/10/2026 10:30:00" in dom
    assert dom.index("THON-01_2026Q3.xlsx") < dom.index("UBND_2026Q3.xlsx")  # to fix first
    assert "giá trị 'khoảng 5' không phải là số" in dom
    assert "pwned" not in re.findall(r"<title>(.*?)</title>", dom)[0]
    assert "&lt;script&gt;" in dom  # the unit's text shown, not run
    link = re.search(r'<a href="([^"]+)">THON-01_2026Q3_phan-hoi\.xlsx</a>', dom)
    assert link, dom
    assert (runs / unquote(link[1])).resolve() == feedback.resolve()

    index = _chromium(runs / "index.html", profile, "--dump-dom")
    assert "Các lần chạy tổng hợp (2)" in index
    shown = re.findall(r'<a href="([^"]+\.html)">', index)
    assert shown == [page.name, sorted(runs.glob("*.html"))[0].name]
    assert "chạy thử" in index and "nạp kho" in index

    shot = tmp_path / "run.png"
    _chromium(page, profile, f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.stat().st_size > 10_000


def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path) -> None:
    name = b"bad\xff\xfe.xlsx".decode("utf-8", "surrogateescape")
    started = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    record = RunRecord(
        started, "inbox", False, 1, 1, {"rejected": 1},
        [FileResult(name, f"inbox/{name}", None, None, "rejected", ["hỏng"])],
    )  # fmt: skip
    page = write_run_report(tmp_path / "runs", record)
    html = page.read_text(encoding="utf-8")
    assert "bad\\xff\\xfe.xlsx" in html
    assert "bad\\xff\\xfe.xlsx" in (tmp_path / "runs" / f"{record.stamp}.json").read_text()


def test_the_index_reads_each_runs_line_not_its_whole_record(tmp_path: Path) -> None:
    runs, first = tmp_path / "runs", datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    earlier = _record(tmp_path / "fb.xlsx", first)
    # A folder from before lines were kept: a twin and no line; its line is made once.
    write_run_report(runs, earlier)
    shutil.rmtree(runs / "index")
    later = _record(tmp_path / "fb.xlsx", first + timedelta(hours=1), dry_run=True)
    write_run_report(runs, later)
    assert sorted(p.name for p in (runs / "index").iterdir()) == [
        f"{earlier.stamp}.json",
        f"{later.stamp}.json",
    ]
    # A run's whole record (100,000 files at a province) is not read to list it again.
    (runs / f"{earlier.stamp}.json").write_text("{", encoding="utf-8")
    last = _record(tmp_path / "fb.xlsx", first + timedelta(hours=2))
    write_run_report(runs, last)
    index = (runs / "index.html").read_text(encoding="utf-8")
    assert [unquote(s) for s in re.findall(r'href="([^"]+)\.html"', index)] == [
        last.stamp,
        later.stamp,
        earlier.stamp,
    ]
    assert "Các lần chạy tổng hợp (3)" in index and "chạy thử" in index
