"""The warehouse's record of the mailbox: messages taken, their attachments, reply attempts.

A message is recorded after its attachments were loaded, in one transaction; its Message-ID
is then known and the message is never loaded again, whatever folder or UID it turns up
under. Reply attempts are appended before and after each send, so a reply is sent once and a
failed or interrupted one is sent again by the next run.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sources.mailbox import FileAnswer, MailMessage, MessageAnswer
from warehouse.archive import Receipt
from warehouse.db import connect, sql, transaction
from warehouse.migrate import apply


def recorded_messages(db_path: Path, message_ids: Sequence[str]) -> frozenset[str]:
    """The Message-IDs among `message_ids` already taken from the mailbox."""
    if not message_ids or not db_path.is_file():
        return frozenset()
    con = connect(db_path)
    try:
        apply(con)
        rows = con.execute(sql("mail/recorded_messages"), {"message_ids": list(message_ids)})
        return frozenset(row[0] for row in rows.fetchall())
    finally:
        con.close()


def record_messages(
    db_path: Path,
    messages: Sequence[MailMessage],
    receipts: Mapping[str, Receipt],
    sender_units: Mapping[str, str | None],
    feedback: Mapping[str, str],
    run_id: int | None,
) -> int:
    """Record messages whose attachments are loaded, all in one transaction.

    Args:
        db_path: the warehouse.
        messages: the messages taken in this run.
        receipts: each attachment's receipt, by its `mid:` URL.
        sender_units: the sender's registered unit, by Message-ID (None: unknown sender).
        feedback: the kept feedback workbook of each attachment's bytes, by SHA-256.
        run_id: the load run that loaded the attachments.

    Returns:
        How many messages were recorded now (those recorded before are left as they were).
    """
    now = datetime.now(UTC)
    con = connect(db_path)
    try:
        apply(con)
        known = {
            row[0]
            for row in con.execute(
                sql("mail/recorded_messages"), {"message_ids": [m.message_id for m in messages]}
            ).fetchall()
        }
        fresh = [m for m in messages if m.message_id not in known]
        with transaction(con):
            for message in fresh:
                con.execute(
                    sql("mail/insert_message"), _message_row(message, sender_units, run_id, now)
                )
                for attachment in message.attachments:
                    receipt = receipts[attachment.url]
                    con.execute(
                        sql("mail/insert_attachment"),
                        {
                            "message_id": message.message_id,
                            "part": attachment.part,
                            "attachment_name": attachment.name,
                            "url": attachment.url,
                            "sha256": receipt.sha256,
                            "feedback_path": feedback.get(receipt.sha256),
                        },
                    )
        return len(fresh)
    finally:
        con.close()


def _message_row(
    message: MailMessage, sender_units: Mapping[str, str | None], run_id: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "mailbox": message.mailbox,
        "uidvalidity": message.uidvalidity,
        "uid": message.uid,
        "sender": message.sender,
        "reply_to": message.reply_to,
        "sender_unit": sender_units.get(message.message_id),
        "subject": message.subject,
        "received_at": message.received_at,
        "references_chain": message.references,
        "attachment_count": len(message.attachments),
        "too_big": message.too_big,
        "run_id": run_id,
        "recorded_at": now,
    }


def _kept(folder: Path | None, sha256: str | None) -> str | None:
    path = folder / f"{sha256}.xlsx" if folder is not None and sha256 else None
    return str(path.resolve()) if path is not None and path.is_file() else None


def unanswered(db_path: Path, kept_feedback: Path | None = None) -> list[MessageAnswer]:
    """Every recorded message whose reply was never sent, with what each attachment became.

    Args:
        db_path: the warehouse.
        kept_feedback: the folder of feedback workbooks kept by SHA-256, where the members of
            a mailed .zip find theirs.
    """
    if not db_path.is_file():
        return []
    con = connect(db_path)
    try:
        apply(con)
        messages = con.execute(sql("mail/unanswered_messages")).fetchall()
        ids = [row[0] for row in messages]
        files: dict[str, list[FileAnswer]] = {}
        for row in con.execute(sql("mail/message_files"), {"message_ids": ids}).fetchall():
            (
                message_id,
                _part,
                name,
                sha256,
                feedback,
                _sid,
                verdict,
                _status,
                unit,
                period,
                version,
                values,
                _errors,
                _warnings,
                duplicate_of,
                findings,
            ) = row
            files.setdefault(message_id, []).append(
                FileAnswer(
                    name=name,
                    verdict=verdict or "unknown",
                    unit_code=unit,
                    period=period,
                    version=version,
                    values=int(values or 0),
                    errors=tuple(f["message"] for f in findings if f["severity"] == "error"),
                    warnings=tuple(f["message"] for f in findings if f["severity"] != "error"),
                    feedback_path=feedback or _kept(kept_feedback, sha256),
                    duplicate_of=duplicate_of,
                )
            )
        return [
            MessageAnswer(
                message_id=message_id,
                recipient=reply_to or sender,
                sender_unit=sender_unit,
                subject=subject,
                references=references,
                files=tuple(files.get(message_id, ())),
                too_big=too_big,
                failures=int(failures),
            )
            for (
                message_id,
                sender,
                reply_to,
                sender_unit,
                subject,
                _received,
                references,
                too_big,
                failures,
            ) in messages
        ]
    finally:
        con.close()


@contextmanager
def reply_lock(db_path: Path) -> Iterator[None]:
    """Held while replies are sent: two runs never answer the same message at once.

    An operating-system lock on a file beside the warehouse, so a run killed mid-send
    releases it with its process, and the next run is never left waiting for it.
    """
    path = db_path.with_name(db_path.name + ".replies.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_reply_attempt(
    db_path: Path,
    answer: MessageAnswer,
    *,
    reply_message_id: str,
    subject: str,
    outcome: str,
    status: str,
    error: str | None = None,
) -> None:
    """Append one reply attempt: `sending` before the send, `sent` or `failed` after it."""
    con = connect(db_path)
    try:
        with transaction(con):
            con.execute(
                sql("mail/insert_reply_attempt"),
                {
                    "message_id": answer.message_id,
                    "reply_message_id": reply_message_id,
                    "recipient": answer.recipient,
                    "subject": subject,
                    "outcome": outcome,
                    "status": status,
                    "error": error,
                    "attempted_at": datetime.now(UTC),
                },
            )
    finally:
        con.close()
