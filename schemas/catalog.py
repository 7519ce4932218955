"""The catalog file `schemas/catalog.yaml`: written by `khcn catalog import`, read by everything."""

from __future__ import annotations

from pathlib import Path

from schemas.errors import ProblemList
from schemas.model import Catalog
from schemas.parties import Parties
from schemas.yamlio import read_yaml, write_yaml

HEADER = """\
# Task catalog of the plan, imported from the appendix by `khcn catalog import`.
# Review it like code; re-import the appendix rather than editing the tasks by hand.
"""


def write_catalog(catalog: Catalog, path: Path) -> None:
    """Write the catalog as reviewable YAML, atomically."""
    write_yaml(path, catalog.model_dump(mode="json"), HEADER)


def load_catalog(path: Path, parties: Parties, plan_years: range) -> Catalog:
    """Read the catalog and check it: unique codes, known groups and parties, years in the plan.

    Raises:
        SchemaError: naming the file and the task of each problem.
    """
    problems = ProblemList()
    catalog = problems.model(Catalog, read_yaml(path), str(path), None)
    problems.raise_if_any()
    assert catalog is not None
    known_parties = {p.id for p in parties.parties}
    group_codes = [g.code for g in catalog.groups]
    seen: set[str] = set()
    for index, task in enumerate(catalog.tasks, start=1):
        row = f"tasks[{index}] ({task.code})"
        if task.code in seen:
            problems.add(str(path), row, f"mã nhiệm vụ {task.code} bị trùng")
        seen.add(task.code)
        if task.group_code not in group_codes:
            problems.add(str(path), row, f"nhóm {task.group_code} không có trong groups")
        for party in (*task.lead.parties, *task.coordinators.parties):
            if party not in known_parties:
                problems.add(str(path), row, f"bên «{party}» không có trong parties.yaml")
        tf = task.timeframe
        if (
            tf.start_year > tf.end_year
            or tf.start_year < plan_years[0]
            or tf.end_year > plan_years[-1]
        ):
            problems.add(str(path), row, f"năm {tf.start_year}-{tf.end_year} nằm ngoài kế hoạch")
    if len(set(group_codes)) != len(group_codes):
        problems.add(str(path), "groups", "mã nhóm bị trùng")
    problems.raise_if_any()
    return catalog
