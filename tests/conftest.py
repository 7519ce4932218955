"""Shared fixtures: the reference appendix, and a private copy of schemas/ per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, SCHEMAS_DIR, Settings
from schemas.schema import Schema, load_schema

REFERENCE_APPENDIX = PROJECT_ROOT.parent / "shared" / "reference" / "000_dca197c9b0492ba3.txt"


@pytest.fixture(autouse=True)
def _khcn_environment_restored() -> Iterator[None]:
    """The CLI hands its options to flows as `KHCN_…` variables; no test leaks them to another."""
    before = {k: v for k, v in os.environ.items() if k.startswith("KHCN_")}
    yield
    for key in [k for k in os.environ if k.startswith("KHCN_")]:
        del os.environ[key]
    os.environ.update(before)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect API for the whole session, with its own home and no analytics.

    Modules that run flows use it (`pytestmark = pytest.mark.usefixtures("prefect_api")`).
    """
    # Imported here: most tests never start Prefect.
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_HOME", str(home))
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        with prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture
def reference_appendix() -> Path:
    if not REFERENCE_APPENDIX.exists():
        pytest.fail(f"the plan's reference appendix is missing at {REFERENCE_APPENDIX}")
    return REFERENCE_APPENDIX


@pytest.fixture
def schemas_dir(tmp_path: Path) -> Path:
    """A copy of the shipped schema files that a test may change freely."""
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture
def settings(schemas_dir: Path, tmp_path: Path) -> Settings:
    return Settings(schemas_dir=schemas_dir, data_dir=tmp_path / "data")


@pytest.fixture
def schema(settings: Settings) -> Schema:
    """The shipped task schema, loaded from the test's own copy."""
    return load_schema(settings)
