"""Submissions by email: the commune's IMAP mailbox as a source, next to the inbox folder.

A mailbox URL is `imaps://user@host[:port]/FOLDER` (TLS from the first byte, port 993) or
`imap://user@host[:port]/FOLDER` (STARTTLS, required, port 143); there is no clear-text mode.
The password is never part of the URL or the config file (see `core.settings.mail_password`).

Each message is known by its Message-ID (or, when it has none, by the SHA-256 of its bytes),
which survives a move to another folder; UIDVALIDITY and UID say where it was seen. Every
attachment becomes a file with the URL `mid:<message-id>/<part>` (RFC 2392), so the same
attachment of the same message is one receipt however often it is fetched. Its received time
is the message's arrival in the mailbox (INTERNALDATE), not the time this run fetched it.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from core.model import Submission, issue
from core.settings import Settings, mail_password
from core.text import canonical, fold
from sources.inbox import is_ignored

PROCESSED_KEYWORD = "$KhcnProcessed"
# Inline parts are usually logos and signatures; an inline part is a submission only when it
# has the suffix of one (some mail clients inline every attachment).
SUBMISSION_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".zip", ".docx"})
# Base64 makes an attachment a third bigger; a message bigger than this cannot carry a file
# the readers would accept, and is answered without being downloaded.
_ENCODING_OVERHEAD = 1.4
_CONTROL = re.compile(r"[\x00-\x1f\x7f/\\]+")
_FETCH_HEAD = re.compile(rb"UID (\d+)|INTERNALDATE \"([^\"]+)\"|RFC822\.SIZE (\d+)")


class MailboxError(RuntimeError):
    """The mailbox could not be reached, logged into, or read."""


@dataclass(frozen=True, slots=True)
class MailboxLocation:
    """Where the mailbox is: parsed from its URL."""

    tls: bool  # True: TLS from the first byte; False: STARTTLS
    user: str
    host: str
    port: int
    folder: str

    @property
    def url(self) -> str:
        """The URL without any secret, for reports and provenance."""
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{quote(self.user, safe='')}@{self.host}:{self.port}/{self.folder}"


def parse_mailbox_url(url: str) -> MailboxLocation:
    """Parse `imaps://user@host[:port]/FOLDER`; the folder defaults to INBOX.

    Raises:
        ValueError: not an IMAP URL, no user or host, or a password in the URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"imap", "imaps"}:
        raise ValueError(f"không phải địa chỉ hộp thư IMAP: {url!r} (dùng imaps://…)")
    if parts.password:
        raise ValueError(
            "địa chỉ hộp thư không được chứa mật khẩu; đặt KHCN_MAILBOX_PASSWORD "
            "hoặc mailbox_password_file"
        )
    if not parts.username or not parts.hostname:
        raise ValueError(f"địa chỉ hộp thư cần tên đăng nhập và máy chủ: {url!r}")
    tls = scheme == "imaps"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxLocation(
        tls=tls,
        user=unquote(parts.username),
        host=parts.hostname,
        port=parts.port or (993 if tls else 143),
        folder=folder,
    )


# ---------------------------------------------------------------------------------------------
# IMAP's modified UTF-7 (RFC 3501 §5.1.3): folder names such as `Đã xử lý` travel as `&ARA-…`.


def encode_folder(name: str) -> str:
    """A folder name in IMAP's modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append(
                "&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-"
            )
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_folder(name: str) -> str:
    """A folder name from IMAP's modified UTF-7."""

    def decode(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        data = chunk.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + encode_folder(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# What a message is


@dataclass(frozen=True, slots=True)
class MailAttachment:
    """One attached file of a message."""

    part: int  # 1-based, among the message's attachments
    name: str  # the file name the sender gave, made safe
    url: str  # `mid:<message-id>/<part>`: the same for every fetch of this message
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """What the listing says about one message, before its body is fetched."""

    uid: int
    message_id: str | None
    received_at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message with its attachments."""

    message_id: str
    mailbox: str  # the mailbox URL, without secrets
    uidvalidity: int
    uid: int
    sender: str  # the From address
    reply_to: str  # where the answer goes: Reply-To, else From
    subject: str
    received_at: datetime  # INTERNALDATE: when the message arrived in the mailbox
    references: str  # the References chain, for threading the reply
    attachments: tuple[MailAttachment, ...]
    too_big: bool = False  # larger than any readable file: not downloaded


def attachment_url(message_id: str, part: int) -> str:
    """`mid:` URL (RFC 2392) of a message's attachment, independent of folder and UID."""
    return f"mid:{quote(message_id.strip('<>'), safe='@.!#$%&*+-=^_`{|}~')}/{part}"


def safe_name(name: str | None, part: int) -> str:
    """The attachment's file name without folders or control characters."""
    cleaned = canonical(_CONTROL.sub(" ", name or "")).strip(" .")
    return PurePosixPath(cleaned).name or f"tep-dinh-kem-{part}"


def _attachments(message: EmailMessage, message_id: str) -> tuple[MailAttachment, ...]:
    found: list[MailAttachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if filename is None:
            continue
        suffix = PurePosixPath(filename).suffix.lower()
        if disposition != "attachment" and suffix not in SUBMISSION_SUFFIXES:
            continue
        number = len(found) + 1
        name = safe_name(filename, number)
        if is_ignored(name):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(MailAttachment(number, name, attachment_url(message_id, number), data))
    return tuple(found)


def parse_message(
    raw: bytes,
    *,
    mailbox: str,
    uidvalidity: int,
    uid: int,
    received_at: datetime,
) -> MailMessage:
    """Read one message: who sent it, its subject and its attachments.

    Hostile headers and MIME are parsed by the standard library's strict policy; a message
    that cannot be parsed still gives a message (with no attachments) rather than an error.
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    message_id = _header(message, "Message-ID").strip() or (
        "<sha256." + hashlib.sha256(raw).hexdigest() + "@khcn>"
    )
    sender = parseaddr(_header(message, "From"))[1].strip().lower()
    reply_to = [a for _, a in getaddresses([_header(message, "Reply-To")]) if "@" in a]
    references = " ".join(part for part in (_header(message, "References"), message_id) if part)
    return MailMessage(
        message_id=message_id,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        sender=sender,
        reply_to=(reply_to[0] if reply_to else sender).lower(),
        subject=canonical(_header(message, "Subject")),
        received_at=received_at,
        references=references,
        attachments=_attachments(message, message_id),
    )


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        # A malformed header the parser rejects lazily: treat it as absent.
        return ""
    return " ".join(str(value).split()) if value is not None else ""


# ---------------------------------------------------------------------------------------------
# Talking to the server


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    cafile = str(settings.mail_ca_file) if settings.mail_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _internaldate(value: bytes) -> datetime:
    """INTERNALDATE (`30-Nov-2026 09:33:55 +0700`) as an aware datetime."""
    parsed = datetime.strptime(value.decode("ascii"), "%d-%b-%Y %H:%M:%S %z")
    offset = parsed.utcoffset() or timedelta(0)
    return parsed.astimezone(timezone(offset)).astimezone(UTC)


def _check(response: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise MailboxError(f"máy chủ thư từ chối {what}: {data!r}")
    return data


class Mailbox:
    """An open IMAP session on the mailbox's folder; use `open_mailbox`."""

    def __init__(self, client: imaplib.IMAP4, location: MailboxLocation, uidvalidity: int) -> None:
        self.client = client
        self.location = location
        self.uidvalidity = uidvalidity

    def unprocessed(self) -> list[MessageHeader]:
        """Messages of the folder not yet flagged as processed, oldest first."""
        data = _check(self.client.uid("SEARCH", "UNKEYWORD", PROCESSED_KEYWORD), "tìm thư")
        uids = [int(u) for u in (data[0] or b"").split()] if data else []
        if not uids:
            return []
        headers: list[MessageHeader] = []
        fetched = _check(
            self.client.uid(
                "FETCH",
                ",".join(str(u) for u in uids),
                "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
            ),
            "đọc danh sách thư",
        )
        for item in fetched:
            if not isinstance(item, tuple):
                continue
            head, body = item[0], item[1]
            uid, date, size = 0, None, 0
            for match in _FETCH_HEAD.finditer(head):
                if match.group(1):
                    uid = int(match.group(1))
                elif match.group(2):
                    date = _internaldate(match.group(2))
                elif match.group(3):
                    size = int(match.group(3))
            parsed = email.message_from_bytes(body, policy=email.policy.default)
            message_id = " ".join(str(parsed.get("Message-ID", "")).split()) or None
            if uid and date is not None:
                headers.append(MessageHeader(uid, message_id, date, size))
        return sorted(headers, key=lambda h: h.uid)

    def fetch(self, header: MessageHeader, max_bytes: int) -> MailMessage:
        """The whole message, parsed; one larger than `max_bytes` is not downloaded."""
        if header.size > max_bytes:
            return MailMessage(
                message_id=header.message_id or f"<uid.{self.uidvalidity}.{header.uid}@khcn>",
                mailbox=self.location.url,
                uidvalidity=self.uidvalidity,
                uid=header.uid,
                sender=self._sender(header.uid),
                reply_to=self._sender(header.uid),
                subject="",
                received_at=header.received_at,
                references=header.message_id or "",
                attachments=(),
                too_big=True,
            )
        data = _check(self.client.uid("FETCH", str(header.uid), "(BODY.PEEK[])"), "tải thư")
        raw = next((item[1] for item in data if isinstance(item, tuple)), b"")
        return parse_message(
            bytes(raw),
            mailbox=self.location.url,
            uidvalidity=self.uidvalidity,
            uid=header.uid,
            received_at=header.received_at,
        )

    def _sender(self, uid: int) -> str:
        data = _check(
            self.client.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (FROM REPLY-TO)])"),
            "đọc người gửi",
        )
        raw = next((item[1] for item in data if isinstance(item, tuple)), b"")
        parsed = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        return parseaddr(str(parsed.get("Reply-To") or parsed.get("From") or ""))[1].lower()

    def mark_processed(self, uids: Iterable[int], move_to: str = "") -> None:
        """Flag the messages as processed and, if a folder is named, move them there.

        The flag comes first: a message moved by hand later, or copied back, is still known by
        its Message-ID in the warehouse and is never loaded twice.
        """
        wanted = sorted(set(uids))
        if not wanted:
            return
        sequence = ",".join(str(u) for u in wanted)
        _check(
            self.client.uid("STORE", sequence, "+FLAGS.SILENT", f"(\\Seen {PROCESSED_KEYWORD})"),
            "đánh dấu thư",
        )
        if not move_to:
            return
        target = _quoted(move_to)
        self.client.create(target)  # already there is fine
        # The capabilities after login are the ones that count; servers announce fewer before.
        data = _check(self.client.capability(), "liệt kê khả năng")
        if b"MOVE" in (data[0] or b"").split():
            _check(self.client.uid("MOVE", sequence, target), "chuyển thư")
            return
        _check(self.client.uid("COPY", sequence, target), "chép thư")
        _check(self.client.uid("STORE", sequence, "+FLAGS.SILENT", "(\\Deleted)"), "xoá thư")
        self.client.expunge()


@contextmanager
def open_mailbox(settings: Settings, url: str | None = None) -> Iterator[Mailbox]:
    """Log into the mailbox over TLS and select its folder.

    Raises:
        MailboxError: the server cannot be reached, refuses the login, or lacks the folder.
        ValueError: the URL is not a valid mailbox URL.
    """
    location = parse_mailbox_url(url or settings.mailbox_url)
    password = mail_password("mailbox", settings)
    if not password:
        raise MailboxError(
            "chưa có mật khẩu hộp thư: đặt KHCN_MAILBOX_PASSWORD hoặc mailbox_password_file"
        )
    context = _ssl_context(settings)
    timeout = settings.mail_timeout_seconds
    try:
        client: imaplib.IMAP4
        if location.tls:
            client = imaplib.IMAP4_SSL(
                location.host, location.port, ssl_context=context, timeout=timeout
            )
        else:
            client = imaplib.IMAP4(location.host, location.port, timeout=timeout)
            client.starttls(context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"không kết nối được hộp thư {location.url}: {exc}") from exc
    try:
        try:
            client.login(location.user, password)
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"hộp thư {location.url} từ chối đăng nhập: {exc}") from exc
        status, data = client.select(_quoted(location.folder))
        if status != "OK":
            raise MailboxError(f"không mở được thư mục {location.folder!r} của hộp thư")
        _, validity = client.response("UIDVALIDITY")
        uidvalidity = int(validity[0]) if validity and validity[0] else 0
        yield Mailbox(client, location, uidvalidity)
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def max_message_bytes(settings: Settings) -> int:
    """The largest message worth downloading: one whose attachment could still be read."""
    return int(settings.max_file_bytes * _ENCODING_OVERHEAD) + 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Who sent it


def sender_unit(sender: str, units_by_email: Mapping[str, Sequence[str]]) -> str | None:
    """The unit registered for the sender's address, if exactly one unit lists it."""
    units = units_by_email.get(sender.strip().lower(), ())
    return units[0] if len(units) == 1 else None


def claim_sender_unit(submission: Submission, unit_code: str, sender: str) -> None:
    """Use the sender's registered unit as one more source of the submission's unit.

    The workbook itself (its cells, its file name) comes first: a workbook with no unit takes
    the sender's, a workbook naming another unit is a conflict, reported like the others.
    """
    if submission.unreadable:
        return
    if submission.unit_code is None:
        submission.unit_code = unit_code
        submission.issues = [i for i in submission.issues if i.code != "R-UNIT-MISSING"]
    elif fold(submission.unit_code) != fold(unit_code):
        submission.issues.append(
            issue(
                "R-UNIT-CONFLICT",
                first=f"tệp '{submission.name}'",
                a=submission.unit_code,
                second=f"địa chỉ gửi thư '{sender}' (đăng ký cho đơn vị)",
                b=unit_code,
            )
        )


# ---------------------------------------------------------------------------------------------
# What the answer to a message says


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """What became of one attachment, as its reply tells it."""

    name: str
    verdict: str  # accepted | warned | rejected | duplicate | unknown (not loaded: dry run)
    unit_code: str | None = None
    period: str | None = None
    version: int | None = None
    values: int = 0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    feedback_path: str | None = None
    duplicate_of: int | None = None


@dataclass(frozen=True, slots=True)
class MessageAnswer:
    """Everything one reply needs: to whom, in answer to what, and each file's outcome."""

    message_id: str
    recipient: str
    sender_unit: str | None
    subject: str
    references: str
    files: tuple[FileAnswer, ...]
    too_big: bool = False
    failures: int = 0  # earlier attempts that failed
