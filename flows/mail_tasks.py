"""The mailbox steps of the ingest flow: pull messages, keep their feedback, answer and flag.

Order matters for a run that is killed half-way: attachments are loaded before their message
is recorded, the message is recorded before it is flagged in the mailbox, and a reply is
recorded as `sending` before the server is asked and `sent` after. Whatever step a crash
interrupts, the next run finds the message unflagged or unanswered and finishes it; a
message already recorded is never fetched or loaded again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.model import Submission
from core.settings import Settings
from outputs.replies import (
    ReplyError,
    compose_reply,
    outcome,
    reply_message_id,
    reply_summary,
    send,
    sender_address,
    smtp_session,
)
from schemas.model import Registry
from schemas.registry import units_by_email
from schemas.verdict import Verdict
from sources.archives import split_member_url
from sources.mailbox import (
    FileAnswer,
    MailMessage,
    MessageAnswer,
    claim_sender_unit,
    max_message_bytes,
    open_mailbox,
    parse_mailbox_url,
    sender_unit,
)
from warehouse.archive import Receipt, archive
from warehouse.mail import (
    record_messages,
    record_reply_attempt,
    recorded_messages,
    reply_lock,
    unanswered,
)

# A reply the server refused this many times is not tried again; the run report shows it.
MAX_REPLY_FAILURES = 5
MAIL_FEEDBACK_FOLDER = "thu-tra-loi"


@dataclass
class MailPull:
    """What one run took from the mailbox."""

    mailbox: str
    messages: list[MailMessage] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    sender_units: dict[str, str | None] = field(default_factory=dict)
    recorded_uids: list[int] = field(default_factory=list)  # taken before, not yet flagged
    without_attachments: int = 0
    feedback: dict[str, str] = field(default_factory=dict)  # sha256 → kept feedback workbook

    def receipt_by_url(self) -> dict[str, Receipt]:
        return {r.url: r for r in self.receipts}

    def message_of(self, url: str) -> MailMessage | None:
        """The message a file came in: an attachment's, or the .zip attachment's of a member."""
        member = split_member_url(url)
        url = member[0] if member else url
        return next((m for m in self.messages if any(a.url == url for a in m.attachments)), None)

    def report(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "without_attachments": self.without_attachments,
            "messages": [
                {
                    "message_id": m.message_id,
                    "sender": m.sender,
                    "sender_unit": self.sender_units.get(m.message_id),
                    "subject": m.subject,
                    "received_at": m.received_at.isoformat(),
                    "files": [a.name for a in m.attachments],
                    "too_big": m.too_big,
                }
                for m in self.messages
            ],
            "unknown_senders": sorted(
                {m.sender for m in self.messages if self.sender_units.get(m.message_id) is None}
            ),
        }


@task(retries=2, retry_delay_seconds=[10, 30], cache_policy=NO_CACHE)
def pull_mailbox(settings: Settings, registry: Registry) -> MailPull:
    """Fetch the messages not taken before and archive their attachments.

    Messages without attachments are counted and left alone; messages the warehouse already
    holds (a rerun after a crash, a message moved back) are only remembered, to be flagged.
    """
    location = parse_mailbox_url(settings.mailbox_url)
    pull = MailPull(mailbox=location.url)
    addresses = units_by_email(registry)
    with open_mailbox(settings) as mailbox:
        headers = mailbox.unprocessed()
        known = recorded_messages(
            settings.warehouse, [h.message_id for h in headers if h.message_id]
        )
        for header in headers:
            if header.message_id in known:
                pull.recorded_uids.append(header.uid)
                continue
            message = mailbox.fetch(header, max_message_bytes(settings))
            if message.message_id in known or message.message_id in pull.sender_units:
                # Taken before, or a second copy of a message taken in this run.
                pull.recorded_uids.append(header.uid)
                continue
            if not message.attachments and not message.too_big:
                pull.without_attachments += 1
                continue
            pull.messages.append(message)
            pull.sender_units[message.message_id] = sender_unit(message.sender, addresses)
            for attachment in message.attachments:
                pull.receipts.append(
                    archive(
                        attachment.data,
                        name=attachment.name,
                        url=attachment.url,
                        archive_dir=settings.archive,
                        received_at=message.received_at,
                    )
                )
    return pull


@task(cache_policy=NO_CACHE)
def claim_sender_units(submissions: list[Submission], pull: MailPull) -> None:
    """The sender's registered unit, as the last source of each attachment's unit."""
    for submission in submissions:
        message = pull.message_of(submission.url)
        unit = pull.sender_units.get(message.message_id) if message else None
        if message is not None and unit is not None:
            claim_sender_unit(submission, unit, message.sender)


@task(cache_policy=NO_CACHE)
def keep_mail_feedback(verdicts: list[Verdict], pull: MailPull, settings: Settings) -> None:
    """Keep each emailed file's feedback workbook under its SHA-256, for its reply.

    The outbox names feedback after the unit and file name, which a later file can reuse;
    the reply needs the workbook of these very bytes, even when it is sent a run later.
    """
    # Imported here: openpyxl, which the feedback module brings, is not every run's cost.
    from outputs.feedback import feedback_path

    folder = settings.outbox / MAIL_FEEDBACK_FOLDER
    for verdict in verdicts:
        sha256 = verdict.submission.sha256
        written = feedback_path(verdict, settings.outbox)
        mailed = pull.message_of(verdict.submission.url) is not None
        if mailed and verdict.status != "accepted" and written.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            kept = folder / f"{sha256}.xlsx"
            shutil.copyfile(written, kept)
            pull.feedback[sha256] = str(kept.resolve())
    # Feedback kept by an interrupted run, for files this run did not read again.
    for receipt in pull.receipts:
        kept = folder / f"{receipt.sha256}.xlsx"
        if receipt.sha256 not in pull.feedback and kept.is_file():
            pull.feedback[receipt.sha256] = str(kept.resolve())


def record_pull(pull: MailPull, settings: Settings, run_id: int | None) -> int:
    """Record the pulled messages in the warehouse (the caller holds the writer's lock)."""
    return record_messages(
        settings.warehouse,
        pull.messages,
        pull.receipt_by_url(),
        pull.sender_units,
        pull.feedback,
        run_id,
    )


@task(retries=2, retry_delay_seconds=[10, 30], cache_policy=NO_CACHE)
def flag_messages(pull: MailPull, settings: Settings) -> int:
    """Flag (and move, if configured) every message the warehouse now holds."""
    uids = [m.uid for m in pull.messages] + pull.recorded_uids
    if uids:
        with open_mailbox(settings) as mailbox:
            mailbox.mark_processed(uids, settings.mailbox_processed_folder)
    return len(uids)


@task(cache_policy=NO_CACHE)
def answer_messages(settings: Settings, registry: Registry) -> list[dict[str, Any]]:
    """Send the reply of every recorded message not answered yet; record every attempt."""
    # Not Prefect's writer slot: a run killed while holding it would keep it, and every later
    # run would wait for it; this lock dies with its process.
    with reply_lock(settings.warehouse):
        return _answer(settings, registry)


def _answer(settings: Settings, registry: Registry) -> list[dict[str, Any]]:
    logger = get_run_logger()
    kept = settings.outbox / MAIL_FEEDBACK_FOLDER
    pending = [a for a in unanswered(settings.warehouse, kept) if a.failures < MAX_REPLY_FAILURES]
    if not pending:
        return []
    if not settings.smtp:
        logger.warning("Chưa cấu hình máy chủ gửi thư (smtp): %d thư chờ trả lời", len(pending))
        return [_unsent(a, "chưa cấu hình smtp") for a in pending]
    names = {u.code: u.name for u in registry.units}
    sender = sender_address(settings)
    done: list[dict[str, Any]] = []
    try:
        with smtp_session(settings) as client:
            for answer in pending:
                message = compose_reply(answer, settings, names)
                attempt = {
                    "reply_message_id": reply_message_id(answer, sender),
                    "subject": str(message["Subject"]),
                    "outcome": outcome(answer),
                }
                record_reply_attempt(settings.warehouse, answer, status="sending", **attempt)
                try:
                    send(client, message)
                except ReplyError as exc:
                    record_reply_attempt(
                        settings.warehouse, answer, status="failed", error=str(exc), **attempt
                    )
                    done.append(reply_summary(answer, message, "failed", str(exc)))
                    continue
                record_reply_attempt(settings.warehouse, answer, status="sent", **attempt)
                done.append(reply_summary(answer, message, "sent"))
    except ReplyError as exc:
        # The server itself is out of reach: every reply waits for the next run.
        logger.warning("Không gửi được thư trả lời: %s", exc)
        answered = {item["message_id"] for item in done}
        done += [_unsent(a, str(exc)) for a in pending if a.message_id not in answered]
    return done


def _unsent(answer: MessageAnswer, error: str) -> dict[str, Any]:
    """The summary of a reply that could not be sent this run (the next run tries again)."""
    return {
        "message_id": answer.message_id,
        "recipient": answer.recipient,
        "subject": answer.subject,
        "outcome": outcome(answer),
        "status": "failed",
        "attachments": [],
        "error": error,
    }


@task(cache_policy=NO_CACHE)
def preview_replies(
    pull: MailPull, verdicts: list[Verdict], settings: Settings, registry: Registry
) -> list[dict[str, Any]]:
    """What the replies would say, from this run's verdicts; nothing is sent or recorded."""
    by_sha = {v.submission.sha256: v for v in verdicts}
    receipts = pull.receipt_by_url()
    names = {u.code: u.name for u in registry.units}
    previews = []
    for message in pull.messages:
        files = []
        for attachment in message.attachments:
            receipt = receipts[attachment.url]
            verdict = by_sha.get(receipt.sha256)
            files.append(_file_answer(attachment.name, verdict, pull.feedback.get(receipt.sha256)))
        answer = MessageAnswer(
            message_id=message.message_id,
            recipient=message.reply_to,
            sender_unit=pull.sender_units.get(message.message_id),
            subject=message.subject,
            references=message.references,
            files=tuple(files),
            too_big=message.too_big,
        )
        previews.append(reply_summary(answer, compose_reply(answer, settings, names), "dry_run"))
    return previews


def _file_answer(name: str, verdict: Verdict | None, feedback: str | None) -> FileAnswer:
    if verdict is None:
        # Bytes the warehouse already holds: loading will record them as a duplicate.
        return FileAnswer(name=name, verdict="duplicate")
    submission = verdict.submission
    return FileAnswer(
        name=name,
        verdict=verdict.status,
        unit_code=submission.unit_code,
        period=submission.period,
        values=sum(1 for v in submission.values if v.value is not None),
        errors=tuple(f.message for f in verdict.errors),
        warnings=tuple(f.message for f in verdict.warnings),
        feedback_path=feedback,
    )
