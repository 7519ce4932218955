"""kill -9 of a mail run half-way through its replies, then a rerun: every message is loaded
once and answered once. The run is `khcn ingest` in its own process (and Prefect's own API);
the SMTP server kills it the moment the second reply arrives, before accepting that reply."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from filemakers import template, xlsx_bytes
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

from core.settings import Settings

KHCN = Path(sys.executable).with_name("khcn")


def _environment(mail: Mail, ca: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHCN_", "PREFECT_"))}
    env.update(
        {
            "KHCN_SCHEMAS_DIR": str(mail.settings.schemas_dir),
            "KHCN_DATA_DIR": str(mail.settings.data_dir),
            "KHCN_MAILBOX": mail.imap.url,
            "KHCN_MAILBOX_PASSWORD": MAILBOX_PASSWORD,
            "KHCN_MAIL_CA_FILE": str(ca),
            "KHCN_SMTP": mail.smtp.url(),
            "KHCN_SMTP_PASSWORD": SMTP_PASSWORD,
            "PREFECT_HOME": str(tmp_path / "prefect"),
        }
    )
    return env


def _ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Its own process group: Prefect's API server runs as a child and dies with it.
        return subprocess.Popen(
            [str(KHCN), "ingest"], env=env, stdout=out, stderr=out, start_new_session=True
        )


def test_kill_9_while_replying_then_rerun_loads_and_answers_each_message_once(
    settings: Settings, tmp_path: Path
) -> None:
    register_addresses(settings)
    with dovecot(tmp_path / "dovecot") as imap, smtp_server(tmp_path / "smtp-tls") as smtp:
        ca = combined_ca(tmp_path, [imap.ca_file, tmp_path / "smtp-tls" / "cert.pem"])
        mail = Mail(imap, smtp, settings)
        arrived = dt.datetime(2026, 10, 5, 8, 30, tzinfo=VIETNAM)
        for code, address in (
            ("THON-01", "truongthon1@gmail.com"),
            ("THON-02", "thon2.nghiahung@gmail.com"),
            ("THON-03", "thon3.nghiahung@gmail.com"),
        ):
            workbook = xlsx_bytes(template(code, "2026Q3"))
            mail.send(address, f"Báo cáo {code}", {f"{code}_2026Q3.xlsx": workbook}, arrived)
        env = _environment(mail, ca, tmp_path)
        log = tmp_path / "ingest.log"
        seen: list[Received] = []
        process = _ingest(env, log)

        def kill_on_second(item: Received) -> str | None:
            seen.append(item)
            if len(seen) == 2:
                os.killpg(process.pid, signal.SIGKILL)
                return "421 4.3.0 Máy chủ đang bận"
            return None

        smtp.before_accept = kill_on_second
        process.wait(timeout=900)
        assert process.returncode == -signal.SIGKILL, log.read_text(errors="replace")
        assert len(smtp.received) == 1

        smtp.before_accept = None
        rerun = _ingest(env, log)
        assert rerun.wait(timeout=900) == 0, log.read_text(errors="replace")

        recipients = sorted(r.rcpt_tos[0] for r in smtp.received)
        assert recipients == [
            "thon2.nghiahung@gmail.com",
            "thon3.nghiahung@gmail.com",
            "truongthon1@gmail.com",
        ]
        with duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True) as con:
            loads = con.execute(
                "select count(*), count(distinct sha256) from raw.received_files"
            ).fetchone()
            sent = con.execute(
                "select message_id, count(*) from raw.mail_reply_attempts "
                "where status = 'sent' group by all"
            ).fetchall()
            messages = con.execute("select count(*) from raw.mail_messages").fetchone()
        assert loads == (3, 3)
        assert messages == (3,)
        assert len(sent) == 3 and all(count == 1 for _, count in sent)
