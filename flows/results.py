"""What the flows return: typed results the command line prints and `--json` carries whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from outputs.run_report import FileResult
from schemas.summary import RunSummary


@dataclass
class LoadCounts:
    """What the load did with the run's files, counted."""

    run_id: int
    imported: int
    updated: int
    ignored: int
    rejected: int

    def items(self) -> list[tuple[str, int]]:
        """(outcome, files) for each outcome, the run id left out."""
        return [(k, v) for k, v in asdict(self).items() if k != "run_id"]


@dataclass
class IngestResult:
    """One ingest run: counts, every file the run read, and where its reports went."""

    inbox: str
    listed: int
    new: int
    verdicts: dict[str, int]
    summary: RunSummary
    files: list[FileResult]
    feedback: list[str]
    dry_run: bool
    load: LoadCounts | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    run_report: str | None = None
    data_docs: str | None = None
    mail: dict[str, Any] | None = None
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: every field, files included."""
        return asdict(self)


@dataclass
class ConsolidateResult:
    """The nightly consolidation: its ingest, and the period's completeness and indicators."""

    ingest: IngestResult
    completeness: dict[str, Any]
    indicators: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the ingest's fields at the top, as the nightly report reads."""
        return {
            **self.ingest.to_dict(),
            "completeness": self.completeness,
            "indicators": self.indicators,
        }
