"""A CI-sized sample of the fuzz suite (tests/fuzz.py) through the real ingest flow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz import MUTATIONS, file_says, mutants, run, seeds

from core.settings import Settings

pytestmark = pytest.mark.usefixtures("prefect_api")

SAMPLE = 240


def test_mutants_are_deterministic() -> None:
    first = [(m.name, m.data) for m in mutants(30, seed=7)]
    again = [(m.name, m.data) for m in mutants(30, seed=7)]
    assert first == again
    assert [(m.name, m.data) for m in mutants(5, seed=7, start=10)] == first[10:15]
    assert first != [(m.name, m.data) for m in mutants(30, seed=8)]


def test_every_mutation_applies_to_the_template() -> None:
    import random

    template = seeds()[0]
    for name, mutation in MUTATIONS.items():
        _, data = mutation(random.Random(name), template)
        assert data != template.data or name == "odd_name", name


def test_independent_reading_agrees_with_the_seeds() -> None:
    from sources.read import read_bytes

    for seed in seeds()[:5]:
        for row in read_bytes(seed.data, seed.name).values:
            said = file_says(seed.name, seed.data, row.ref.sheet, row.ref.row, row.ref.column)
            assert float(str(said)) == float(row.value), (seed.name, row.ref)


def test_sample_through_the_flow(tmp_path: Path, settings: Settings) -> None:
    counts = run(
        SAMPLE, tmp_path / "runs", seed=1, batch_size=120, schemas_dir=settings.schemas_dir
    )
    report = "\n".join(counts.lines())
    assert counts.files == SAMPLE, report
    assert counts.run_aborts == 0, report
    assert counts.hangs == 0, report
    assert counts.silent_drops == 0, report
    assert counts.value_mismatches == 0, report
    # The whole pytest process is in the tree here; a 9 KB merge bomb once took 5 GB alone.
    assert counts.peak_rss_bytes < 2 * 2**30, report
    # The sample exercises both outcomes, and hostile files got feedback too.
    assert counts.accepted > 0 and counts.rejected > 0, report
    assert counts.feedback_files >= counts.rejected, report
    assert os.environ.get("KHCN_DATA_DIR")  # restored by the conftest after the test
