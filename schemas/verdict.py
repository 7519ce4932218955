"""What validation decides about one submission: its findings and, from them, its status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.model import ReadIssue, Submission

# A validation finding has the shape of a reading issue: code, Vietnamese message, cell, severity.
Finding = ReadIssue
Status = Literal["accepted", "warned", "rejected"]


@dataclass(slots=True)
class Verdict:
    """A submission is loaded whole or not at all: any error rejects it."""

    submission: Submission
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def status(self) -> Status:
        if self.errors:
            return "rejected"
        return "warned" if self.warnings else "accepted"
