"""Imports put off until first use (`core.deferred`), and the Great Expectations engine's."""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.deferred import deferred

ROOT = Path(__file__).parent.parent
PACKAGE = "khcn_deferred_probe"


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A package whose modules note in `package.imported` each time one of them runs."""
    folder = tmp_path / PACKAGE
    folder.mkdir()
    (folder / "__init__.py").write_text("imported = []\n")
    for name in ("heavy", "other"):
        (folder / f"{name}.py").write_text(
            f"from {PACKAGE} import imported\nimported.append({name!r})\nVALUE = {name!r}\n"
        )
    sys.path.insert(0, str(tmp_path))
    try:
        yield folder
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_deferred_module_runs_on_first_use_only(package: Path) -> None:
    probe = importlib.import_module(PACKAGE)
    with deferred(f"{PACKAGE}.heavy", f"{PACKAGE}.other"):
        heavy = importlib.import_module(f"{PACKAGE}.heavy")
        namespace: dict[str, object] = {}
        exec(f"from {PACKAGE} import heavy", namespace)  # the form libraries use
        assert namespace["heavy"] is heavy
    assert probe.imported == []

    assert heavy.VALUE == "heavy"
    assert probe.imported == ["heavy"]
    assert sys.modules[f"{PACKAGE}.heavy"].VALUE == "heavy"
    assert heavy.VALUE == "heavy"
    assert probe.imported == ["heavy"]  # imported once

    # A placeholder nothing took is withdrawn: the module imports as usual afterwards.
    other = importlib.import_module(f"{PACKAGE}.other")
    assert probe.imported == ["heavy", "other"]
    assert other.__name__ == f"{PACKAGE}.other"
    assert hasattr(other, "__file__")


def test_a_module_imported_already_is_left_as_it_is(package: Path) -> None:
    heavy = importlib.import_module(f"{PACKAGE}.heavy")
    with deferred(f"{PACKAGE}.heavy"):
        assert importlib.import_module(f"{PACKAGE}.heavy") is heavy
    assert sys.modules[f"{PACKAGE}.heavy"] is heavy


ENGINE = """
import sys
from schemas.validation import engine
engine()
print(sorted(n for n in ("scipy.stats", "altair") if n in sys.modules))
"""


def test_the_validation_engine_does_without_scipy_stats_and_altair() -> None:
    """Great Expectations imports them for an expectation no suite uses: 1 s of each run's
    start that is not spent."""
    done = subprocess.run(
        [sys.executable, "-c", ENGINE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
