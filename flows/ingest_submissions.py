"""Ingest the inbox: list → receive → read → validate → load → feedback → publish."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from core.model import Submission, issue
from core.names import storable
from core.settings import Settings, load_settings
from flows.bundles import send_bundle
from flows.dashboard import drawing, save_drawn
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
from flows.results import FileResults, IngestResult, LoadCounts, PartDone
from outputs.run_report import FileResult, RunRecord, write_run_report
from schemas import cache
from schemas.registry import unit_names
from schemas.schema import Schema, load_schema
from schemas.summary import RunTally, summarize
from schemas.verdict import Verdict
from sources.archives import is_archive, member_url, unit_folder_of, unpack_many
from sources.guard import Limits
from sources.inbox import (
    InboxEntry,
    ReadAhead,
    check_inbox,
    list_inbox,
)
from sources.names import Names, names_code_digest
from sources.read import Reader, read_local
from sources.refusals import refusal_note
from warehouse.archive import (
    POOLED_FROM,
    Receipt,
    archive,
    copy_in,
    copy_in_many,
    flush_archive_soon,
    received_before,
)
from warehouse.db import PUBLISH_MEMORY
from warehouse.dimensions import schema_basis, sync_schema
from warehouse.load import LoadRun, LoadSummary, load_order, registered_hashes
from warehouse.lock import Holder, writer_lock
from warehouse.migrate import init
from warehouse.publish import RUN_KEYS, is_current, mark_current, publish
from warehouse.runs import close_interrupted_runs

T = TypeVar("T")

# Tasks pass whole batches (thousands of submissions, each with its cells). Prefect would hash
# every input for a cache key no run reuses, and walk every object to track dependencies: no
# task caches, and batches are passed `opaque`.


def opaque(value: T) -> T:
    """The value, hidden from Prefect's walk through task inputs (`quote`), type kept."""
    return cast(T, quote(value))


class Handed(Generic[T]):
    """A task's batch, handed back whole, to be taken once.

    Prefect links a task's result, and each item of a list it returns, to the task's state
    (tracking dependencies between tasks, which this flow passes `opaque`): ~6 µs and an entry
    kept for the run per item, 0.3 s and 60,000 entries a 10,000-file run. This links one. The
    task's state keeps what it returned: taking the batch leaves that holding nothing, so a
    part's files go when the run lets go of them, whatever Prefect keeps.
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value: T | None = value

    def take(self) -> T:
        """The batch; this holds it no more."""
        value, self._value = self._value, None
        if value is None:
            raise RuntimeError("the batch was taken already")
        return value


@task(cache_policy=NO_CACHE)
def load_task_schema(settings: Settings) -> Schema:
    """Load the catalog, registry and elements, checked."""
    return load_schema(settings)


@task(retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE)
def list_submissions(inbox_url: str) -> Handed[list[InboxEntry]]:
    """List every submission file in the inbox."""
    return Handed(list_inbox(inbox_url))


@task(retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE)
def receive_files(
    entries: list[InboxEntry], settings: Settings
) -> Handed[tuple[list[Receipt], Future[None] | None]]:
    """Fetch each file once and keep it in the content-addressed archive; the receipts, and
    the copies' flush to disk when there are new ones (see `flush_archive_soon`).

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
    known = [before.get(storable(entry.url)) for entry in entries]
    # A province's inbox is mostly on disk, not in memory: the files to copy are asked for
    # ahead while the ones before them are hashed and copied (0.26–0.29 → 0.22–0.27 ms a file).
    to_copy = [
        (e.url, e.name, t)
        for e, t, k in zip(entries, times, known, strict=True)
        if k is None and e.refused is None
    ]
    with ReadAhead(url for url, _, _ in to_copy):
        copies = _copies(to_copy, settings)
        receipts = [
            _receive(entry, received_at, k, copies.get(entry.url), settings)
            for entry, received_at, k in zip(entries, times, known, strict=True)
        ]
    # Once for the run, while the first part is read; waited for before the load.
    flushing = flush_archive_soon(settings.archive) if len(before) < len(entries) else None
    return Handed((receipts, flushing))


def _copies(
    to_copy: list[tuple[str, str, datetime]], settings: Settings
) -> dict[str, Receipt | str | None]:
    """The copies of a local inbox's new files (url, name, received time) made in worker
    processes, by URL, when there are enough of them to pay for the processes' start
    (`POOLED_FROM`); else none."""
    local = [listed for listed in to_copy if "://" not in listed[0]]
    if len(local) < POOLED_FROM:
        return {}
    copied = copy_in_many(local, settings.archive, Limits.of(settings))
    return {url: copy for (url, _, _), copy in zip(local, copied, strict=True)}


def _receive(
    entry: InboxEntry,
    received_at: datetime,
    known: tuple[str, str] | None,
    copy: Receipt | str | None,
    settings: Settings,
) -> Receipt:
    """One listed file's receipt: known already, archived now (or `copy`, made already), or a
    note of its refusal."""
    refusal = entry.refused
    if refusal is None and known is not None:
        # Same place, size and modification time as a file already archived: the copy is
        # there and its hash known; nothing is read again.
        sha256, archived = known
        return Receipt(sha256, entry.size, entry.name, entry.url, received_at, archived)
    if refusal is None:
        copy = copy or copy_in(entry.url, entry.name, received_at, settings.archive)
        if isinstance(copy, Receipt):
            return copy
        refusal = copy
    # No byte of a refused file is read: the archive keeps a note of what was refused.
    return archive(
        refusal_note(entry.url, refusal),
        name=entry.name,
        url=entry.url,
        archive_dir=settings.archive,
        received_at=received_at,
    )


@task(cache_policy=NO_CACHE)
def unpack_archives(receipts: list[Receipt], settings: Settings) -> Handed[list[Receipt]]:
    """Replace each received .zip by its members, each archived as a receipt of its own.

    The .zip itself stays in the archive. Unpacking runs in worker processes under the reading
    limits; an archive that is rejected (hostile, broken, empty) stays a receipt of its own, and
    reading it gives the reason. Members keep the archive's reception time.
    """
    zips = [r for r in receipts if is_archive(r.name)]
    if not zips:
        return Handed(receipts)
    limits = Limits.of(settings)
    unpacked = dict(
        zip(
            (r.archived for r in zips),
            unpack_many(
                [(r.name, read_local(r.archived, limits.max_file_bytes)) for r in zips], limits
            ),
            strict=True,
        )
    )
    out: list[Receipt] = []
    for receipt in receipts:
        result = unpacked.get(receipt.archived) if is_archive(receipt.name) else None
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
    return Handed(out)


@task(cache_policy=NO_CACHE)
def new_receipts(receipts: list[Receipt], settings: Settings) -> Handed[list[Receipt]]:
    """The files whose bytes the warehouse has never seen (each once)."""
    known = registered_hashes(settings.warehouse, (r.sha256 for r in receipts))
    fresh: dict[str, Receipt] = {}
    for receipt in receipts:
        if receipt.sha256 not in known:
            fresh.setdefault(receipt.sha256, receipt)
    return Handed(list(fresh.values()))


def _reader(settings: Settings, schema: Schema | None) -> Reader:
    """The run's reader: worker processes kept for the whole run, the registry's unit names and
    the catalog's element names sent to each once, so units and elements written by name are
    matched to their codes."""
    return Reader(settings, names=reader_names(schema, settings) if schema is not None else None)


def reader_names(schema: Schema, settings: Settings) -> Names:
    """The registry's and the catalog's names as the reader matches them, kept in the data
    folder's cache beside the schema they come from: folding a 25,000-unit registry's names and
    aliases takes 0.6 s of every run that reads a file, loading them 0.05 s."""
    basis = cache.schema_key(schema.fingerprint, schema.plan_years) + names_code_digest()
    elements = [(e.code, e.name) for e in schema.elements.elements]
    return cache.kept(
        settings.cache / "names" if settings.data_dir.is_dir() else None,
        cache.folder_tag(settings.schemas_dir),
        hashlib.sha256(basis.encode()).hexdigest(),
        Names,
        lambda: Names.of(unit_names(schema.registry), elements),
    )


@task(cache_policy=NO_CACHE)
def read_files(
    reader: Reader,
    receipts: list[Receipt],
    folders: dict[str, str | None],
    seconds: dict[str, float],
    part: tuple[int, int] | None = None,
) -> Handed[list[Submission]]:
    """Read the archived copies in the reader's worker processes, under the reading limits;
    timed as the step "read".

    Args:
        reader: the run's reader (`_reader`).
        receipts: the files to read, as received.
        folders: the unit folder each listed file was found in, by URL.
        seconds: the run's step durations, the reading's added.
        part: (k, n) when these are the k-th of the run's n parts.
    """
    with step("read", seconds, len(receipts), part):
        return Handed(_read_receipts(reader, receipts, folders))


def _read_receipts(
    reader: Reader, receipts: list[Receipt], folders: dict[str, str | None]
) -> list[Submission]:
    # Read from the archive, named as sent: the receipt's URL, size and hash come along. What
    # the archive keeps of a refused file is a note, which the worker answers as refused.
    return reader.read(
        [
            InboxEntry(
                url=r.url,
                name=r.name,
                size=r.size,
                unit_folder=unit_folder_of(r.url, folders),
                sha256=r.sha256,
                archived=r.archived,
            )
            for r in receipts
        ]
    )


@task(cache_policy=NO_CACHE)
def validate_submissions(
    submissions: list[Submission], schema: Schema, settings: Settings
) -> Handed[list[Verdict]]:
    """Validate in batches against the task schema and the units' own history."""
    # Imported when there is something to judge: pandas costs half a second of every start.
    from schemas.validation import validate_in_batches
    from warehouse.history import value_history

    # Only the history of the units being judged: its cost follows the batch, not the warehouse.
    units = {s.unit_code for s in submissions if s.unit_code}
    history = value_history(settings.warehouse, units) if settings.warehouse.is_file() else None
    today = datetime.now(settings.tz).date()
    try:
        return Handed(
            validate_in_batches(
                submissions,
                schema,
                today=today,
                history=history,
                batch_size=settings.validation_batch,
                data_docs_dir=_data_docs(settings),
            )
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
    return Handed(verdicts)


def _data_docs(settings: Settings) -> Path | None:
    """Great Expectations' Data Docs folder when the commune asked for them (English, online)."""
    return (settings.reports / "data-docs").resolve() if settings.data_docs else None


@task(cache_policy=NO_CACHE)
def send_feedback(
    verdicts: list[Verdict], receipts: list[Receipt], settings: Settings
) -> Handed[list[Path | None]]:
    """Write a marked-up copy of each rejected or warned workbook to the unit's outbox; one
    entry per verdict, None when accepted without warnings.

    The copies run in worker processes under the reading limits; a file whose feedback cannot
    be written at all gets an `R-FEEDBACK-FAILED` warning on its verdict (kept in the
    warehouse), and the run goes on.
    """
    originals = {r.sha256: r for r in receipts}
    # Imported when there is feedback to write: openpyxl costs a second of every start.
    from outputs.feedback import write_feedback_many

    results = write_feedback_many(
        [
            (v, r.archived_path if (r := originals.get(v.submission.sha256)) else None)
            for v in verdicts
        ],
        settings.outbox,
        Limits.of(settings),
    )
    for result in results:
        if result.error is not None:
            result.verdict.findings.append(
                issue("R-FEEDBACK-FAILED", file=result.verdict.submission.name, detail=result.error)
            )
    return Handed([result.path for result in results])


@task(cache_policy=NO_CACHE)
def start_load(schema: Schema, settings: Settings) -> LoadRun:
    """Open the run's load: dimensions rewritten from the schema, the load run started.

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
    sync_schema(settings.warehouse, schema, settings, schema_basis(schema, settings))
    return LoadRun(settings.warehouse, settings, settings.load_batch, keep_outcomes=False).open()


@task(cache_policy=NO_CACHE)
def load_part(run: LoadRun, verdicts: list[Verdict], receipts: list[Receipt]) -> int:
    """Load one part of the run's files (in load order), a batch per transaction."""
    return len(run.add(verdicts, receipts))


@task(cache_policy=NO_CACHE)
def finish_load(
    run: LoadRun, schema: Schema, settings: Settings, mail: MailPull | None = None
) -> LoadSummary:
    """End the load run, record the messages its files came in, publish the read-only copy
    and draw the dashboard from it."""
    summary = run.finish()
    if mail is not None:
        record_pull(mail, settings, summary.run_id)
    notice("Đang công bố bản đọc.")
    publication = publish(
        settings.warehouse,
        settings.published,
        beside=drawing(settings.commune_name),
        keys=RUN_KEYS,
    )
    if publication.not_caught_up:
        get_run_logger().warning(
            "Không cập nhật được bản công bố trước (%s); đã làm lại toàn bộ.",
            publication.not_caught_up,
        )
    if publication.memory != PUBLISH_MEMORY:
        get_run_logger().warning(
            "Bản công bố cần hơn %s bộ nhớ cho DuckDB; đã dùng %s.",
            PUBLISH_MEMORY,
            publication.memory,
        )
    send_bundle(publication, settings)
    save_drawn(publication, settings.published)
    mark_current(settings.published, settings.warehouse, _basis(schema, settings))
    return summary


def _basis(schema: Schema, settings: Settings) -> str:
    """What the published copy and dashboard are made under besides the warehouse: the
    dimensions' basis, the commune, where bundles go, and the day (deadlines count days)."""
    return json.dumps(
        {
            "dimensions": schema_basis(schema, settings),
            "commune": [settings.commune_name, settings.commune_code, settings.level],
            "publish_url": settings.publish_url,
            "day": datetime.now(settings.tz).date().isoformat(),
        },
        sort_keys=True,
    )


def _prepare_validation() -> None:
    """Build the process's Great Expectations engine ahead of use; a failure here is left to
    validation, which meets it again and answers it per file."""
    with suppress(Exception):
        from schemas.validation import engine

        engine()
        _settle_heap()


def _settle_heap() -> None:
    """Collect what is garbage, then leave what lives on out of the cyclic garbage collector's
    later passes: what is loaded (modules, the schema, the run's receipts, Great Expectations),
    and at each part's end what outlives the part (the run's file results and counts,
    Prefect's records of its tasks). A part's tens of thousands of new objects each trigger
    passes that otherwise walked all of those again: taking a part's results back from the
    reader cost twice the CPU for it, and a run of 100,000 files took 170 s instead of 145 s.
    No file of a part outlives it: batches are taken from the tasks that hand them
    (`Handed.take`)."""
    gc.collect()
    gc.freeze()


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


def _received(
    settings: Settings,
) -> tuple[list[Receipt], dict[str, str | None], Future[None] | None]:
    """The inbox folder's files, received; the unit folder each was found in, by URL; the
    copies' flush to disk, if any is under way. The listing itself (100,000 entries at a
    province, ~45 MB) is not kept."""
    entries = list_submissions(settings.inbox_url).take()
    # An empty inbox costs no task runs beyond its listing.
    receipts, flushing = receive_files(opaque(entries), settings).take() if entries else ([], None)
    return receipts, {entry.url: entry.unit_folder for entry in entries}, flushing


def _ingest(settings: Settings, dry_run: bool, mail_only: bool) -> IngestResult:
    started_at, started = datetime.now(settings.tz), time.perf_counter()
    if mail_only and not settings.mailbox_url:
        get_run_logger().warning("Chưa cấu hình hộp thư (mailbox): không có gì để nhận")
        none = summarize([])
        counts = {str(k): v for k, v in none.by_status.items()}
        return IngestResult("", 0, 0, counts, none, FileResults(), [], dry_run, skipped=True)
    folder = settings.lists_folder and not mail_only
    if folder:
        # A missing folder or an uninstalled filesystem is not transient: no retries for it.
        check_inbox(settings.inbox_url)
    seconds: dict[str, float] = {}
    with step("schema", seconds):
        schema = load_task_schema(settings)
    with step("receive", seconds) as tally:
        receipts, folders, flushing = _received(settings) if folder else ([], {}, None)
        mail = pull_mailbox(settings, opaque(schema.registry)) if settings.mailbox_url else None
        receipts += mail.receipts if mail else []
        tally.count = listed = len(receipts)
        receipts = unpack_archives(opaque(receipts), settings).take() if receipts else []
    # Everything that reads what the warehouse knows, up to the publication, is one writer's.
    with _writing(settings), _Stream(settings, schema, seconds, mail, started) as stream:
        fresh = new_receipts(opaque(receipts), settings).take() if receipts else []
        new = len(fresh)
        if fresh:
            # Great Expectations takes seconds to import and set up: done in a thread while the
            # files are read in worker processes, ready when validation starts.
            threading.Thread(target=_prepare_validation, name="khcn-gx", daemon=True).start()
        # A message too big to take has no file, but it is recorded and answered by the load.
        quiet = not receipts and not (mail and mail.messages)
        up_to_date = quiet and is_current(
            settings.published, settings.warehouse, _basis(schema, settings)
        )
        if up_to_date:
            notice("Không có tệp mới; kho và bản công bố đã cập nhật.")
        stream.run(receipts, fresh, folders, flushing, load=not dry_run and not up_to_date)
        # The stream let go of the receipts part by part; their unit folders (100,000 at a
        # province) go before the publication takes its own memory.
        del receipts, fresh, folders
        stream.publish()
    summary = stream.tally.summary()
    create_markdown_artifact(summary.markdown(), key="khcn-validation", description="Kiểm tra")
    create_table_artifact(summary.table_rows(), key="khcn-validation-table", description="Kiểm tra")
    result = IngestResult(
        inbox=settings.inbox_url if folder else (settings.mailbox_url or ""),
        listed=listed,
        new=new,
        verdicts={str(k): v for k, v in summary.by_status.items()},
        summary=summary,
        files=FileResults(stream.files),
        feedback=[f.feedback for f in stream.files if f.feedback is not None],
        dry_run=dry_run,
        data_docs=str(docs) if (docs := _data_docs(settings)) else None,
    )
    if (loaded := stream.loaded) is not None:
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
            result.mail = _answer(mail, stream.mail_verdicts, schema, settings, dry_run)
    result.seconds, result.parts = seconds, stream.parts
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


class _Stream:
    """A run's files through reading, validation, feedback and loading, a part at a time.

    Parts follow the load order, so a later file still supersedes an earlier one. The next
    part is read (in the reader's worker processes, from a task thread) while this one is
    validated and loaded; what a run keeps of a part once it is loaded is one line per file,
    the counts and when it was done, so its memory follows the part, not the inbox. The load
    run spans every part: a run that dies between two parts leaves the parts before committed
    and its load run open, closed by the next run, which judges the rest against the same
    history.
    """

    def __init__(
        self,
        settings: Settings,
        schema: Schema,
        seconds: dict[str, float],
        mail: MailPull | None,
        started: float,
    ) -> None:
        """`started`: when the run started, on `time.perf_counter`'s clock."""
        self.settings, self.schema, self.seconds, self.mail = settings, schema, seconds, mail
        self.started = started
        self.tally = RunTally()
        self.files: list[FileResult] = []
        self.parts: list[PartDone] = []
        self.mail_verdicts: list[Verdict] = []
        self.loading: LoadRun | None = None
        self.loaded: LoadSummary | None = None

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        # A no-op once the load is finished.
        if self.loading is not None:
            self.loading.close()

    def run(
        self,
        receipts: list[Receipt],
        fresh: list[Receipt],
        folders: dict[str, str | None],
        flushing: Future[None] | None,
        load: bool,
    ) -> None:
        """Read, judge, answer and (with `load`) load every receipt; `folders` gives the unit
        folder each listed file was found in, by URL; `flushing`, the archive's flush to disk,
        waited for before the first part is loaded (and in any case before this returns).

        The stream takes the receipts over: `receipts` and `fresh` are emptied, and each part's
        receipts are let go once it is loaded.
        """
        new = {r.sha256 for r in fresh}
        ordered = load_order(receipts)
        receipts.clear()
        fresh.clear()
        parts = parts_of(ordered, self.settings.part_files)
        del ordered
        # Each new file is read once, as the first file in load order that holds its bytes
        # (the one loaded; a later copy is its duplicate).
        to_read = [_first_of(part, new) for part in parts]
        if any(to_read):
            _settle_heap()
        # Its names are the registry's (0.7 s at 25,000 units): made only to be used. The
        # reader's workers are stopped when the parts are done: their memory is publishing's.
        names_from = self.schema if any(to_read) else None
        with _reader(self.settings, names_from) as reader:
            self._parts(reader, parts, to_read, folders, flushing, load)
        if flushing is not None:
            flushing.result()

    def publish(self) -> None:
        """End the load run, if one was started, and publish."""
        if self.loading is not None:
            with step("publish", self.seconds):
                self.loaded = finish_load(
                    opaque(self.loading), opaque(self.schema), self.settings, opaque(self.mail)
                )

    def _parts(
        self,
        reader: Reader,
        parts: list[list[Receipt]],
        to_read: list[list[Receipt]],
        folders: dict[str, str | None],
        flushing: Future[None] | None,
        load: bool,
    ) -> None:
        """Each part judged and (with `load`) loaded while the next is read; the load is
        opened while the first part is read."""
        reading = self._read(reader, to_read, folders, 0)
        # While a part is read, the next one's archived copies are asked for from the disk: at a
        # province's size they were received minutes before, longer than the page cache keeps
        # them (the reader alone, 8,000 such files: 1.3–2.1 → 1.1–1.4 ms a file).
        ahead = _read_ahead(to_read, 1)
        try:
            loading = None
            if load:
                # Opening the load makes the tables and syncs the dimensions: 2.8 s for a new
                # warehouse of a province (25,000 units), 0.2 s once it exists.
                loading = self.loading = start_load(opaque(self.schema), self.settings)
                if not parts:
                    self._announce_load(parts)
            for k, part in enumerate(parts):
                submissions = reading.result().take() if reading is not None else []
                ahead.close()
                reading = self._read(reader, to_read, folders, k + 1)
                ahead = _read_ahead(to_read, k + 2)
                verdicts = self._judge(submissions, to_read[k], self._part(k, parts))
                if loading is not None:
                    if k == 0:
                        self._announce_load(parts)
                        # The load refers to the archived copies: they are on the disk first.
                        if flushing is not None:
                            flushing.result()
                    with step("load", self.seconds, len(part), self._part(k, parts)):
                        load_part(opaque(loading), opaque(verdicts), opaque(part))
                done_at = round(time.perf_counter() - self.started, 3)
                self.parts.append(PartDone(len(part), done_at))
                # A province's receipts are let go part by part, not kept to the end.
                parts[k] = to_read[k] = []
                del submissions, verdicts
                _settle_heap()
        finally:
            ahead.close()
            # An error leaves no read running in the reader's workers as they are stopped.
            if reading is not None:
                reading.wait()

    @staticmethod
    def _announce_load(parts: list[list[Receipt]]) -> None:
        """The line before the load (the first part's), for whoever watches the run."""
        total = sum(len(part) for part in parts)
        by_part = f", từng phần {len(parts[0])} tệp" if len(parts) > 1 else ""
        notice(f"Đang nạp {total} tệp vào kho{by_part}.")

    @staticmethod
    def _part(k: int, parts: Sequence[object]) -> tuple[int, int] | None:
        return (k + 1, len(parts)) if len(parts) > 1 else None

    def _read(
        self,
        reader: Reader,
        to_read: list[list[Receipt]],
        folders: dict[str, str | None],
        k: int,
    ) -> PrefectFuture[Handed[list[Submission]]] | None:
        """Start reading part `k` in a task thread (None past the last part or when it has
        nothing new)."""
        if k >= len(to_read) or not to_read[k]:
            return None
        return read_files.submit(
            opaque(reader),
            opaque(to_read[k]),
            opaque(folders),
            opaque(self.seconds),
            self._part(k, to_read),
        )

    def _judge(
        self, submissions: list[Submission], receipts: list[Receipt], part: tuple[int, int] | None
    ) -> list[Verdict]:
        """Validate a part's new files and write their feedback; the verdicts, to load."""
        if not submissions:
            return []
        if self.mail:
            claim_sender_units(opaque(submissions), opaque(self.mail))
        with step("validate", self.seconds, len(submissions), part):
            verdicts = validate_submissions(
                opaque(submissions), opaque(self.schema), self.settings
            ).take()
        with step("feedback", self.seconds, len(verdicts), part):
            feedback = send_feedback(opaque(verdicts), opaque(receipts), self.settings).take()
            if self.mail:
                keep_mail_feedback(opaque(verdicts), opaque(self.mail), self.settings)
        self.tally.add(verdicts)
        self.files += file_results(verdicts, feedback)
        if self.mail:
            # Replies need the verdicts of the files that came by mail (a mailbox's few).
            hashes = {r.sha256 for r in self.mail.receipts}
            self.mail_verdicts += [v for v in verdicts if v.submission.sha256 in hashes]
        return verdicts


def parts_of(ordered: list[T], size: int) -> list[list[T]]:
    """`ordered` in consecutive parts of `size`; of several, the last holds at most a quarter
    of `size` (the one before it what is left).

    Nothing is read while the last part is judged and loaded, so that part is kept short: at
    2,000 files a part, the end of a run waits on 500 files' validation and load, not 2,000.
    """
    parts = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    tail = size // 4
    if len(parts) > 1 and tail and len(parts[-1]) > tail:
        last = parts.pop()
        parts += [last[:-tail], last[-tail:]]
    return parts


def _read_ahead(parts: list[list[Receipt]], k: int) -> ReadAhead:
    """Part `k`'s archived copies asked for from the disk (nothing past the last part)."""
    return ReadAhead([r.archived for r in parts[k]] if k < len(parts) else [])


def _first_of(receipts: list[Receipt], hashes: set[str]) -> list[Receipt]:
    """The receipts holding each of `hashes` first, in order; their hashes are taken out."""
    first = []
    for receipt in receipts:
        if receipt.sha256 in hashes:
            hashes.remove(receipt.sha256)
            first.append(receipt)
    return first


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
