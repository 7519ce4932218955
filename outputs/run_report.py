"""The run report: one self-contained Vietnamese HTML page per ingest, and an index of runs.

Commune machines are often offline, so a page carries its own styles and loads nothing: a
Content-Security-Policy forbids every network fetch, and each file links to its feedback
workbook by a relative path. Every page has a JSON twin the index is rebuilt from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.files import write_atomically
from core.names import storable

VERDICT_LABELS: dict[str, str] = {
    "accepted": "chấp nhận",
    "warned": "chấp nhận, có cảnh báo",
    "rejected": "bị từ chối",
}
LOAD_LABELS: dict[str, str] = {
    "imported": "mới",
    "updated": "thay thế bản cũ",
    "ignored": "trùng (bỏ qua)",
    "rejected": "bị từ chối",
}
STEP_LABELS: dict[str, str] = {
    "schema": "nạp danh mục",
    "receive": "nhận tệp",
    "read": "đọc",
    "validate": "kiểm tra",
    "feedback": "viết phản hồi",
    "load": "nạp kho",
    "publish": "công bố",
    "mail": "trả lời thư",
    "report": "báo cáo lần chạy",
}


@dataclass(frozen=True, slots=True)
class FileResult:
    """What became of one file the run read."""

    file: str
    url: str
    unit: str | None
    period: str | None
    verdict: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    feedback: str | None = None

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS.get(self.verdict, self.verdict)

    def as_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict` of it without the deep copy it makes of every value (its
        fields are texts and lists of texts): 0.014 s per 10,000 files against 0.1 s."""
        return {
            name: list(value) if isinstance(value := getattr(self, name), list) else value
            for name in _FILE_RESULT_FIELDS
        }


_FILE_RESULT_FIELDS = tuple(f.name for f in fields(FileResult))


@dataclass(frozen=True)
class RunRecord:
    """One ingest run as the report shows it."""

    started_at: datetime
    inbox: str
    dry_run: bool
    listed: int
    new: int
    verdicts: dict[str, int]
    files: Sequence[FileResult]
    load: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        """The run's file name stem: its start time, sortable."""
        return self.started_at.strftime("%Y%m%d-%H%M%S-%f")


# Files needing action come first.
_ORDER = {"rejected": 0, "warned": 1, "accepted": 2}
_STYLE = """
body{font-family:"Noto Sans","DejaVu Sans",Arial,sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#e8eef6}
td.n{text-align:right}td.v{white-space:nowrap}
.accepted{background:#e6f4e6}.warned{background:#fff6d6}.rejected{background:#fbe3e3}
ul{margin:.2em 0;padding-left:1.2em}
.meta{color:#555}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _link(target: str | None, base: Path) -> str:
    """A relative link from the folder `base` to a local file, or '' when there is none."""
    if not target:
        return ""
    path = Path(target).resolve()
    try:
        href = quote(Path(os.path.relpath(path, base.resolve())).as_posix())
    except ValueError:  # another drive: no relative path exists
        href = path.as_uri()
    return f'<a href="{escape(href)}">{escape(path.name)}</a>'


def _messages(items: list[str]) -> str:
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{escape(m)}</li>" for m in items) + "</ul>"


def render_run(record: RunRecord, folder: Path) -> str:
    """The HTML page of one run; links are relative to `folder`, where it is written."""
    when = record.started_at.strftime("%d/%m/%Y %H:%M:%S")
    counts = [
        ("Tệp trong hộp thư đến", record.listed),
        ("Tệp mới", record.new),
        *((f"Tệp {label}", record.verdicts.get(key, 0)) for key, label in VERDICT_LABELS.items()),
    ]
    if record.load is not None:
        counts += [
            (f"Nạp kho: {label}", record.load.get(key, 0)) for key, label in LOAD_LABELS.items()
        ]
    rows = "".join(f'<tr><th>{escape(k)}</th><td class="n">{v}</td></tr>' for k, v in counts)
    steps = "".join(
        f'<tr><td>{escape(STEP_LABELS.get(k, k))}</td><td class="n">{v:.1f}</td></tr>'
        for k, v in record.seconds.items()
    )
    files = "".join(
        f'<tr class="{escape(f.verdict)}"><td>{escape(f.file)}</td>'
        f"<td>{escape(f.unit or '?')}</td><td>{escape(f.period or '?')}</td>"
        f'<td class="v">{escape(f.verdict_label)}</td>'
        f"<td>{_messages(f.errors)}{_messages(f.warnings)}</td>"
        f"<td>{_link(f.feedback, folder)}</td></tr>"
        for f in sorted(record.files, key=lambda f: (_ORDER.get(f.verdict, 9), f.file))
    )
    mode = "chạy thử (--dry-run), không nạp kho" if record.dry_run else "nạp kho và công bố"
    body = (
        f"<h1>Báo cáo lần chạy {escape(when)}</h1>"
        f'<p class="meta">Nơi nhận: {escape(record.inbox)} · {escape(mode)} · '
        '<a href="index.html">Các lần chạy</a></p>'
        f"<h2>Số liệu của lần chạy</h2><table>{rows}</table>"
        + (
            "<h2>Thời gian từng bước (giây)</h2>"
            f"<table><tr><th>Bước</th><th>Giây</th></tr>{steps}</table>"
            if steps
            else ""
        )
        + f"<h2>Từng tệp ({len(record.files)})</h2>"
        + (
            "<table><tr><th>Tệp</th><th>Đơn vị</th><th>Kỳ</th><th>Kết quả</th>"
            f"<th>Lỗi và cảnh báo</th><th>Tệp phản hồi</th></tr>{files}</table>"
            if record.files
            else "<p>Không có tệp mới trong lần chạy này.</p>"
        )
    )
    return _page(f"Báo cáo lần chạy {when}", body)


def render_index(records: list[dict[str, Any]]) -> str:
    """The index page: every run, newest first, with its counts and a link to its page."""
    rows = "".join(
        f'<tr><td><a href="{escape(r["stamp"])}.html">{escape(r["when"])}</a></td>'
        f"<td>{'chạy thử' if r['dry_run'] else 'nạp kho'}</td>"
        f'<td class="n">{r["listed"]}</td><td class="n">{r["new"]}</td>'
        + "".join(f'<td class="n">{r["verdicts"].get(k, 0)}</td>' for k in VERDICT_LABELS)
        + "</tr>"
        for r in records
    )
    heads = "".join(f"<th>{escape(label.capitalize())}</th>" for label in VERDICT_LABELS.values())
    body = (
        f"<h1>Các lần chạy tổng hợp ({len(records)})</h1>"
        "<table><tr><th>Lúc chạy</th><th>Cách chạy</th><th>Tệp nhận</th><th>Tệp mới</th>"
        f"{heads}</tr>{rows}</table>"
    )
    return _page("Các lần chạy tổng hợp", body)


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half a page."""
    # A file name that is not UTF-8 reaches the page as lone surrogates: shown as `\xff`.
    write_atomically(path, storable(text))


def write_run_report(folder: Path, record: RunRecord) -> Path:
    """Write the run's page and its JSON twin into `folder`, and rebuild the index there.

    Args:
        folder: the runs folder, e.g. data/reports/runs.
        record: the run.

    Returns:
        The run's HTML page.
    """
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{record.stamp}.html"
    _write(page, render_run(record, folder))
    twin = asdict(replace(record, files=[]))
    twin["files"] = [f.as_dict() for f in record.files]
    twin["started_at"] = record.started_at.isoformat()
    twin["stamp"] = record.stamp
    twin["when"] = record.started_at.strftime("%d/%m/%Y %H:%M:%S")
    _write(folder / f"{record.stamp}.json", json.dumps(twin, ensure_ascii=False, indent=1))
    _write_line(folder, twin)
    write_index(folder)
    return page


# What the index shows of a run, kept apart from its JSON twin (`<runs>/index/<stamp>.json`):
# a province's night lists 100,000 files in its twin (25 MB), which every later run read again
# to rebuild the index (0.4 s each, and more with every such night).
_INDEXED = ("stamp", "when", "dry_run", "listed", "new", "verdicts")
_LINES = "index"


def _write_line(folder: Path, twin: dict[str, Any]) -> None:
    line = {key: twin[key] for key in _INDEXED}
    (folder / _LINES).mkdir(exist_ok=True)
    _write(folder / _LINES / f"{twin['stamp']}.json", json.dumps(line, ensure_ascii=False))


def write_index(folder: Path) -> Path:
    """Rebuild `index.html` from each run's line in `folder`; a run whose twin was written
    without its line (before lines were kept) gets it now; unreadable ones are skipped."""
    lines = folder / _LINES
    for twin in folder.glob("*.json"):
        if not (lines / twin.name).exists():
            with suppress(OSError, ValueError, KeyError, TypeError):
                _write_line(folder, json.loads(twin.read_text(encoding="utf-8")))
    records = []
    for line in sorted(lines.glob("*.json") if lines.is_dir() else [], reverse=True):
        try:
            records.append(json.loads(line.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    index = folder / "index.html"
    _write(index, render_index(records))
    return index
