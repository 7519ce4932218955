"""Answers by email: one reply per message a unit sent, in Vietnamese, over SMTP with TLS.

The reply says, for each attached file, whether it was accepted (unit, period, number of
values, version), accepted with warnings, or rejected, and carries the feedback workbook of
every file that has one. It answers the unit's message (`In-Reply-To`, `References`,
`Re: …`), so it lands in the same thread. Its Message-ID is derived from the message it
answers: a reply sent again after an interrupted run is the same message to mail clients.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from core.settings import Settings, mail_password
from sources.mailbox import FileAnswer, MessageAnswer

FEEDBACK_SUFFIX = "_phan-hoi.xlsx"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_MAX_LISTED = 10  # findings quoted in the body; the workbook has them all


class ReplyError(RuntimeError):
    """The SMTP server could not be reached or refused the reply."""


@dataclass(frozen=True, slots=True)
class SmtpLocation:
    """The outgoing server, parsed from its URL."""

    tls: bool  # True: TLS from the first byte (smtps); False: STARTTLS (smtp), required
    user: str | None
    host: str
    port: int


def parse_smtp_url(url: str) -> SmtpLocation:
    """Parse `smtps://user@host:465` or `smtp://user@host:587`.

    Raises:
        ValueError: another scheme, no host, or a password in the URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps"}:
        raise ValueError(f"không phải địa chỉ máy chủ gửi thư SMTP: {url!r}")
    if parts.password:
        raise ValueError("địa chỉ SMTP không được chứa mật khẩu; đặt KHCN_SMTP_PASSWORD")
    if not parts.hostname:
        raise ValueError(f"địa chỉ SMTP thiếu tên máy chủ: {url!r}")
    tls = scheme == "smtps"
    return SmtpLocation(
        tls=tls,
        user=unquote(parts.username) if parts.username else None,
        host=parts.hostname,
        port=parts.port or (465 if tls else 587),
    )


def sender_address(settings: Settings) -> str:
    """The From of replies: `mail_from`, else the mailbox's or the SMTP server's user."""
    if settings.mail_from:
        return settings.mail_from
    for url in (settings.mailbox_url, settings.smtp):
        user = unquote(urlsplit(url).username or "") if url else ""
        if "@" in user:
            return user
    raise ValueError("chưa biết địa chỉ gửi thư trả lời: đặt mail_from")


# ---------------------------------------------------------------------------------------------
# What the reply says


def outcome(answer: MessageAnswer) -> str:
    """`rejected` if any file was, else `warned` if any was, else `accepted`."""
    verdicts = {f.verdict for f in answer.files}
    if answer.too_big or not answer.files or "rejected" in verdicts or "unknown" in verdicts:
        return "rejected"
    return "warned" if "warned" in verdicts else "accepted"


_HEADLINE = {
    "accepted": "đã được tiếp nhận",
    "warned": "đã được tiếp nhận, có điểm cần lưu ý",
    "rejected": "chưa được tiếp nhận, cần sửa và gửi lại",
}


def reply_subject(answer: MessageAnswer) -> str:
    """`Re: <subject>`, without stacking `Re:`."""
    subject = answer.subject.strip() or "Báo cáo KHCN, ĐMST và CĐS"
    return subject if subject.lower().startswith(("re:", "tl:", "trả lời:")) else f"Re: {subject}"


def reply_message_id(answer: MessageAnswer, sender: str) -> str:
    """The reply's Message-ID: the same for every attempt to answer this message."""
    digest = hashlib.sha256(answer.message_id.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "khcn.invalid"
    return f"<tra-loi.{digest}@{domain}>"


def feedback_name(file_name: str) -> str:
    """The feedback workbook's name as the unit receives it: `<original stem>_phan-hoi.xlsx`."""
    stem = PurePosixPath(file_name).stem.strip() or "bao-cao"
    return f"{stem}{FEEDBACK_SUFFIX}"


def _file_lines(number: int, file: FileAnswer) -> list[str]:
    head = f"{number}. Tệp '{file.name}'"
    where = ", ".join(
        part
        for part in (
            f"đơn vị {file.unit_code}" if file.unit_code else "",
            f"kỳ {file.period}" if file.period else "",
        )
        if part
    )
    if file.verdict == "duplicate":
        return [
            f"{head}: ĐÃ NHẬN TỪ TRƯỚC — nội dung giống hệt tệp đã gửi"
            + (f" (bản nộp số {file.duplicate_of})" if file.duplicate_of else "")
            + "; không cần gửi lại."
        ]
    if file.verdict in {"accepted", "warned"}:
        version = f", lần nộp thứ {file.version}" if file.version else ""
        lines = [f"{head}: ĐÃ TIẾP NHẬN — {where}, {file.values} giá trị đã ghi nhận{version}."]
        if file.verdict == "warned":
            lines.append(
                f"   Có {len(file.warnings)} điểm cần lưu ý (không bắt buộc gửi lại); "
                "xem tệp phản hồi đính kèm:"
            )
            lines += [f"   - {w}" for w in file.warnings[:_MAX_LISTED]]
        return lines
    if file.verdict == "rejected":
        lines = [
            f"{head}: BỊ TỪ CHỐI{' — ' + where if where else ''}, {len(file.errors)} lỗi "
            "cần sửa. Xin sửa theo tệp phản hồi đính kèm rồi gửi lại:"
        ]
        lines += [f"   - {e}" for e in file.errors[:_MAX_LISTED]]
        if len(file.errors) > _MAX_LISTED:
            lines.append(f"   - … và {len(file.errors) - _MAX_LISTED} lỗi khác trong tệp phản hồi.")
        return lines
    return [f"{head}: đang chờ xử lý."]


def reply_body(answer: MessageAnswer, commune_name: str, unit_names: Mapping[str, str]) -> str:
    """The reply's text, in Vietnamese."""
    unit = unit_names.get(answer.sender_unit or "", "")
    greeting = f"Kính gửi {unit}," if unit else "Kính gửi quý đơn vị,"
    lines = [
        greeting,
        "",
        f"Hệ thống tổng hợp báo cáo KHCN, ĐMST và CĐS của xã {commune_name} đã nhận thư "
        f"'{answer.subject or '(không có tiêu đề)'}'. Báo cáo {_HEADLINE[outcome(answer)]}.",
        "",
    ]
    if answer.too_big:
        lines.append(
            "Thư quá lớn nên hệ thống không tải về. Xin gửi lại chỉ tệp báo cáo theo mẫu "
            "của xã (bỏ ảnh, tệp không liên quan)."
        )
    for number, file in enumerate(answer.files, start=1):
        lines += _file_lines(number, file)
    if answer.sender_unit is None:
        lines += [
            "",
            f"Lưu ý: địa chỉ {answer.recipient} chưa có trong danh sách đơn vị của xã, nên "
            "đơn vị được xác định theo nội dung tệp. Nếu đây là địa chỉ chính thức của đơn vị, "
            "xin báo cán bộ tổng hợp của xã bổ sung vào cột Email của danh sách đơn vị.",
        ]
    lines += [
        "",
        "Đây là thư trả lời tự động; nếu cần, xin liên hệ cán bộ tổng hợp của xã.",
        "",
        "Trân trọng,",
        f"UBND xã {commune_name}",
    ]
    return "\n".join(lines) + "\n"


def compose_reply(
    answer: MessageAnswer, settings: Settings, unit_names: Mapping[str, str]
) -> EmailMessage:
    """The reply to one message, with the feedback workbook of every file that has one."""
    sender = sender_address(settings)
    message = EmailMessage()
    message["From"] = formataddr((f"UBND xã {settings.commune_name}", sender))
    message["To"] = answer.recipient
    message["Subject"] = reply_subject(answer)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = reply_message_id(answer, sender)
    message["In-Reply-To"] = answer.message_id
    message["References"] = answer.references or answer.message_id
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(reply_body(answer, settings.commune_name, unit_names))
    for file, path in attachments(answer):
        message.add_attachment(
            path.read_bytes(),
            maintype=XLSX_TYPE[0],
            subtype=XLSX_TYPE[1],
            filename=feedback_name(file.name),
        )
    return message


def attachments(answer: MessageAnswer) -> list[tuple[FileAnswer, Path]]:
    """The feedback workbooks that go with the reply: warned and rejected files'."""
    found = []
    for file in answer.files:
        if file.verdict in {"warned", "rejected"} and file.feedback_path:
            path = Path(file.feedback_path)
            if path.is_file():
                found.append((file, path))
    return found


# ---------------------------------------------------------------------------------------------
# Sending


@contextmanager
def smtp_session(settings: Settings) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP session over TLS (`smtps`) or STARTTLS (`smtp`).

    Raises:
        ReplyError: the server cannot be reached, refuses TLS or the login.
    """
    location = parse_smtp_url(settings.smtp)
    cafile = str(settings.mail_ca_file) if settings.mail_ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    timeout = settings.mail_timeout_seconds
    try:
        client: smtplib.SMTP
        if location.tls:
            client = smtplib.SMTP_SSL(
                location.host, location.port, context=context, timeout=timeout
            )
        else:
            client = smtplib.SMTP(location.host, location.port, timeout=timeout)
            client.starttls(context=context)
        if location.user:
            password = mail_password("smtp", settings)
            if not password:
                raise ReplyError(
                    "chưa có mật khẩu máy chủ gửi thư: đặt KHCN_SMTP_PASSWORD hoặc "
                    "smtp_password_file"
                )
            client.login(location.user, password)
    except (OSError, smtplib.SMTPException) as exc:
        raise ReplyError(f"không gửi được thư qua {location.host}:{location.port}: {exc}") from exc
    try:
        yield client
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def send(client: smtplib.SMTP, message: EmailMessage) -> None:
    """Send one reply on an open session.

    Raises:
        ReplyError: the server refused it.
    """
    try:
        refused = client.send_message(message)
    except (OSError, ValueError, smtplib.SMTPException) as exc:
        # ValueError: an address the library cannot use (a sender's malformed From).
        raise ReplyError(f"máy chủ không nhận thư gửi {message['To']}: {exc}") from exc
    if refused:
        raise ReplyError(f"máy chủ từ chối người nhận {', '.join(refused)}")


# ---------------------------------------------------------------------------------------------
# What a run did, for the terminal


def mail_report_lines(mail: Mapping[str, Any]) -> list[str]:
    """Per message: who sent it, what was taken, and what was (or would be) answered."""
    lines = [
        f"Hộp thư {mail.get('mailbox', '')}: {len(mail.get('messages', []))} thư có tệp, "
        f"{mail.get('without_attachments', 0)} thư không có tệp (để nguyên)."
    ]
    for item in mail.get("messages", []):
        unit = item.get("sender_unit") or "không rõ đơn vị (người gửi chưa đăng ký)"
        files = ", ".join(item.get("files", [])) or "không tệp nào"
        lines.append(f"- {item['sender']} ({unit}) «{item.get('subject', '')}»: nhận {files}")
    for item in mail.get("replies", []):
        verb = {
            "sent": "đã trả lời",
            "failed": "gửi trả lời lỗi, sẽ gửi lại lần sau",
            "dry_run": "sẽ trả lời (chạy thử, chưa gửi)",
        }.get(item["status"], item["status"])
        extra = f" kèm {', '.join(item['attachments'])}" if item.get("attachments") else ""
        error = f" ({item['error']})" if item.get("error") else ""
        lines.append(
            f"  → {verb} {item['recipient']}: «{item['subject']}» [{item['outcome']}]{extra}{error}"
        )
    return lines


def reply_summary(
    answer: MessageAnswer, message: EmailMessage, status: str, error: str | None = None
) -> dict[str, Any]:
    """One line of the run report about one reply."""
    return {
        "message_id": answer.message_id,
        "recipient": answer.recipient,
        "subject": str(message["Subject"]),
        "outcome": outcome(answer),
        "status": status,
        "attachments": [
            part.get_filename() for part in message.iter_attachments() if part.get_filename()
        ],
        "error": error,
    }
