"""A run's verdicts summed up: counts by verdict, the most frequent findings, per unit."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from schemas.verdict import Status, Verdict

if TYPE_CHECKING:
    from rich.console import RenderableType

# ---------------------------------------------------------------------------------------------
# Run summary

_STATUS_LABELS: dict[Status, str] = {
    "accepted": "Được chấp nhận",
    "warned": "Chấp nhận, có cảnh báo",
    "rejected": "Bị từ chối",
}


@dataclass(frozen=True)
class RunSummary:
    """Counts by verdict and the most frequent findings of a run."""

    total: int
    by_status: dict[Status, int]
    top_findings: list[tuple[str, str, int, int]]  # code, severity, findings, files
    by_unit: dict[str, dict[Status, int]]

    def table_rows(self) -> list[dict[str, object]]:
        """Rows for a Prefect table artifact: one per verdict, then one per frequent code."""
        rows: list[dict[str, object]] = [
            {"mục": _STATUS_LABELS[s], "mã": s, "số tệp": self.by_status.get(s, 0), "số lỗi": ""}
            for s in _STATUS_LABELS
        ]
        rows += [
            {"mục": "lỗi" if sev == "error" else "cảnh báo", "mã": code, "số tệp": files,
             "số lỗi": n}
            for code, sev, n, files in self.top_findings
        ]  # fmt: skip
        return rows

    def markdown(self) -> str:
        """A markdown report for a Prefect artifact."""
        lines = [
            f"# Kết quả kiểm tra: {self.total} tệp",
            "",
            "| Kết quả | Số tệp |",
            "|---|---:|",
        ]
        lines += [f"| {_STATUS_LABELS[s]} | {self.by_status.get(s, 0)} |" for s in _STATUS_LABELS]
        if self.top_findings:
            lines += ["", "## Lỗi, cảnh báo thường gặp", "", "| Mã | Loại | Số lần | Số tệp |"]
            lines.append("|---|---|---:|---:|")
            for code, severity, count, files in self.top_findings:
                kind = "lỗi" if severity == "error" else "cảnh báo"
                lines.append(f"| `{code}` | {kind} | {count} | {files} |")
        return "\n".join(lines) + "\n"

    def renderable(self) -> RenderableType:
        """Rich tables for the terminal."""
        from rich.console import Group
        from rich.table import Table

        verdicts = Table(title=f"Kết quả kiểm tra: {self.total} tệp")
        verdicts.add_column("Kết quả")
        verdicts.add_column("Số tệp", justify="right")
        for status, label in _STATUS_LABELS.items():
            verdicts.add_row(label, str(self.by_status.get(status, 0)))
        if not self.top_findings:
            return verdicts
        top = Table(title="Lỗi, cảnh báo thường gặp")
        for name, justify in (("Mã", "left"), ("Loại", "left"), ("Số lần", "right"),
                              ("Số tệp", "right")):  # fmt: skip
            top.add_column(name, justify=justify)  # type: ignore[arg-type]
        for code, severity, count, files in self.top_findings:
            top.add_row(code, "lỗi" if severity == "error" else "cảnh báo", str(count), str(files))
        return Group(verdicts, top)


def summarize(verdicts: Iterable[Verdict], top: int = 10) -> RunSummary:
    """Counts verdicts by status and findings by code.

    Args:
        verdicts: the run's verdicts.
        top: how many of the most frequent codes to keep.
    """
    tally = RunTally()
    tally.add(verdicts)
    return tally.summary(top)


@dataclass
class RunTally:
    """A run's counts, added to part by part: a run streamed in parts keeps its counts, not its
    verdicts."""

    total: int = 0
    by_status: Counter[Status] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    files: Counter[str] = field(default_factory=Counter)
    severity: dict[str, str] = field(default_factory=dict)
    by_unit: defaultdict[str, Counter[Status]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, verdicts: Iterable[Verdict]) -> None:
        """Count these verdicts in."""
        for verdict in verdicts:
            self.total += 1
            self.by_status[verdict.status] += 1
            self.by_unit[verdict.submission.unit_code or "?"][verdict.status] += 1
            for found in verdict.findings:
                self.counts[found.code] += 1
                self.severity[found.code] = found.severity
            for code in {f.code for f in verdict.findings}:
                self.files[code] += 1

    def summary(self, top: int = 10) -> RunSummary:
        """The counts so far, with the `top` most frequent codes."""
        return RunSummary(
            total=self.total,
            by_status={s: self.by_status.get(s, 0) for s in _STATUS_LABELS},
            top_findings=[
                (c, self.severity[c], n, self.files[c]) for c, n in self.counts.most_common(top)
            ],
            by_unit={unit: dict(c) for unit, c in sorted(self.by_unit.items())},
        )
