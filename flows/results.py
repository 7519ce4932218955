"""What the flows return: typed results the command line prints and `--json` carries whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, overload

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


@dataclass(frozen=True)
class PartDone:
    """One part of a run: its files (new or not), and when it was done (loaded, or judged in a
    dry run), in seconds since the run started. The time between two parts is what a part costs
    once the run is under way, however big the warehouse has grown."""

    files: int
    done_at: float


class FileResults(Sequence[FileResult]):
    """A run's file results: a sequence Prefect's walk of a flow's result does not enter.

    Prefect walks what a flow returns, every field of every dataclass in it, for futures to
    resolve: a list of 10,000 `FileResult` cost 0.35 s once the run's work was done (3.5 s at
    100,000 files). Held in this, the list is one leaf of that walk.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[FileResult] = ()) -> None:
        self._items = list(items)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> FileResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[FileResult]: ...

    def __getitem__(self, index: int | slice) -> FileResult | list[FileResult]:
        return self._items[index]

    def __iter__(self) -> Iterator[FileResult]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._items == list(other)

    def __repr__(self) -> str:
        return f"FileResults({self._items!r})"


@dataclass
class IngestResult:
    """One ingest run: counts, every file the run read, and where its reports went."""

    inbox: str
    listed: int
    new: int
    verdicts: dict[str, int]
    summary: RunSummary
    files: FileResults
    feedback: list[str]
    dry_run: bool
    load: LoadCounts | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    parts: list[PartDone] = field(default_factory=list)
    run_report: str | None = None
    data_docs: str | None = None
    mail: dict[str, Any] | None = None
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: every field, files included."""
        plain = asdict(replace(self, files=FileResults()))
        plain["files"] = [f.as_dict() for f in self.files]
        return plain


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
