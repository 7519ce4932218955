"""The layer rules of docs/architecture.md, checked on every import of every module."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|[^|]*\|\s*(.*?)\s*\|\s*$")


def layer_table() -> dict[str, tuple[int, frozenset[str]]]:
    """Package -> (layer, packages it may import), read from the table of the document."""
    table: dict[str, tuple[int, frozenset[str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            layer, package, allowed = match.groups()
            table[package] = (int(layer), frozenset(re.findall(r"`(\w+)`", allowed)))
    return table


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, nested ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside its own package.
            found.append((node.lineno, package if node.level else node.module or ""))
    return found


def package_imports(
    table: dict[str, tuple[int, frozenset[str]]],
) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the places, for every package of ours."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in table:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in imported_modules(path, package):
                top = module.split(".")[0]
                if top in table and top != package:
                    edges[(package, top)].append(f"{path.relative_to(ROOT)}:{line} {module}")
    return edges


TABLE = layer_table()
EDGES = package_imports(TABLE)


def test_the_table_names_every_package_of_the_project() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages and set(TABLE) == packages


def test_the_table_itself_runs_one_way() -> None:
    for package, (layer, allowed) in TABLE.items():
        assert package not in allowed
        for other in allowed:
            assert TABLE[other][0] <= layer, f"{package} may import {other}, a higher layer"
            assert package not in TABLE[other][1], f"{package} and {other} may import each other"
    assert TABLE["core"][1] == frozenset()


@pytest.mark.parametrize("package", sorted(TABLE))
def test_a_package_imports_only_what_its_layer_allows(package: str) -> None:
    allowed = TABLE[package][1]
    wrong = [
        place
        for (source, target), places in EDGES.items()
        if source == package and target not in allowed
        for place in places
    ]
    assert wrong == []


def test_no_two_packages_import_each_other() -> None:
    both = sorted({tuple(sorted(pair)) for pair in EDGES if pair[::-1] in EDGES})
    assert both == []


def test_the_walk_sees_nested_and_relative_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom . import sibling\n\ndef f():\n    from flows.results import X\n",
        encoding="utf-8",
    )
    assert imported_modules(module, "sources") == [(1, "os"), (2, "sources"), (5, "flows.results")]
