"""The mailbox round trip against real servers: Dovecot serves the commune's mailbox over IMAPS,
aiosmtpd receives the replies over STARTTLS; the ingest flow runs under the Prefect harness."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from filemakers import csv_rows, template, write_csv, xlsx_bytes
from mail_support import (
    MAILBOX_PASSWORD,
    SMTP_PASSWORD,
    VIETNAM,
    Mail,
    Received,
    combined_ca,
    dovecot,
    register_addresses,
    smtp_server,
)
from openpyxl import load_workbook
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from core.settings import Settings
from flows.consolidate_nightly import consolidate_nightly
from flows.ingest_submissions import ingest_submissions
from khcn.cli import app
from schemas.registry import units_by_email
from schemas.schema import load_schema
from schemas.yamlio import read_yaml, write_yaml
from sources.mailbox import PROCESSED_KEYWORD, decode_folder, encode_folder

pytestmark = pytest.mark.usefixtures("prefect_api")

PROCESSED = "Đã xử lý"


@pytest.fixture
def mail(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mail]:
    """Both servers, the registry's Email column filled in, and the flows pointed at them."""
    register_addresses(settings)
    with dovecot(tmp_path / "dovecot") as imap, smtp_server(tmp_path / "smtp-tls") as smtp:
        ca = combined_ca(tmp_path, [imap.ca_file, tmp_path / "smtp-tls" / "cert.pem"])
        for name, value in {
            "SCHEMAS_DIR": settings.schemas_dir,
            "DATA_DIR": settings.data_dir,
            "MAILBOX": imap.url,
            "MAILBOX_PASSWORD": MAILBOX_PASSWORD,
            "MAILBOX_PROCESSED_FOLDER": PROCESSED,
            "MAIL_CA_FILE": ca,
            "SMTP": smtp.url(),
            "SMTP_PASSWORD": SMTP_PASSWORD,
        }.items():
            monkeypatch.setenv(f"KHCN_{name}", str(value))
        yield Mail(imap, smtp, settings)


def _broken() -> bytes:
    """THON-02's workbook with a value no one can read exactly."""
    return xlsx_bytes(template("THON-02", "2026Q3", values=[3, "khoảng một trăm", 1234.5]))


def _csv(tmp_path: Path, rows: list[list[object]]) -> bytes:
    return write_csv(tmp_path / "made.csv", rows).read_bytes()


def _by_recipient(received: list[Received]) -> dict[str, Received]:
    return {item.rcpt_tos[0]: item for item in received}


def _text(item: Received) -> str:
    body = item.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_units_get_one_reply_each_and_a_second_run_sends_nothing(
    mail: Mail, tmp_path: Path
) -> None:
    arrived = dt.datetime(2026, 10, 5, 8, 30, tzinfo=VIETNAM)
    good_id = mail.send(
        "truongthon1@gmail.com",
        "Báo cáo quý III thôn 1",
        {"THON-01_2026Q3.xlsx": xlsx_bytes(template("THON-01", "2026Q3"))},
        arrived,
    )
    broken_id = mail.send(
        "thon2.nghiahung@gmail.com", "Bao cao thon 2", {"bao-cao-thon2.xlsx": _broken()}, arrived
    )
    mail.send(
        "thon3.nghiahung@gmail.com",
        "Thôn 3 gửi số liệu",
        {"thon3.csv": _csv(tmp_path, csv_rows("THON-03"))},
        arrived,
    )
    mail.send("ai.do@gmail.com", "Chúc mừng", {}, arrived)

    report = ingest_submissions().to_dict()

    assert report["mail"]["without_attachments"] == 1
    assert report["load"]["rejected"] == 1
    replies = _by_recipient(mail.smtp.received)
    assert set(replies) == {
        "truongthon1@gmail.com",
        "thon2.nghiahung@gmail.com",
        "thon3.nghiahung@gmail.com",
    }
    good = replies["truongthon1@gmail.com"]
    assert good.message["Subject"] == "Re: Báo cáo quý III thôn 1"
    assert good.message["In-Reply-To"] == good_id
    assert good_id in good.message["References"]
    text = _text(good)
    assert "Kính gửi Thôn 1" in text or "Kính gửi" in text
    assert "ĐÃ TIẾP NHẬN" in text and "đơn vị THON-01, kỳ 2026Q3, 3 giá trị" in text
    assert "lần nộp thứ 1" in text

    broken = replies["thon2.nghiahung@gmail.com"]
    assert broken.message["In-Reply-To"] == broken_id
    text = _text(broken)
    assert "BỊ TỪ CHỐI" in text and "chưa được tiếp nhận" in text
    assert "khoảng một trăm" in text
    files = list(broken.message.iter_attachments())
    assert [f.get_filename() for f in files] == ["bao-cao-thon2_phan-hoi.xlsx"]
    workbook = load_workbook(io.BytesIO(files[0].get_content()))
    assert workbook.sheetnames  # a real workbook, the unit's feedback

    assert "ĐÃ TIẾP NHẬN" in _text(replies["thon3.nghiahung@gmail.com"])

    rows = mail.published(
        "select unit_code, status, mail_message_id, mail_sender, mail_sender_unit, "
        "attachment_name, received_at from mart.submissions order by unit_code"
    )
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("THON-01", "accepted", "truongthon1@gmail.com", "THON-01", "THON-01_2026Q3.xlsx"),
        ("THON-02", "rejected", "thon2.nghiahung@gmail.com", "THON-02", "bao-cao-thon2.xlsx"),
        ("THON-03", "accepted", "thon3.nghiahung@gmail.com", "THON-03", "thon3.csv"),
    ]
    assert rows[0][2] == good_id
    assert all(r[6] == arrived for r in rows)  # the message's arrival, not the run's time

    # The three are flagged and moved; the message without attachments is left alone.
    inbox = mail.imap.folder_state("INBOX")
    assert len(inbox) == 1 and PROCESSED_KEYWORD.encode() not in inbox[0][1]
    moved = mail.imap.folder_state('"' + encode_folder(PROCESSED) + '"')
    assert len(moved) == 3 and all(PROCESSED_KEYWORD.encode() in flags for _, flags, _ in moved)

    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts(limit=50)
    assert "khcn-mail-replies" in {a.key for a in artifacts}

    again = ingest_submissions().to_dict()

    assert len(mail.smtp.received) == 3
    assert again["new"] == 0 and again["mail"]["replies"] == []
    assert mail.published("select count(*) from mart.submissions") == [(3,)]


def test_the_same_message_seen_again_after_a_move_is_not_loaded_twice(mail: Mail) -> None:
    arrived = dt.datetime(2026, 10, 6, 9, 0, tzinfo=VIETNAM)
    data = {"THON-01_2026Q3.xlsx": xlsx_bytes(template("THON-01", "2026Q3"))}
    message_id = mail.send("truongthon1@gmail.com", "Báo cáo", data, arrived)
    ingest_submissions()
    # Someone copies it back into the inbox without its flags: a new UID, the same message.
    mail.send("truongthon1@gmail.com", "Báo cáo", data, arrived, message_id=message_id)

    again = ingest_submissions().to_dict()

    assert again["mail"]["messages"] == [] and again["mail"]["flagged"] == 1
    assert len(mail.smtp.received) == 1
    assert mail.published("select count(*) from mart.submissions") == [(1,)]


def test_the_sender_is_one_more_source_of_the_unit(mail: Mail, tmp_path: Path) -> None:
    arrived = dt.datetime(2026, 10, 7, 9, 0, tzinfo=VIETNAM)
    no_unit = [row[1:] for row in csv_rows("THON-03")]  # no unit column: only the sender says
    mail.send(
        "thon3.nghiahung@gmail.com",
        "Không ghi mã",
        {"so-lieu.csv": _csv(tmp_path, no_unit)},
        arrived,
    )
    # THON-01's officer sends THON-02's workbook: a conflict, never a guess.
    mail.send(
        "thon1.nghiahung@gmail.com",
        "Nhầm tệp",
        {"bao-cao.xlsx": xlsx_bytes(template("THON-02", "2026Q3"))},
        arrived,
    )
    # An address no unit lists: read, answered, flagged in the report, never taken as a unit.
    mail.send(
        "la.mat@yahoo.com",
        "Báo cáo",
        {"THON-05_2026Q3.xlsx": xlsx_bytes(template("THON-05", "2026Q3"))},
        arrived,
    )

    report = ingest_submissions().to_dict()

    assert report["mail"]["unknown_senders"] == ["la.mat@yahoo.com"]
    statuses = dict(
        mail.published(
            "select mail_sender, status || ':' || coalesce(unit_code, '') from mart.submissions"
        )
    )
    assert statuses["thon3.nghiahung@gmail.com"] == "accepted:THON-03"
    assert statuses["thon1.nghiahung@gmail.com"] == "rejected:THON-02"
    assert statuses["la.mat@yahoo.com"] == "accepted:THON-05"
    replies = _by_recipient(mail.smtp.received)
    conflict = _text(replies["thon1.nghiahung@gmail.com"])
    assert "Mã đơn vị không thống nhất" in conflict and "thon1.nghiahung@gmail.com" in conflict
    assert "chưa có trong danh sách đơn vị" in _text(replies["la.mat@yahoo.com"])


def test_a_failed_send_is_retried_by_the_next_run(mail: Mail) -> None:
    refusals = ["451 4.3.0 Thử lại sau"]
    mail.smtp.before_accept = lambda _item: refusals.pop() if refusals else None
    mail.send(
        "thon2.nghiahung@gmail.com",
        "Báo cáo",
        {"THON-02_2026Q3.xlsx": xlsx_bytes(template("THON-02", "2026Q3"))},
        dt.datetime(2026, 10, 8, 9, 0, tzinfo=VIETNAM),
    )

    first = ingest_submissions().to_dict()
    second = ingest_submissions().to_dict()
    third = ingest_submissions().to_dict()

    assert [r["status"] for r in first["mail"]["replies"]] == ["failed"]
    assert [r["status"] for r in second["mail"]["replies"]] == ["sent"]
    assert third["mail"]["replies"] == []
    assert len(mail.smtp.received) == 1


def test_a_dry_run_sends_nothing_and_says_what_it_would_send(mail: Mail) -> None:
    mail.send(
        "thon2.nghiahung@gmail.com",
        "Báo cáo",
        {"bao-cao.xlsx": _broken()},
        dt.datetime(2026, 10, 9, 9, 0, tzinfo=VIETNAM),
    )

    result = CliRunner().invoke(app, ["ingest", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "sẽ trả lời (chạy thử, chưa gửi) thon2.nghiahung@gmail.com" in result.output
    assert "bao-cao_phan-hoi.xlsx" in result.output
    assert mail.smtp.received == []
    assert PROCESSED_KEYWORD.encode() not in mail.imap.folder_state("INBOX")[0][1]

    result = CliRunner().invoke(app, ["--inbox", mail.imap.url, "ingest"])

    assert result.exit_code == 0, result.output
    assert "thon2.nghiahung@gmail.com (THON-02) «Báo cáo»: nhận bao-cao.xlsx" in result.output
    assert "đã trả lời thon2.nghiahung@gmail.com" in result.output
    assert len(mail.smtp.received) == 1


def test_a_zip_of_workbooks_is_answered_like_any_file(mail: Mail) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("THON-03_2026Q3.xlsx", xlsx_bytes(template("THON-03", "2026Q3")))
    mail.send(
        "thon3.nghiahung@gmail.com",
        "Báo cáo nén",
        {"bao-cao.zip": buffer.getvalue()},
        dt.datetime(2026, 10, 10, 9, 0, tzinfo=VIETNAM),
    )

    ingest_submissions()

    (reply,) = mail.smtp.received
    assert reply.rcpt_tos == ["thon3.nghiahung@gmail.com"]
    assert "ĐÃ TIẾP NHẬN" in _text(reply)
    assert "bao-cao.zip/THON-03_2026Q3.xlsx" in _text(reply)


def test_folder_names_travel_in_modified_utf7() -> None:
    assert encode_folder("Đã xử lý") == "&ARAA4w- x&Hu0- l&AP0-"  # as Python's UTF-7, & for +
    assert decode_folder(encode_folder("Đã xử lý")) == "Đã xử lý"
    assert encode_folder("A&B") == "A&-B"
    assert decode_folder("A&-B") == "A&B"


def test_a_unit_may_list_several_addresses(settings: Settings) -> None:
    units = settings.schemas_dir / "units.yaml"
    data = read_yaml(units)
    data["units"][0]["email"] = "a@x.vn; B@x.vn, c@x.vn"
    write_yaml(units, data, "")
    index = units_by_email(load_schema(settings).registry)
    code = data["units"][0]["code"]
    assert index["a@x.vn"] == index["b@x.vn"] == index["c@x.vn"] == (code,)


def test_the_nightly_consolidation_pulls_the_mailbox_too(mail: Mail) -> None:
    mail.send(
        "thon2.nghiahung@gmail.com",
        "Báo cáo quý III",
        {"THON-02_2026Q3.xlsx": xlsx_bytes(template("THON-02", "2026Q3"))},
        dt.datetime(2026, 10, 11, 9, 0, tzinfo=VIETNAM),
    )

    report = consolidate_nightly().to_dict()

    assert [m["sender"] for m in report["mail"]["messages"]] == ["thon2.nghiahung@gmail.com"]
    assert [r.rcpt_tos for r in mail.smtp.received] == [["thon2.nghiahung@gmail.com"]]


def test_a_message_too_big_to_take_is_recorded_even_when_nothing_else_changed(
    mail: Mail, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrived = dt.datetime(2026, 10, 5, 8, 30, tzinfo=VIETNAM)
    mail.send(
        "truongthon1@gmail.com",
        "Báo cáo quý III thôn 1",
        {"THON-01_2026Q3.xlsx": xlsx_bytes(template("THON-01", "2026Q3"))},
        arrived,
    )
    ingest_submissions()
    ingest_submissions()  # the replies went into the warehouse after the first publication
    assert ingest_submissions().load is None  # nothing new: nothing loaded nor published
    # The published copy is current and the inbox empty; a message too big to download has no
    # file to load, but it is recorded and answered all the same.
    monkeypatch.setenv("KHCN_MAX_FILE_BYTES", "1000")
    mail.send(
        "thon2.nghiahung@gmail.com", "Thôn 2", {"thon2.xlsx": os.urandom(2 * 1024 * 1024)}, arrived
    )

    report = ingest_submissions().to_dict()

    assert report["listed"] == 0 and report["load"] is not None
    [(count,)] = mail.published("select count(*) from raw.mail_messages")
    assert count == 2
    assert "thon2.nghiahung@gmail.com" in _by_recipient(mail.smtp.received)
