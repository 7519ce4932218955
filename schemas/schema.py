"""The task schema in one object: catalog, parties, registry, elements, who reports what."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from core.periods import Period
from core.settings import Settings
from core.text import fold
from schemas import cache
from schemas.catalog import load_catalog
from schemas.elements import load_elements
from schemas.model import Catalog, Element, Elements, Registry, Role, Task, Unit
from schemas.parties import Parties, load_parties
from schemas.registry import load_registry
from schemas.targets import Targets, load_targets


@dataclass(frozen=True)
class Assignment:
    """One cell of the responsibility matrix."""

    task: str
    unit: str
    year: int
    role: Role | None  # None: nothing to report

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "unit": self.unit, "year": self.year, "role": self.role}


@dataclass(frozen=True)
class Schema:
    catalog: Catalog
    parties: Parties
    registry: Registry
    elements: Elements
    plan_years: range
    targets: Targets
    # SHA-256 of the schema files as read: what a derived copy was made under.
    fingerprint: str = ""

    @cached_property
    def party_units(self) -> dict[str, tuple[Unit, ...]]:
        """Each party the catalog names → the active units it stands for; every unit's name
        folded once, not once per party (a province's registry has 25,000 units)."""
        named = {p for t in self.catalog.tasks for p in (*t.lead.parties, *t.coordinators.parties)}
        folded = [(unit, fold(unit.name)) for unit in self.registry.units if unit.active]
        return {party: self.parties.units_of(party, self.registry, folded) for party in named}

    @cached_property
    def roles(self) -> dict[tuple[str, str], Role]:
        """(task, unit) → lead or coordinate; a unit both named lead and coordinator leads."""
        roles: dict[tuple[str, str], Role] = {}
        for task in self.catalog.tasks:
            for party in task.coordinators.parties:
                for unit in self.party_units[party]:
                    roles[(task.code, unit.code)] = "coordinate"
            for party in task.lead.parties:
                for unit in self.party_units[party]:
                    roles[(task.code, unit.code)] = "lead"
        return roles

    def role(self, task: Task, unit: Unit, year: int) -> Role | None:
        if not task.timeframe.covers(year) or not unit.active:
            return None
        return self.roles.get((task.code, unit.code))

    def matrix(self) -> list[Assignment]:
        """Every task × unit × plan year, with the unit's role or None."""
        return [
            Assignment(task.code, unit.code, year, self.role(task, unit, year))
            for task in self.catalog.tasks
            for unit in self.registry.units
            for year in self.plan_years
        ]

    def tasks_for(self, unit: Unit, year: int) -> list[tuple[Task, Role]]:
        """The tasks a unit reports on in a year, in catalog order."""
        found = []
        for task in self.catalog.tasks:
            role = self.role(task, unit, year)
            if role is not None:
                found.append((task, role))
        return found

    def tasks_due(self, unit: Unit, period: Period) -> list[Task]:
        """The tasks a unit reports on in a period.

        Annual tasks (`Hàng năm`) are reported once, in the period that closes the year.
        """
        closes_year = period.end.month == 12
        return [
            task
            for task, _ in self.tasks_for(unit, period.year)
            if task.timeframe.kind != "annual" or closes_year
        ]

    def elements_of(self, task: Task) -> tuple[Element, ...]:
        return self.elements.for_task(task.code)

    def unmatched_parties(self) -> list[str]:
        """Parties named in the catalog that stand for no unit of the registry."""
        named = {p for t in self.catalog.tasks for p in (*t.lead.parties, *t.coordinators.parties)}
        return sorted(p for p in named if not self.party_units[p])


SCHEMA_FILES = ("parties.yaml", "catalog.yaml", "elements.yaml", "units.yaml", "targets.yaml")


def load_schema(settings: Settings) -> Schema:
    """Load and check every schema file under `settings.schemas_dir`.

    A schema checked before from the same files, plan years and code comes from the data
    folder's cache (`schemas.cache`) instead: a province's registry takes seconds to parse, its
    cached copy a tenth of one. Only a schema that passed every check is cached, and only into
    a data folder that already exists (a command run elsewhere leaves no folder behind).

    Raises:
        SchemaError: the first file with problems, every problem in it named.
    """
    fingerprint = schema_fingerprint(settings.schemas_dir)

    def parsed() -> Schema:
        schema = parse_schema(settings, fingerprint)
        # Worked out before the schema is stored: 0.5 s to build for 25,000 units, 0.06 s more
        # to load with the rest, and an ingest of even one file asks for them.
        _ = schema.party_units, schema.roles
        return schema

    return cache.kept(
        settings.cache / "schema" if settings.data_dir.is_dir() else None,
        cache.folder_tag(settings.schemas_dir),
        cache.schema_key(fingerprint, settings.plan_years),
        Schema,
        parsed,
    )


def schema_fingerprint(base: Path) -> str:
    """SHA-256 over the schema files' names and bytes (a missing file counts as one)."""
    digest = hashlib.sha256()
    for name in SCHEMA_FILES:
        path = base / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-"))
    return digest.hexdigest()


def parse_schema(settings: Settings, fingerprint: str = "") -> Schema:
    """Parse and check the schema files, never from the cache.

    Raises:
        SchemaError: the first file with problems, every problem in it named.
    """
    base, years = settings.schemas_dir, settings.plan_years
    parties = load_parties(base / "parties.yaml")
    catalog = load_catalog(base / "catalog.yaml", parties, years)
    elements = load_elements(base / "elements.yaml", catalog)
    return Schema(
        catalog=catalog,
        parties=parties,
        registry=load_registry(base / "units.yaml"),
        elements=elements,
        plan_years=years,
        targets=load_targets(base / "targets.yaml", elements, years),
        fingerprint=fingerprint or schema_fingerprint(base),
    )
