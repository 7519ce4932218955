"""Ingest the inbox: list → receive → read → validate → load → feedback → publish."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from core.model import Submission, issue
from core.names import storable
from core.settings import Settings, load_settings
from flows.bundles import send_bundle
from flows.mail_tasks import (
    MailPull,
    answer_messages,
    claim_sender_units,
    flag_messages,
    keep_mail_feedback,
    preview_replies,
    pull_mailbox,
    record_pull,
)
from flows.progress import listening, notice, step
from flows.results import IngestResult, LoadCounts
from outputs.run_report import FileResult, RunRecord, write_run_report
from schemas.registry import unit_names
from schemas.schema import Schema, load_schema
from schemas.summary import summarize
from schemas.validation import engine, validate_in_batches
from schemas.verdict import Verdict
from sources.archives import is_archive, member_url, unit_folder_of, unpack_many
from sources.guard import Limits
from sources.inbox import (
    InboxEntry,
    RefusedFileError,
    check_inbox,
    list_inbox,
    open_source,
    refusal_note,
    refusal_of,
    refused_submission,
)
from sources.names import Names
from sources.read import read_many
from warehouse.archive import Receipt, archive, received_before
from warehouse.dashboard import dashboard_data
from warehouse.dimensions import sync_schema
from warehouse.history import value_history
from warehouse.load import LoadSummary, load, registered_hashes
from warehouse.lock import Holder, writer_lock
from warehouse.migrate import init
from warehouse.publish import publish
from warehouse.runs import close_interrupted_runs

T = TypeVar("T")

# Tasks pass whole batches (thousands of submissions, each with its cells). Prefect would hash
# every input for a cache key no run reuses, and walk every object to track dependencies: no
# task caches, and batches are passed `opaque`.


def opaque(value: T) -> T:
    """The value, hidden from Prefect's walk through task inputs (`quote`), type kept."""
    return cast(T, quote(value))


@task(cache_policy=NO_CACHE)
def load_task_schema(settings: Settings) -> Schema:
    """Load the catalog, registry and elements, checked."""
    return load_schema(settings)


@task(retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE)
def list_submissions(inbox_url: str) -> list[InboxEntry]:
    """List every submission file in the inbox."""
    return list_inbox(inbox_url)


@task(retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE)
def receive_files(entries: list[InboxEntry], settings: Settings) -> list[Receipt]:
    """Fetch each file once and keep it in the content-addressed archive.

    A file was received when it landed in the inbox (its modification time), not when this
    run found it: a report that arrived before the deadline is on time even if the nightly
    run reads it after. A file the warehouse registered before from the same place, with the
    same size and modification time, is neither copied nor hashed again.
    """
    now = datetime.now(settings.tz)
    times = [min(entry.modified or now, now) for entry in entries]
    before = received_before(
        settings.warehouse,
        [(e.url, e.size, t) for e, t in zip(entries, times, strict=True) if e.modified],
    )
    receipts = []
    for entry, received_at in zip(entries, times, strict=True):
        refusal = entry.refused
        if refusal is None and (known := before.get(storable(entry.url))) is not None:
            # Same place, size and modification time as a file already archived: the copy is
            # there and its hash known; nothing is read again.
            sha256, archived_path = known
            receipts.append(
                Receipt(sha256, entry.size, entry.name, entry.url, received_at, archived_path)
            )
            continue
        if refusal is None:
            try:
                with open_source(entry.url) as source:
                    receipts.append(
                        archive(
                            source,
                            name=entry.name,
                            url=entry.url,
                            archive_dir=settings.archive,
                            received_at=received_at,
                        )
                    )
                continue
            except RefusedFileError as exc:
                refusal = exc.refusal
        # No byte of a refused file is read: the archive keeps a note of what was refused.
        receipts.append(
            archive(
                refusal_note(entry.url, refusal),
                name=entry.name,
                url=entry.url,
                archive_dir=settings.archive,
                received_at=received_at,
            )
        )
    return receipts


@task(cache_policy=NO_CACHE)
def unpack_archives(receipts: list[Receipt], settings: Settings) -> list[Receipt]:
    """Replace each received .zip by its members, each archived as a receipt of its own.

    The .zip itself stays in the archive. Unpacking runs in worker processes under the reading
    limits; an archive that is rejected (hostile, broken, empty) stays a receipt of its own, and
    reading it gives the reason. Members keep the archive's reception time.
    """
    zips = [r for r in receipts if is_archive(r.name)]
    if not zips:
        return receipts
    limits = Limits.of(settings)
    unpacked = dict(
        zip(
            (r.archived_path for r in zips),
            unpack_many([(r.name, _archived_bytes(r, limits)) for r in zips], limits),
            strict=True,
        )
    )
    out: list[Receipt] = []
    for receipt in receipts:
        result = unpacked.get(receipt.archived_path) if is_archive(receipt.name) else None
        if result is None or result.issue is not None:
            out.append(receipt)
            continue
        out.extend(
            archive(
                member.data,
                name=member.name,
                url=member_url(receipt.url, member.path),
                archive_dir=settings.archive,
                received_at=receipt.received_at,
            )
            for member in result.members
        )
    return out


def _archived_bytes(receipt: Receipt, limits: Limits) -> bytes:
    # Too big a file is read only up to the limit; the worker then rejects it unopened.
    with receipt.archived_path.open("rb") as handle:
        return handle.read(limits.max_file_bytes + 1)


@task(cache_policy=NO_CACHE)
def new_receipts(receipts: list[Receipt], settings: Settings) -> list[Receipt]:
    """The files whose bytes the warehouse has never seen (each once)."""
    known = registered_hashes(settings.warehouse, (r.sha256 for r in receipts))
    fresh: dict[str, Receipt] = {}
    for receipt in receipts:
        if receipt.sha256 not in known:
            fresh.setdefault(receipt.sha256, receipt)
    return list(fresh.values())


@task(cache_policy=NO_CACHE)
def read_files(
    receipts: list[Receipt],
    entries: list[InboxEntry],
    settings: Settings,
    schema: Schema | None = None,
) -> list[Submission]:
    """Read the archived copies in parallel worker processes, under the reading limits.

    With the schema, units and elements written by name are matched to their codes.
    """
    folders = {entry.url: entry.unit_folder for entry in entries}
    refused = {r.sha256: refusal_of(r.archived_path) for r in receipts}
    archived = [
        InboxEntry(
            url=r.url,
            name=r.name,
            size=r.size,
            unit_folder=unit_folder_of(r.url, folders),
            sha256=r.sha256,
            archived=str(r.archived_path),
        )
        for r in receipts
        if refused[r.sha256] is None
    ]
    names = None
    if schema is not None:
        elements = [(e.code, e.name) for e in schema.elements.elements]
        names = Names.of(unit_names(schema.registry), elements)
    # Read from the archive, named as sent: the receipt's URL, size and hash come along.
    read = iter(read_many(archived, settings, names=names))
    return [
        next(read)
        if (refusal := refused[r.sha256]) is None
        else refused_submission(r.url, r.name, r.size, r.sha256, refusal)
        for r in receipts
    ]


@task(cache_policy=NO_CACHE)
def validate_submissions(
    submissions: list[Submission], schema: Schema, settings: Settings
) -> list[Verdict]:
    """Validate in batches against the task schema and the units' own history."""
    # Only the history of the units being judged: its cost follows the batch, not the warehouse.
    units = {s.unit_code for s in submissions if s.unit_code}
    history = value_history(settings.warehouse, units) if settings.warehouse.is_file() else None
    today = datetime.now(settings.tz).date()
    try:
        return validate_in_batches(
            submissions,
            schema,
            today=today,
            history=history,
            batch_size=settings.validation_batch,
            data_docs_dir=_data_docs(settings),
        )
    except Exception:  # noqa: BLE001 - one submission must not cost the others their verdicts
        get_run_logger().exception("Kiểm tra cả lô bị lỗi; kiểm tra lại từng tệp")
    verdicts = []
    for submission in submissions:
        try:
            verdicts.extend(validate_in_batches([submission], schema, today=today, history=history))
        except Exception as exc:  # noqa: BLE001 - the failure becomes that file's finding
            detail = storable(f"{type(exc).__name__}: {exc}")[:300]
            found = issue("R-VALIDATE-FAILED", file=submission.name, detail=detail)
            verdicts.append(Verdict(submission, [*submission.issues, found]))
    return verdicts


def _data_docs(settings: Settings) -> Path | None:
    """Great Expectations' Data Docs folder when the commune asked for them (English, online)."""
    return (settings.reports / "data-docs").resolve() if settings.data_docs else None


@task(cache_policy=NO_CACHE)
def send_feedback(
    verdicts: list[Verdict], receipts: list[Receipt], settings: Settings
) -> list[Path | None]:
    """Write a marked-up copy of each rejected or warned workbook to the unit's outbox; one
    entry per verdict, None when accepted without warnings.

    The copies run in worker processes under the reading limits; a file whose feedback cannot
    be written at all gets an `R-FEEDBACK-FAILED` warning on its verdict (kept in the
    warehouse), and the run goes on.
    """
    originals = {r.sha256: r.archived_path for r in receipts}
    # Imported when there is feedback to write: openpyxl costs a second of every start.
    from outputs.feedback import write_feedback_many

    results = write_feedback_many(
        [(v, originals.get(v.submission.sha256)) for v in verdicts],
        settings.outbox,
        Limits.of(settings),
    )
    for result in results:
        if result.error is not None:
            result.verdict.findings.append(
                issue("R-FEEDBACK-FAILED", file=result.verdict.submission.name, detail=result.error)
            )
    return [result.path for result in results]


@task(cache_policy=NO_CACHE)
def load_warehouse(
    verdicts: list[Verdict],
    receipts: list[Receipt],
    schema: Schema,
    settings: Settings,
    mail: MailPull | None = None,
) -> LoadSummary:
    """Load every received file, one transaction each, record the messages they came in,
    and publish the read-only copy.

    The caller holds the writer lock (`_writing`). Load runs left without an end by a run
    that died are closed first, in one line; what they committed stays.
    """
    init(settings.warehouse)
    closed = close_interrupted_runs(settings.warehouse)
    if closed:
        notice(
            f"Đã đóng {len(closed)} lần nạp bị ngắt giữa chừng (lần nạp số "
            f"{', '.join(str(run.run_id) for run in closed)}); các tệp đã nạp xong được giữ nguyên."
        )
    sync_schema(settings.warehouse, schema, settings)
    notice(f"Đang nạp {len(receipts)} tệp vào kho.")
    summary = load(settings.warehouse, verdicts, receipts, settings, settings.load_batch)
    if mail is not None:
        record_pull(mail, settings, summary.run_id)
    notice("Đang công bố bản đọc.")
    send_bundle(publish(settings.warehouse, settings.published), settings)
    refresh_dashboard(settings)
    return summary


def _prepare_validation() -> None:
    """Build the process's Great Expectations engine ahead of use; a failure here is left to
    validation, which meets it again and answers it per file."""
    with suppress(Exception):
        engine()


@contextmanager
def _writing(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's writer lock: one run at a time reads what is known and loads.

    The lock file is held by this process and the kernel lets go of it when the process ends,
    however it ends, so a run that died never blocks the next; the next says it cleared it.
    """

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "một lần chạy khác"
        notice(f"Kho đang được ghi bởi {who}; chờ lần chạy đó xong.")

    with writer_lock(settings.warehouse, on_wait=waiting) as lock:
        if lock.stale is not None:
            notice(
                f"Đã gỡ khoá ghi kho cũ của {lock.stale.describe()} "
                "(lần chạy đó đã dừng giữa chừng)."
            )
        yield


def refresh_dashboard(settings: Settings) -> None:
    """Rewrite the dashboard from the copy just published, under the writer's lock so pages
    follow publications in order.

    The page is derived: when it cannot be drawn the load still stands, the run log says why,
    and `khcn dashboard` draws it again.
    """
    try:
        # Imported when drawn: plotly costs a second of every start.
        from outputs.dashboard import DASHBOARD, write_dashboard

        page = settings.published / DASHBOARD
        write_dashboard(page, dashboard_data(settings.published), settings.commune_name)
    except Exception as exc:  # any failure of a derived page must not undo a finished load
        get_run_logger().warning("Không ghi được bảng theo dõi: %s", exc)


def file_results(verdicts: list[Verdict], feedback: list[Path | None]) -> list[FileResult]:
    """One line per file read: who sent it for which period, the verdict, and why."""
    return [
        FileResult(
            file=v.submission.name,
            url=v.submission.url,
            unit=v.submission.unit_code,
            period=v.submission.period,
            verdict=v.status,
            errors=[f.message for f in v.errors],
            warnings=[f.message for f in v.warnings],
            feedback=str(path) if path else None,
        )
        for v, path in zip(verdicts, feedback, strict=True)
    ]


@flow(name="ingest-submissions")
def ingest_submissions(
    dry_run: bool = False,
    inbox: str | None = None,
    mail_only: bool = False,
    settings: Settings | None = None,
) -> IngestResult:
    """Ingest what units sent; with `dry_run`, validate and write feedback but load nothing.

    Each step reports its progress (`flows.progress`), to the run log and to any listener in
    the process; every run leaves a Vietnamese HTML report under `<reports>/runs/`.

    Args:
        dry_run: validate and write feedback only.
        inbox: an fsspec URL to read instead of the configured inbox, or a mailbox URL
            (`imaps://user@host/INBOX`) to pull instead of any folder.
        mail_only: pull the mailbox only, not the inbox folder (the working-hours schedule).
        settings: the settings to run with (the command line's); default loaded as configured.
    """
    settings = settings.with_overrides(inbox=inbox) if settings else load_settings(inbox=inbox)
    logger = get_run_logger()
    with listening(lambda event: logger.info(event.line())):
        return _ingest(settings, dry_run, mail_only)


def _ingest(settings: Settings, dry_run: bool, mail_only: bool) -> IngestResult:
    started_at = datetime.now(settings.tz)
    if mail_only and not settings.mailbox_url:
        get_run_logger().warning("Chưa cấu hình hộp thư (mailbox): không có gì để nhận")
        none = summarize([])
        counts = {str(k): v for k, v in none.by_status.items()}
        return IngestResult("", 0, 0, counts, none, [], [], dry_run, skipped=True)
    folder = settings.lists_folder and not mail_only
    if folder:
        # A missing folder or an uninstalled filesystem is not transient: no retries for it.
        check_inbox(settings.inbox_url)
    seconds: dict[str, float] = {}
    with step("schema", seconds):
        schema = load_task_schema(settings)
    with step("receive", seconds) as tally:
        entries = list_submissions(settings.inbox_url) if folder else []
        receipts = receive_files(opaque(entries), settings)
        mail = pull_mailbox(settings, opaque(schema.registry)) if settings.mailbox_url else None
        receipts += mail.receipts if mail else []
        tally.count = listed = len(receipts)
        receipts = unpack_archives(opaque(receipts), settings)
    # Everything that reads what the warehouse knows, up to the publication, is one writer's.
    with _writing(settings):
        fresh = new_receipts(opaque(receipts), settings)
        if fresh:
            # Great Expectations takes seconds to import and set up: done in a thread while the
            # files are read in worker processes, ready when validation starts.
            threading.Thread(target=_prepare_validation, name="khcn-gx", daemon=True).start()
        with step("read", seconds, len(fresh)):
            submissions = read_files(opaque(fresh), opaque(entries), settings, opaque(schema))
            if mail:
                claim_sender_units(opaque(submissions), opaque(mail))
        with step("validate", seconds, len(submissions)):
            verdicts = validate_submissions(opaque(submissions), opaque(schema), settings)
        with step("feedback", seconds, len(verdicts)):
            feedback = send_feedback(opaque(verdicts), opaque(fresh), settings)
            if mail:
                keep_mail_feedback(opaque(verdicts), opaque(mail), settings)
        loaded = None
        if not dry_run:
            with step("load_and_publish", seconds, len(receipts)):
                loaded = load_warehouse(
                    opaque(verdicts), opaque(receipts), opaque(schema), settings, opaque(mail)
                )
    summary = summarize(verdicts)
    create_markdown_artifact(summary.markdown(), key="khcn-validation", description="Kiểm tra")
    create_table_artifact(summary.table_rows(), key="khcn-validation-table", description="Kiểm tra")
    result = IngestResult(
        inbox=settings.inbox_url if folder else (settings.mailbox_url or ""),
        listed=listed,
        new=len(fresh),
        verdicts={str(k): v for k, v in summary.by_status.items()},
        summary=summary,
        files=file_results(verdicts, feedback),
        feedback=[str(path) for path in feedback if path is not None],
        dry_run=dry_run,
        data_docs=str(docs) if (docs := _data_docs(settings)) else None,
    )
    if loaded is not None:
        result.load = LoadCounts(
            loaded.run_id, loaded.imported, loaded.updated, loaded.ignored, loaded.rejected
        )
        create_table_artifact(
            [{"kết quả": k, "số tệp": v} for k, v in result.load.items()],
            key="khcn-load",
            description="Nạp vào kho",
        )
    if mail:
        with step("mail", seconds, len(mail.receipts)):
            result.mail = _answer(mail, verdicts, schema, settings, dry_run)
    result.seconds = seconds
    record = RunRecord(
        started_at=started_at,
        inbox=result.inbox,
        dry_run=dry_run,
        listed=result.listed,
        new=result.new,
        verdicts=result.verdicts,
        files=result.files,
        load=asdict(result.load) if result.load else None,
        seconds=seconds,
    )
    result.run_report = str(write_run_report(settings.reports / "runs", record))
    return result


def _answer(
    mail: MailPull, verdicts: list[Verdict], schema: Schema, settings: Settings, dry_run: bool
) -> dict[str, Any]:
    """Flag the messages taken and reply to each (a dry run only says what it would send)."""
    report = mail.report()
    if dry_run:
        replies = preview_replies(opaque(mail), opaque(verdicts), settings, schema.registry)
    else:
        report["flagged"] = flag_messages(opaque(mail), settings)
        replies = answer_messages(settings, opaque(schema.registry))
    report["replies"] = replies
    if replies:
        create_table_artifact(
            [
                {
                    "người nhận": r["recipient"],
                    "tiêu đề": r["subject"],
                    "kết quả": r["outcome"],
                    "trạng thái": r["status"],
                    "tệp kèm": ", ".join(r["attachments"]),
                }
                for r in replies
            ],
            key="khcn-mail-replies",
            description="Thư trả lời đơn vị",
        )
    return report
