"""A reader querying the published copy while loads and publications run: never an error,
never a half-updated snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from warehouse_support import crash_batch

from core.settings import PROJECT_ROOT, Settings
from schemas.schema import load_schema
from warehouse.load import load, sync_schema
from warehouse.migrate import init
from warehouse.publish import publish

SUPPORT = PROJECT_ROOT / "tests" / "warehouse_support.py"
LOADS = 20
PER_LOAD = 2


def test_reader_sees_only_whole_snapshots(settings: Settings, tmp_path: Path) -> None:
    schema = load_schema(settings)
    db, published = settings.warehouse, tmp_path / "published"
    init(db)
    sync_schema(db, schema, settings)
    publish(db, published)
    files = crash_batch(settings, schema, LOADS * PER_LOAD)

    reader = subprocess.Popen(
        [sys.executable, str(SUPPORT), "read", str(published), "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    first = reader.stdout.readline()  # the reader is up and has read once
    for i in range(LOADS):
        chunk = files[i * PER_LOAD : (i + 1) * PER_LOAD]
        load(db, [f.verdict for f in chunk], [f.receipt for f in chunk], settings)
        publish(db, published)
    reader.terminate()
    out, err = reader.communicate(timeout=30)

    lines = [json.loads(line) for line in [first, *out.splitlines()] if line.strip()]
    errors = [line["error"] for line in lines if "error" in line]
    assert errors == [], errors[:3]
    snapshots = [line["row"] for line in lines]
    accepted_seen = []
    for accepted, value_sum, values, expected_accepted, _ in snapshots:
        # Values, submissions and the unit-level mart always come from the same load.
        assert values == value_sum
        assert expected_accepted == accepted
        assert accepted % PER_LOAD == 0
        accepted_seen.append(accepted)
    assert accepted_seen == sorted(accepted_seen)
    assert len(set(accepted_seen)) > LOADS // 2
