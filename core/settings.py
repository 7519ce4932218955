"""The one settings object: options > environment (`KHCN_…`) > config file > embedded defaults.

The config file is the one the command line names (`--config`), else the path in
`KHCN_CONFIG`, else `khcn.toml` in the working directory. See `khcn.example.toml` for every
setting. Code that runs flows hands them a `Settings` object; a flow run without one (a
deployment, the schedule) loads its own.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.periods import Period, PeriodKind, parse_period, periods_of

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
# The files of the commune's own plan, registry and data elements; the shipped ones are defaults.
SCHEMA_FILES: tuple[str, ...] = (
    "catalog.yaml",
    "units.yaml",
    "parties.yaml",
    "elements.yaml",
    "targets.yaml",
)
# The config file the command line named for this process (`use_config_file`).
_config_file: Path | None = None


class Settings(BaseSettings):
    """Where things are and the few facts of the commune that are configuration."""

    model_config = SettingsConfigDict(env_prefix="KHCN_", extra="ignore")

    commune_name: str = "Nghĩa Hưng"
    commune_code: str | None = Field(
        default=None, description="NSO code; two communes are named Nghĩa Hưng (13891, 16972)"
    )
    plan_start_year: int = 2026
    plan_end_year: int = 2030

    schemas_dir: Path = Field(
        default=SCHEMAS_DIR,
        description="catalog, units, parties and elements; default <data_dir>/schemas once "
        "`khcn init` has seeded it, the shipped defaults before",
    )
    data_dir: Path = Path("data")
    inbox: str = Field(default="", description="fsspec URL of submissions; default data/inbox")
    outbox_dir: Path | None = None
    archive_dir: Path | None = None
    warehouse_path: Path | None = None
    published_path: Path | None = Field(
        default=None, description="folder of the read-only copy and Parquet marts"
    )
    reports_path: Path | None = Field(
        default=None, description="folder of run reports and Great Expectations Data Docs"
    )
    validation_batch: int = 5000
    part_files: int = Field(
        default=2000,
        ge=1,
        description="files a run reads, validates and loads together; the next part is read "
        "while this one is validated and loaded, and a run's memory follows the part",
    )
    load_batch: int = Field(
        default=2000, description="files loaded per transaction (one commit for the batch)"
    )
    data_docs: bool = Field(
        default=False, description="also write Great Expectations' Data Docs (English, online)"
    )

    # Decree 09/2019/NĐ-CP: quarterly figures close on the 14th of the quarter's last month;
    # the report is due a few days later.
    reporting_period_kind: PeriodKind = Field(
        default="quarter", description="how often units report: quarter, month, half or year"
    )
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh", description="the commune's time zone: deadlines, file dates"
    )
    deadline_day: int = 20
    deadline_month_offset: int = 0

    max_file_bytes: int = 20 * 1024 * 1024
    max_unpacked_bytes: int = 200 * 1024 * 1024
    max_cells: int = 2_000_000
    read_timeout_seconds: float = 30.0
    # Units' files are read, unpacked and copied for feedback in `read_workers` processes,
    # each capped at `read_memory_bytes` of address space (so of resident memory too): two,
    # one per core, so reading keeps pace with the flow's validation and loading. A reading
    # worker holds ~55 MB; the heaviest accepted workbook (5,000 rows) is read in 60 MB of
    # address space and copied for feedback in 134 MB, so 150 MB gives the same answers as more.
    read_memory_bytes: int = 150 * 1024 * 1024
    read_workers: int = Field(default=2, ge=1)

    # SQL from analysts (`khcn query`) and from upstream (`khcn serve`): bounded so a careless
    # or hostile statement cannot hold the machine. Each running statement gets its own memory
    # and threads, so the service's worst case is query_concurrency times these.
    query_timeout_seconds: float = 30.0
    query_memory_bytes: int = 512 * 1024 * 1024
    query_threads: int = 2
    query_max_rows: int = 100_000
    query_terminal_rows: int = 50
    query_concurrency: int = 4
    query_queue_seconds: float = Field(
        default=60.0, description="how long a request waits for one of the running slots"
    )
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    prefect_port: int = Field(
        default=4200,
        description="port of the kept-alive local Prefect server (`khcn server`) the commands "
        "use when it answers; without it each run starts a temporary one",
    )
    service_dir: Path | None = Field(
        default=None, description="folder of API tokens (hashed) and the query log"
    )

    # Communes publish bundles of their marts; a province instance consolidates them.
    level: Literal["commune", "province"] = Field(
        default="commune", description="commune: ingest units' files; province: consolidate bundles"
    )
    province_code: str | None = Field(
        default=None,
        description="NSO code of the province a province instance consolidates; VN: the country",
    )
    publish_url: str = Field(
        default="",
        description="fsspec URL bundles are written to (commune) or listed from (province): a "
        "folder, sftp://user@host:port/path, s3://bucket/path; empty: no bundle",
    )
    publish_key_file: Path | None = Field(
        default=None, description="private key for an sftp:// publish URL; default the agent's"
    )
    bundle_retention: int = Field(default=5, ge=1, description="bundles kept per commune")
    province_batch: int = Field(default=50, ge=1, description="communes per fan-out task")
    province_workers: int = Field(default=2, ge=1, description="processes preparing batches")
    staging_dir: Path | None = Field(
        default=None,
        description="where batches are prepared for the writer; shared by every worker that "
        "runs them (default <data_dir>/staging)",
    )
    _schemas_given: bool = PrivateAttr(default=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        # An unknown zone fails here, with its name, not at the first deadline.
        try:
            ZoneInfo(name)
        except (KeyError, ValueError) as error:
            raise ValueError(f"unknown time zone {name!r}") from error
        return name

    @model_validator(mode="after")
    def _commune_schemas(self) -> Settings:
        # The commune's files live with its data; until `khcn init` seeds them there, the
        # shipped defaults are read (never written).
        self._schemas_given = "schemas_dir" in self.model_fields_set
        if not self._schemas_given and (self.commune_schemas / "catalog.yaml").is_file():
            self.schemas_dir = self.commune_schemas
        return self

    # The commune's mailbox. Passwords are never settings of the config file: they come from
    # KHCN_MAILBOX_PASSWORD / KHCN_SMTP_PASSWORD or from the files named here.
    mailbox: str = Field(
        default="", description="IMAP URL, imaps://user@host[:port]/INBOX; empty: no mailbox"
    )
    mailbox_password_file: Path | None = None
    mailbox_processed_folder: str = Field(
        default="", description="folder processed messages move to, e.g. 'Đã xử lý'; empty: stay"
    )
    mail_ca_file: Path | None = Field(
        default=None, description="CA bundle for the mail servers' certificates; default system"
    )
    smtp: str = Field(
        default="", description="smtps://user@host:465 (TLS) or smtp://user@host:587 (STARTTLS)"
    )
    smtp_password_file: Path | None = None
    mail_from: str = Field(default="", description="From of replies; default the mailbox user")
    mail_timeout_seconds: float = 60.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = _config_file or Path(os.environ.get("KHCN_CONFIG", "khcn.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config))

    def with_overrides(self, **changes: Any) -> Settings:
        """These settings with some changed, derived ones worked out again.

        The schema folder follows a new data folder unless it was given explicitly.
        """
        given = self.model_dump(exclude_unset=True)
        if not self._schemas_given:
            given.pop("schemas_dir", None)
        return Settings(**{**given, **{k: v for k, v in changes.items() if v is not None}})

    @property
    def commune_schemas(self) -> Path:
        """Where the commune's catalog, registry and elements are written (imports, `init`)."""
        return self.schemas_dir if self._schemas_given else self.data_dir / "schemas"

    @cached_property
    def inbox_url(self) -> str:
        return self.inbox or str(self.data_dir / "inbox")

    @cached_property
    def outbox(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"

    @cached_property
    def archive(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    @cached_property
    def warehouse(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse.duckdb"

    @cached_property
    def published(self) -> Path:
        return self.published_path or self.data_dir / "published"

    @cached_property
    def reports(self) -> Path:
        return self.reports_path or self.data_dir / "reports"

    @cached_property
    def staging(self) -> Path:
        return self.staging_dir or self.data_dir / "staging"

    @cached_property
    def cache(self) -> Path:
        """Files kept only to save work on the next run (the parsed task schema): derived,
        rebuilt when missing, safe to delete."""
        return self.data_dir / "cache"

    @cached_property
    def service(self) -> Path:
        return self.service_dir or self.data_dir / "service"

    @cached_property
    def mailbox_url(self) -> str:
        """The mailbox to pull: the configured one, or the inbox when that is an IMAP URL."""
        return self.inbox if is_mailbox_url(self.inbox) else self.mailbox

    @property
    def folder_inbox(self) -> bool:
        """Whether the inbox is a folder (fsspec URL) to list, rather than a mailbox."""
        return not is_mailbox_url(self.inbox)

    @property
    def lists_folder(self) -> bool:
        """Whether a run lists the inbox folder: always, unless the inbox is a mailbox URL or a
        mailbox is configured beside the default folder and that folder does not exist."""
        if not self.folder_inbox:
            return False
        if self.mailbox_url and "inbox" not in self.model_fields_set:
            return Path(self.inbox_url).is_dir()
        return True

    @property
    def plan_years(self) -> range:
        return range(self.plan_start_year, self.plan_end_year + 1)

    @cached_property
    def tz(self) -> ZoneInfo:
        """The commune's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def reporting_periods(self) -> list[Period]:
        """Every period of the plan units report for, in order (the plan's quarters, by default)."""
        return periods_of(self.reporting_period_kind, self.plan_years)

    def plan_period(self, text: str) -> Period:
        """A period of the plan, parsed: `2026Q3`, `2026S1`, `2026` or `202607`.

        Raises:
            ValueError: not a period identifier, or outside the plan's years.
        """
        period = parse_period(text)
        if period.year not in self.plan_years:
            years = self.plan_years
            raise ValueError(f"kỳ {period} nằm ngoài kế hoạch {years[0]}-{years[-1]}")
        return period


def is_mailbox_url(url: str) -> bool:
    """Whether a URL names an IMAP mailbox (`imap://`, `imaps://`)."""
    return url.lower().startswith(("imap://", "imaps://"))


def mail_password(kind: str, settings: Settings) -> str | None:
    """The mailbox (`kind="mailbox"`) or SMTP (`kind="smtp"`) password.

    Read from `KHCN_MAILBOX_PASSWORD` / `KHCN_SMTP_PASSWORD`, else from the file named by
    `mailbox_password_file` / `smtp_password_file` (first line); never from the config file,
    which is often readable by everyone on the machine. The SMTP password defaults to the
    mailbox's: most providers use one account for both.
    """
    variable = os.environ.get(f"KHCN_{kind.upper()}_PASSWORD")
    if variable:
        return variable
    path = settings.mailbox_password_file if kind == "mailbox" else settings.smtp_password_file
    if path is not None:
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""
    return mail_password("mailbox", settings) if kind == "smtp" else None


def use_config_file(path: Path | None) -> None:
    """Read settings from this config file for the rest of the process (`None`: the default).

    The command line's `--config`; every settings object made afterwards in the process reads
    it, flows and `local_tz()` included.
    """
    global _config_file
    _config_file = path
    local_tz.cache_clear()


def load_settings(**overrides: Any) -> Settings:
    """Settings with the given options on top; `None` options are left to the other sources."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@cache
def local_tz() -> ZoneInfo:
    """The commune's time zone (setting `timezone`), for code that has no settings at hand."""
    return Settings().tz


def seed_schemas(settings: Settings) -> list[Path]:
    """Copy the shipped catalog, registry and elements into the commune's folder where missing.

    Files already there are the commune's own and are never overwritten.

    Returns:
        The files copied now.
    """
    target = settings.commune_schemas
    if target.resolve() == SCHEMAS_DIR.resolve():
        return []
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in SCHEMA_FILES:
        if not (target / name).exists():
            shutil.copy2(SCHEMAS_DIR / name, target / name)
            copied.append(target / name)
    return copied


def prefect_defaults(settings: Settings) -> None:
    """Defaults for Prefect run from the command line; variables already set win.

    Prefect reads its settings when first imported, so this runs before any flow is imported.
    The ephemeral API keeps its SQLite file beside the data, starts slowly on a busy machine,
    and sends no analytics.
    """
    home = Path(
        os.environ.setdefault("PREFECT_HOME", str(settings.data_dir.resolve() / ".prefect"))
    )
    # Prefect makes its home without parents; a first run has no data folder yet.
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The analyst's terminal shows the command's own Vietnamese lines; Prefect's English log
    # lines and tracebacks still reach its API (the run's log), just not the console.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    # A temporary API server costs 10-20 s per command; a kept-alive one (`khcn server`) on
    # this machine is used whenever it answers.
    if "PREFECT_API_URL" not in os.environ and local_prefect_answers(settings.prefect_port):
        os.environ["PREFECT_API_URL"] = local_prefect_url(settings.prefect_port)
    if "prefect.context" in sys.modules:
        # Imported already, with another environment: the command runs in a child of the
        # warm process (`khcn.warm`), which imported Prefect once for every command.
        from prefect.context import refresh_global_settings_context
        from prefect.logging.configuration import setup_logging

        refresh_global_settings_context()
        setup_logging()


def local_prefect_url(port: int) -> str:
    """The API of a Prefect server kept alive on this machine (loopback only)."""
    return f"http://127.0.0.1:{port}/api"


def local_prefect_answers(port: int, timeout: float = 1.0) -> bool:
    """Whether a Prefect server answers its health check on the loopback port."""
    try:
        with urllib.request.urlopen(f"{local_prefect_url(port)}/health", timeout=timeout) as r:
            return bool(r.status == 200 and r.read().strip() == b"true")
    except (OSError, ValueError):
        return False


# Numerical libraries a worker may load (numpy through openpyxl, pandas) start a thread per
# core, and each thread reserves address space that counts against the worker's memory cap.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_environment() -> dict[str, str]:
    """The environment of a worker process: this one's, with one thread for numeric libraries.

    A worker works on one file at a time; its cap (`read_memory_bytes`) is then spent on the
    file, not on reservations of threads it does not use.
    """
    return {**os.environ, **dict.fromkeys(_ONE_THREAD, "1")}


def warm_environment() -> dict[str, str]:
    """The environment of the warm process (`khcn.warm`), which forks a child per command.

    A process that forks must have one thread: numerical libraries would start one per core
    at import, and Arrow's allocator one in the background.
    """
    return {**worker_environment(), "JE_ARROW_MALLOC_CONF": "background_thread:false"}
