"""Ingest the inbox: list → receive → read → validate → load → feedback → publish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from khcn.settings import Settings, load_settings
from schemas.schema import Schema, load_schema
from schemas.validation import summarize, validate_in_batches
from schemas.verdict import Verdict
from sources.feedback import write_feedback
from sources.inbox import (
    InboxEntry,
    RefusedFileError,
    list_inbox,
    open_source,
    refusal_note,
    refusal_of,
    refused_submission,
)
from sources.model import Submission
from sources.read import read_many
from warehouse.archive import Receipt, archive
from warehouse.history import value_history
from warehouse.load import LoadSummary, known_hashes, load, sync_schema
from warehouse.lock import Holder, writer_lock
from warehouse.migrate import init
from warehouse.publish import publish
from warehouse.runs import close_interrupted_runs

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
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
    run reads it after.
    """
    now = datetime.now(VIETNAM)
    receipts = []
    for entry in entries:
        received_at = min(entry.modified or now, now)
        refusal = entry.refused
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
def new_receipts(receipts: list[Receipt], settings: Settings) -> list[Receipt]:
    """The files whose bytes the warehouse has never seen (each once)."""
    known = set(known_hashes(settings.warehouse))
    fresh: dict[str, Receipt] = {}
    for receipt in receipts:
        if receipt.sha256 not in known:
            fresh.setdefault(receipt.sha256, receipt)
    return list(fresh.values())


@task(cache_policy=NO_CACHE)
def read_files(
    receipts: list[Receipt], entries: list[InboxEntry], settings: Settings
) -> list[Submission]:
    """Read the archived copies in parallel worker processes, under the reading limits."""
    folders = {entry.url: entry.unit_folder for entry in entries}
    refused = {r.sha256: refusal_of(r.archived_path) for r in receipts}
    archived = [
        InboxEntry(
            url=str(r.archived_path), name=r.name, size=r.size, unit_folder=folders.get(r.url)
        )
        for r in receipts
        if refused[r.sha256] is None
    ]
    read = iter(read_many(archived, settings))
    submissions = [
        next(read)
        if (refusal := refused[r.sha256]) is None
        else refused_submission(r.url, r.name, r.size, r.sha256, refusal)
        for r in receipts
    ]
    # The archive hashed every file, even those too big to read.
    for submission, receipt in zip(submissions, receipts, strict=True):
        submission.url, submission.sha256, submission.size = (
            receipt.url,
            receipt.sha256,
            receipt.size,
        )
    return submissions


@task(cache_policy=NO_CACHE)
def validate_submissions(
    submissions: list[Submission], schema: Schema, settings: Settings
) -> list[Verdict]:
    """Validate in batches against the task schema and the units' own history."""
    history = value_history(settings.warehouse) if settings.warehouse.is_file() else None
    return validate_in_batches(
        submissions,
        schema,
        today=datetime.now(VIETNAM).date(),
        history=history,
        batch_size=settings.validation_batch,
        data_docs_dir=(settings.reports / "data-docs").resolve(),
    )


@task(cache_policy=NO_CACHE)
def send_feedback(
    verdicts: list[Verdict], receipts: list[Receipt], settings: Settings
) -> list[Path]:
    """Write a marked-up copy of each rejected or warned workbook to the unit's outbox."""
    originals = {r.sha256: r.archived_path for r in receipts}
    written = (write_feedback(v, originals[v.submission.sha256], settings.outbox) for v in verdicts)
    return [path for path in written if path is not None]


@task(cache_policy=NO_CACHE)
def load_warehouse(
    verdicts: list[Verdict], receipts: list[Receipt], schema: Schema, settings: Settings
) -> LoadSummary:
    """Load every received file, one transaction each, and publish the read-only copy.

    The caller holds the writer lock (`_writing`). Load runs left without an end by a run
    that died are closed first, in one line; what they committed stays.
    """
    logger = get_run_logger()
    init(settings.warehouse)
    closed = close_interrupted_runs(settings.warehouse)
    if closed:
        logger.warning(
            "Đã đóng %d lần nạp bị ngắt giữa chừng (lần nạp số %s); "
            "các tệp đã nạp xong được giữ nguyên.",
            len(closed),
            ", ".join(str(run.run_id) for run in closed),
        )
    sync_schema(settings.warehouse, schema, settings)
    logger.info("Đang nạp %d tệp vào kho.", len(receipts))
    summary = load(settings.warehouse, verdicts, receipts, settings)
    logger.info("Đang công bố bản đọc.")
    publish(settings.warehouse, settings.published)
    return summary


@contextmanager
def _writing(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's writer lock: one run at a time reads what is known and loads.

    The lock file is held by this process and the kernel lets go of it when the process ends,
    however it ends, so a run that died never blocks the next; the next says it cleared it.
    """
    logger = get_run_logger()

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "một lần chạy khác"
        logger.warning("Kho đang được ghi bởi %s; chờ lần chạy đó xong.", who)

    with writer_lock(settings.warehouse, on_wait=waiting) as lock:
        if lock.stale is not None:
            logger.warning(
                "Đã gỡ khoá ghi kho cũ của %s (lần chạy đó đã dừng giữa chừng).",
                lock.stale.describe(),
            )
        yield


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[step] = round(time.perf_counter() - started, 3)


@flow(name="ingest-submissions")
def ingest_submissions(dry_run: bool = False, inbox: str | None = None) -> dict[str, Any]:
    """Ingest what units sent; with `dry_run`, validate and write feedback but load nothing.

    Args:
        dry_run: validate and write feedback only.
        inbox: an fsspec URL to read instead of the configured inbox.
    """
    logger = get_run_logger()
    settings = load_settings(inbox=inbox)
    seconds: dict[str, float] = {}
    with _timed(seconds, "schema"):
        schema = load_task_schema(settings)
    with _timed(seconds, "receive"):
        entries = list_submissions(settings.inbox_url)
        receipts = receive_files(opaque(entries), settings)
    # Everything that reads what the warehouse knows, up to the publication, is one writer's.
    with _writing(settings):
        with _timed(seconds, "known"):
            fresh = new_receipts(opaque(receipts), settings)
        with _timed(seconds, "read"):
            submissions = read_files(opaque(fresh), opaque(entries), settings)
        with _timed(seconds, "validate"):
            verdicts = validate_submissions(opaque(submissions), opaque(schema), settings)
        with _timed(seconds, "feedback"):
            feedback = send_feedback(opaque(verdicts), opaque(fresh), settings)
        loaded = None
        if not dry_run:
            with _timed(seconds, "load_and_publish"):
                loaded = load_warehouse(
                    opaque(verdicts), opaque(receipts), opaque(schema), settings
                )
    summary = summarize(verdicts)
    create_markdown_artifact(summary.markdown(), key="khcn-validation", description="Kiểm tra")
    create_table_artifact(summary.table_rows(), key="khcn-validation-table", description="Kiểm tra")
    report: dict[str, Any] = {
        "inbox": settings.inbox_url,
        "listed": len(entries),
        "new": len(fresh),
        "verdicts": dict(summary.by_status),
        "summary": asdict(summary),
        "feedback": [str(path) for path in feedback],
        "data_docs": str((settings.reports / "data-docs").resolve()),
        "dry_run": dry_run,
    }
    if loaded is not None:
        report["load"] = {k: v for k, v in loaded.as_dict().items() if k != "files"}
        create_table_artifact(
            [{"kết quả": k, "số tệp": v} for k, v in report["load"].items() if k != "run_id"],
            key="khcn-load",
            description="Nạp vào kho",
        )
    report["seconds"] = seconds
    logger.info("Ingest: %s", {k: v for k, v in report.items() if k != "feedback"})
    return report
