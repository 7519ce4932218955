"""Files the inbox refuses to read (links, devices, paths leading out of it), and the note the
archive keeps of each instead of its bytes.

Apart from `sources.inbox`, so that the reader's worker processes, which meet the notes in the
archive, recognise them without importing what listing an inbox needs.
"""

from __future__ import annotations

import json

from core.model import Submission, issue

__all__ = ["REFUSALS", "refusal_in", "refusal_note", "refused_submission"]

REFUSALS: dict[str, str] = {
    "symlink": "là liên kết tượng trưng (lối tắt) trỏ tới nơi khác",
    "hardlink": "là liên kết cứng tới một tệp nằm ngoài thư mục nhận báo cáo",
    "special": "không phải tệp thường (tệp thiết bị, ống dẫn hoặc socket)",
    "outside": "có đường dẫn ra ngoài thư mục nhận báo cáo",
}


_NOTE_PREFIX = b"khcn: refused inbox file\n"
_NOTE_LIMIT = 64 * 1024


def refusal_note(url: str, refusal: str) -> bytes:
    """What the archive keeps of a refused file instead of its bytes: where it was, and why."""
    return _NOTE_PREFIX + json.dumps({"url": url, "refusal": refusal}).encode("utf-8") + b"\n"


def refusal_in(head: bytes) -> str | None:
    """The refusal an archived note records, given the archived file's bytes (or its first
    `_NOTE_LIMIT + 1`); None for a file as received."""
    if not head.startswith(_NOTE_PREFIX) or len(head) > _NOTE_LIMIT:
        return None
    try:
        refusal = json.loads(head[len(_NOTE_PREFIX) :]).get("refusal")
    except (ValueError, AttributeError):
        return None
    return refusal if refusal in REFUSALS else None


def refused_submission(url: str, name: str, size: int, sha256: str, refusal: str) -> Submission:
    """The submission of a refused file: nothing read, one `R-FILE-REFUSED` issue."""
    sub = Submission(url, name, size, sha256)
    sub.issues.append(issue("R-FILE-REFUSED", file=name, detail=REFUSALS[refusal]))
    return sub
