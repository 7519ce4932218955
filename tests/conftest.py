"""Shared fixtures: the reference appendix, and a private copy of schemas/ per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import SCHEMAS_DIR, Settings, use_config_file
from schemas.appendix import REFERENCE_APPENDIX
from schemas.schema import Schema, load_schema

# Modules `make check` leaves out (marked `slow`): the end-to-end runs (deployment, province
# over SFTP, the mailbox round trip), kill -9 and crash runs, the fuzzer. `make test` runs them
# with everything else.
SLOW_MODULES = frozenset(
    {
        "test_e2e_deployment",
        "test_kill_history",
        "test_kill_ingest",
        "test_warehouse_crash",
        "test_mail_crash",
        "test_fuzz",
        "test_province_e2e",
        "test_mail",
    }
)


# Single tests of the same kinds in otherwise quick modules: a real `khcn` process with its own
# Prefect server, kill -9 of a lock holder, a crashing reader pool, readers and requests racing
# publications.
SLOW_TESTS = frozenset(
    {
        "test_terminal.py::test_a_real_ingest_prints_only_its_own_lines",
        "test_lock.py::test_a_killed_holder_does_not_block_the_next_writer",
        "test_guard.py::test_pool_survives_crash_hang_and_memory_hog",
        "test_warehouse_readers.py::test_reader_sees_only_whole_snapshots",
        "test_service.py::test_fifty_concurrent_mart_requests_during_publishes",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test = f"{item.path.name}::{item.name.split('[')[0]}"
        if item.path.stem in SLOW_MODULES or test in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _own_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's `khcn` commands find only the warm processes its own tests start, not
    one of a `khcn server` already running on the machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
        yield


@pytest.fixture(autouse=True)
def _khcn_environment_restored() -> Iterator[None]:
    """No test leaks `KHCN_…` variables, or the config file a command named, to another."""
    before = {k: v for k, v in os.environ.items() if k.startswith("KHCN_")}
    yield
    for key in [k for k in os.environ if k.startswith("KHCN_")]:
        del os.environ[key]
    os.environ.update(before)
    use_config_file(None)


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
