"""The mail pieces on their own: URLs, secrets, hostile messages, the reply's wording."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from mail_support import SMTP_PASSWORD, SMTP_USER, smtp_server

from core.model import Submission, issue
from core.settings import Settings, mail_password
from outputs.replies import (
    ReplyError,
    compose_reply,
    outcome,
    parse_smtp_url,
    reply_subject,
    send,
    smtp_session,
)
from sources.mailbox import (
    FileAnswer,
    MessageAnswer,
    attachment_url,
    claim_sender_unit,
    parse_mailbox_url,
    parse_message,
    sender_unit,
)

ARRIVED = dt.datetime(2026, 10, 5, 1, 30, tzinfo=dt.UTC)


def test_a_mailbox_url_names_user_host_port_and_folder() -> None:
    location = parse_mailbox_url(
        "imaps://vanthu%40xa.vn@mail.xa.vn/%C4%90%C3%A3%20x%E1%BB%AD%20l%C3%BD"
    )
    assert (location.tls, location.user, location.host, location.port) == (
        True,
        "vanthu@xa.vn",
        "mail.xa.vn",
        993,
    )
    assert location.folder == "Đã xử lý"
    assert parse_mailbox_url("imap://u@h").port == 143  # STARTTLS, never clear text
    assert parse_smtp_url("smtps://u@h").port == 465
    assert parse_smtp_url("smtp://h").user is None


@pytest.mark.parametrize("url", ["imaps://u:secret@h/INBOX", "http://u@h/INBOX", "imaps://h/INBOX"])
def test_a_mailbox_url_with_a_password_or_without_a_user_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_mailbox_url(url)


def test_passwords_come_from_the_environment_or_a_file_never_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "khcn.toml"
    config.write_text('mailbox_password = "tu-file-cau-hinh"\nsmtp_password = "x"\n')
    monkeypatch.setenv("KHCN_CONFIG", str(config))
    monkeypatch.delenv("KHCN_MAILBOX_PASSWORD", raising=False)
    monkeypatch.delenv("KHCN_SMTP_PASSWORD", raising=False)
    assert mail_password("mailbox", Settings()) is None

    secret = tmp_path / "mat-khau"
    secret.write_text("tu-tep-rieng\n")
    settings = Settings(mailbox_password_file=secret)
    assert mail_password("mailbox", settings) == "tu-tep-rieng"
    assert mail_password("smtp", settings) == "tu-tep-rieng"  # one account for both

    monkeypatch.setenv("KHCN_SMTP_PASSWORD", "smtp-rieng")
    assert mail_password("smtp", settings) == "smtp-rieng"


def _message(**headers: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("nội dung")
    return message


def test_attachment_names_cannot_climb_out_and_logos_are_not_submissions() -> None:
    message = _message(From="Thôn 1 <Thon1@Gmail.com>", Subject="Báo cáo", Message_ID="<a@b>")
    message.add_attachment(b"x", maintype="application", subtype="octet-stream",
                           filename="../../etc/passwd.xlsx")  # fmt: skip
    message.add_attachment(b"y", maintype="application", subtype="octet-stream",
                           filename="..\\..\\bao\x00cao.csv")  # fmt: skip
    message.add_attachment(b"~", maintype="application", subtype="octet-stream",
                           filename="~$khoa.xlsx")  # fmt: skip
    logo = EmailMessage()
    logo.set_content(b"png", maintype="image", subtype="png", disposition="inline",
                     filename="logo.png")  # fmt: skip
    message.attach(logo)

    parsed = parse_message(
        message.as_bytes(), mailbox="imaps://u@h:993/INBOX", uidvalidity=7, uid=3,
        received_at=ARRIVED,
    )  # fmt: skip

    assert [a.name for a in parsed.attachments] == ["etc passwd.xlsx", "bao cao.csv"]
    assert parsed.attachments[0].url == attachment_url("<a@b>", 1) == "mid:a@b/1"
    assert parsed.sender == parsed.reply_to == "thon1@gmail.com"
    assert parsed.received_at == ARRIVED


def test_a_message_without_message_id_is_known_by_its_bytes() -> None:
    raw = _message(From="a@b.vn", Subject="x").as_bytes()
    first = parse_message(raw, mailbox="m", uidvalidity=1, uid=1, received_at=ARRIVED)
    moved = parse_message(raw, mailbox="m", uidvalidity=2, uid=9, received_at=ARRIVED)
    assert first.message_id == moved.message_id and first.message_id.startswith("<sha256.")


def test_a_garbled_message_still_parses() -> None:
    raw = (
        b"From: =?utf-8?q?=ZZ?= <<<\r\nSubject: =?bogus?x?y?=\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--"
    )
    parsed = parse_message(raw, mailbox="m", uidvalidity=1, uid=1, received_at=ARRIVED)
    assert parsed.attachments == ()


def test_the_sender_fills_a_missing_unit_and_a_different_one_is_a_conflict() -> None:
    index = {"thon1@gmail.com": ("THON-01",), "chung@xa.vn": ("THON-01", "THON-02")}
    assert sender_unit("Thon1@gmail.com", index) == "THON-01"
    assert sender_unit("chung@xa.vn", index) is None  # two units share it: never a guess

    missing = Submission("mid:a/1", "a.xlsx", 1, "h")
    missing.issues.append(issue("R-UNIT-MISSING", file="a.xlsx"))
    claim_sender_unit(missing, "THON-01", "thon1@gmail.com")
    assert missing.unit_code == "THON-01" and missing.issues == []

    other = Submission("mid:a/2", "b.xlsx", 1, "h", unit_code="THON-02")
    claim_sender_unit(other, "THON-01", "thon1@gmail.com")
    assert [i.code for i in other.issues] == ["R-UNIT-CONFLICT"]
    assert "thon1@gmail.com" in other.issues[0].message


def test_the_reply_threads_and_speaks_vietnamese(tmp_path: Path) -> None:
    answer = MessageAnswer(
        message_id="<goc@gmail.com>",
        recipient="thon1@gmail.com",
        sender_unit="THON-01",
        subject="Re: Báo cáo quý III",
        references="<truoc@gmail.com> <goc@gmail.com>",
        files=(
            FileAnswer("a.xlsx", "accepted", "THON-01", "2026Q3", version=2, values=12),
            FileAnswer("b.xlsx", "duplicate", duplicate_of=4),
        ),
    )
    settings = Settings(data_dir=tmp_path, mail_from="vanthu@nghiahung.gov.vn")

    reply = compose_reply(answer, settings, {"THON-01": "Thôn 1"})

    assert outcome(answer) == "accepted"
    assert reply_subject(answer) == "Re: Báo cáo quý III"
    assert reply["In-Reply-To"] == "<goc@gmail.com>"
    assert reply["References"] == "<truoc@gmail.com> <goc@gmail.com>"
    body = reply.get_content()
    assert body.startswith("Kính gửi Thôn 1,")
    assert "đơn vị THON-01, kỳ 2026Q3, 12 giá trị đã ghi nhận, lần nộp thứ 2" in body
    assert "ĐÃ NHẬN TỪ TRƯỚC" in body and "bản nộp số 4" in body
    assert list(reply.iter_attachments()) == []


@pytest.mark.parametrize("scheme", ["smtps", "smtp"])
def test_replies_go_out_over_tls_or_starttls_with_a_login(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = MessageAnswer(
        message_id="<goc@gmail.com>",
        recipient="thon1@gmail.com",
        sender_unit=None,
        subject="Báo cáo",
        references="<goc@gmail.com>",
        files=(FileAnswer("a.xlsx", "rejected", errors=("Ô E12: không đọc được số.",)),),
    )
    monkeypatch.setenv("KHCN_SMTP_PASSWORD", SMTP_PASSWORD)
    with smtp_server(tmp_path / "tls", implicit_tls=scheme == "smtps") as server:
        settings = Settings(
            data_dir=tmp_path,
            smtp=server.url(scheme=scheme),
            mail_ca_file=tmp_path / "tls" / "cert.pem",
        )
        with smtp_session(settings) as client:
            send(client, compose_reply(answer, settings, {}))

    (received,) = server.received
    assert server.logins == [SMTP_USER]
    assert received.rcpt_tos == ["thon1@gmail.com"]
    assert received.mail_from == SMTP_USER  # the From of replies defaults to the account
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    assert "BỊ TỪ CHỐI" in text and "Ô E12: không đọc được số." in text
    assert "chưa có trong danh sách đơn vị" in text


def test_a_wrong_smtp_password_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHCN_SMTP_PASSWORD", "sai")
    with smtp_server(tmp_path / "tls") as server:
        # Against aiosmtpd a refused login ends at the client's timeout: keep it short here.
        settings = Settings(
            data_dir=tmp_path,
            smtp=server.url(),
            mail_ca_file=tmp_path / "tls" / "cert.pem",
            mail_timeout_seconds=4,
        )
        with pytest.raises(ReplyError, match="không gửi được thư"), smtp_session(settings):
            pass


def test_a_message_without_a_usable_sender_fails_its_reply_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = MessageAnswer(
        message_id="<x@y>", recipient="", sender_unit=None, subject="", references="", files=()
    )
    monkeypatch.setenv("KHCN_SMTP_PASSWORD", SMTP_PASSWORD)
    with smtp_server(tmp_path / "tls") as server:
        settings = Settings(
            data_dir=tmp_path, smtp=server.url(), mail_ca_file=tmp_path / "tls" / "cert.pem"
        )
        with smtp_session(settings) as client:
            with pytest.raises(ReplyError):
                send(client, compose_reply(answer, settings, {}))
            good = MessageAnswer("<z@y>", "thon1@gmail.com", None, "Báo cáo", "<z@y>", ())
            send(client, compose_reply(good, settings, {}))  # the session is still usable
    assert [r.rcpt_tos for r in server.received] == [["thon1@gmail.com"]]
