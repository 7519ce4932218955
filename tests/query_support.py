"""A published copy for the query and service tests: real loads, a real publish, and one
progress text a hostile unit could have sent."""

from __future__ import annotations

from datetime import UTC, datetime

from warehouse_support import crash_batch, make_file

from core.settings import Settings
from schemas.schema import load_schema
from warehouse.load import load, sync_schema
from warehouse.migrate import init
from warehouse.publish import publish

# Markup rich would obey, a link it would make live, and an escape sequence that clears a
# terminal: a unit may type any of them into its progress report.
HOSTILE_TEXT = "[/x] [link=https://example.invalid/]bấm vào[/link] [bold]đậm\x1b[2J"
FILES = 20


def build_published(settings: Settings) -> None:
    """Load `FILES` accepted files and one with hostile progress text, then publish."""
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = crash_batch(settings, schema, FILES)
    files.append(
        make_file(
            settings,
            "UBND",
            "2026Q3",
            {},
            progress={"1.1": ("Đang triển khai", HOSTILE_TEXT)},
            received_at=datetime(2026, 9, 1, tzinfo=UTC),
        )
    )
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, settings.published)
