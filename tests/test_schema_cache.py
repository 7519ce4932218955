"""The checked task schema kept in the data folder: served while nothing that shapes it changed."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from core.settings import Settings
from flows.ingest_submissions import reader_names
from schemas import cache
from schemas.errors import SchemaError
from schemas.registry import unit_names
from schemas.schema import Schema, load_schema, parse_schema, schema_fingerprint
from sources.names import Names


@pytest.fixture
def cached(settings: Settings) -> Settings:
    """The test's settings with a data folder, so schemas are cached in it."""
    settings.data_dir.mkdir(parents=True)
    return settings


def _entries(settings: Settings) -> list[Path]:
    folder = settings.cache / "schema"
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def _entry(settings: Settings) -> Path:
    key = cache.schema_key(schema_fingerprint(settings.schemas_dir), settings.plan_years)
    return cache.entry_path(settings.cache / "schema", cache.folder_tag(settings.schemas_dir), key)


def _same(a: Schema, b: Schema) -> None:
    assert a.fingerprint == b.fingerprint != ""
    assert a.plan_years == b.plan_years
    assert a.registry == b.registry
    assert a.catalog == b.catalog
    assert a.parties == b.parties
    assert a.elements == b.elements
    assert a.targets == b.targets
    assert a.party_units == b.party_units
    assert a.roles == b.roles
    assert a.matrix() == b.matrix()


def test_a_cached_schema_is_the_parsed_one(cached: Settings) -> None:
    first = load_schema(cached)
    assert _entries(cached) == [_entry(cached)]
    again = load_schema(cached)

    assert again is not first
    _same(again, parse_schema(cached))
    _same(first, again)
    assert again.roles, "the responsibility matrix comes with the schema"
    assert "roles" in again.__dict__ and "party_units" in again.__dict__


def test_the_entry_is_what_a_run_gets(cached: Settings) -> None:
    """A hit is served from the entry, not parsed again: an entry stored under the schema's key
    with a unit renamed comes back renamed."""
    schema = load_schema(cached)
    first = schema.registry.units[0]
    units = (first.model_copy(update={"name": "Tên chỉ có trong bộ nhớ đệm"}),)
    marked = replace(schema, registry=schema.registry.model_copy(update={"units": units}))
    key = cache.schema_key(schema.fingerprint, cached.plan_years)
    cache.write_entry(cached.cache / "schema", cache.folder_tag(cached.schemas_dir), key, marked)

    assert load_schema(cached).registry.units[0].name == "Tên chỉ có trong bộ nhớ đệm"


_EDITS: dict[str, tuple[str, str, Callable[[Schema], object], object]] = {
    "units.yaml": (
        "name: Phòng Kinh tế\n",
        "name: Phòng Kinh tế và Hạ tầng\n",
        lambda s: s.registry.unit("P-KT").name,  # type: ignore[union-attr]
        "Phòng Kinh tế và Hạ tầng",
    ),
    "catalog.yaml": (
        "title: Huy động nguồn lực và cơ cấu chi ngân sách nhà nước\n",
        "title: Huy động mọi nguồn lực\n",
        lambda s: s.catalog.group("3").title,
        "Huy động mọi nguồn lực",
    ),
    "parties.yaml": (
        'fillers: ["liên quan",',
        'fillers: ["phối hợp", "liên quan",',
        lambda s: s.parties.fillers[0],
        "phối hợp",
    ),
    "elements.yaml": (
        'name: "Số hội nghị quán triệt, tập huấn"',
        'name: "Số hội nghị quán triệt"',
        lambda s: s.elements.elements[0].name,
        "Số hội nghị quán triệt",
    ),
    "targets.yaml": (
        "  1.1.1:\n    2026: 21\n",
        "  1.1.1:\n    2026: 24\n",
        lambda s: s.targets.elements[("1.1.1", 2026)],
        24,
    ),
}


@pytest.mark.parametrize("name", list(_EDITS))
def test_an_edited_schema_file_is_read_again(cached: Settings, name: str) -> None:
    old, new, value, expected = _EDITS[name]
    before = load_schema(cached)
    assert value(before) != expected
    path = cached.schemas_dir / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")

    after = load_schema(cached)

    assert value(after) == expected
    assert after.fingerprint != before.fingerprint
    assert _entry(cached).is_file() and len(_entries(cached)) == 2
    assert value(load_schema(cached)) == expected


def test_the_plan_years_are_part_of_the_key(cached: Settings) -> None:
    """A catalog checked for 2026-2030 is not served for 2026-2029: there it is wrong."""
    assert load_schema(cached).plan_years == range(2026, 2031)
    shorter = cached.with_overrides(plan_end_year=2029)
    assert shorter.data_dir == cached.data_dir

    with pytest.raises(SchemaError, match="nằm ngoài kế hoạch"):
        load_schema(shorter)

    longer = cached.with_overrides(plan_end_year=2031)
    assert load_schema(longer).plan_years == range(2026, 2032)
    assert load_schema(cached).plan_years == range(2026, 2031)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: os.urandom(len(data)), id="garbage"),
        pytest.param(lambda data: pickle.dumps(("another key", {"units": []})), id="other-key"),
        pytest.param(
            lambda data: pickle.dumps((pickle.loads(data)[0], ["not", "a", "schema"])),  # noqa: S301
            id="not-a-schema",
        ),
        pytest.param(
            lambda data: data.replace(b"schemas.model", b"schemas.gone!"), id="other-code"
        ),
    ],
)
def test_an_unreadable_entry_is_ignored_and_replaced(
    cached: Settings, spoil: Callable[[bytes], bytes]
) -> None:
    expected = load_schema(cached)
    path = _entry(cached)
    path.write_bytes(spoil(path.read_bytes()))

    _same(load_schema(cached), expected)

    tag, key = (
        cache.folder_tag(cached.schemas_dir),
        cache.schema_key(expected.fingerprint, cached.plan_years),
    )
    repaired = cache.read_entry(cached.cache / "schema", tag, key)
    assert isinstance(repaired, Schema)
    _same(repaired, expected)


def test_a_schema_with_errors_is_never_cached(cached: Settings) -> None:
    path = cached.schemas_dir / "elements.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('task: "1.1"', 'task: "9.9"', 1), encoding="utf-8")

    for _ in range(2):
        with pytest.raises(SchemaError, match="nhiệm vụ 9.9 không có"):
            load_schema(cached)
    assert _entries(cached) == []

    path.write_text(text, encoding="utf-8")
    assert load_schema(cached).elements.elements[0].task == "1.1"
    assert _entries(cached) == [_entry(cached)]


def test_no_data_folder_is_made_for_the_cache(settings: Settings) -> None:
    assert not settings.data_dir.exists()
    schema = load_schema(settings)
    _same(schema, load_schema(settings))
    assert not settings.data_dir.exists()


def test_a_cache_that_cannot_be_written_only_costs_the_parse(cached: Settings) -> None:
    """Where the cache folder should be, a file: every run parses, none fails."""
    cached.cache.write_text("not a folder", encoding="utf-8")
    first = load_schema(cached)
    _same(load_schema(cached), first)
    assert cached.cache.read_text(encoding="utf-8") == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_is_still_read(cached: Settings) -> None:
    expected, entry = load_schema(cached), _entry(cached)
    folder = cached.cache / "schema"
    folder.chmod(0o500)
    try:
        _same(load_schema(cached), expected)
        path = cached.schemas_dir / "units.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "\n# sửa\n", encoding="utf-8")
        assert load_schema(cached).fingerprint != expected.fingerprint
        assert _entries(cached) == [entry]
    finally:
        folder.chmod(0o700)


def test_old_entries_of_a_schemas_folder_are_pruned(cached: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-schemas"
    elsewhere.mkdir()
    for name in ("catalog.yaml", "units.yaml", "parties.yaml", "elements.yaml", "targets.yaml"):
        (elsewhere / name).write_bytes((cached.schemas_dir / name).read_bytes())
    load_schema(cached.with_overrides(schemas_dir=elsewhere))
    theirs = _entries(cached)
    assert len(theirs) == 1

    path = cached.schemas_dir / "units.yaml"
    text = path.read_text(encoding="utf-8")
    for version in range(cache.KEEP + 3):
        path.write_text(f"{text}\n# bản {version}\n", encoding="utf-8")
        load_schema(cached)

    ours = [p for p in _entries(cached) if p not in theirs]
    assert len(ours) == cache.KEEP
    assert _entry(cached) in ours
    assert set(theirs) <= set(_entries(cached)), "another folder's entries are left alone"
    assert not list((cached.cache / "schema").glob(".*.tmp"))


def test_the_key_follows_files_years_and_code() -> None:
    years = range(2026, 2031)
    key = cache.schema_key("a" * 64, years)
    assert key == cache.schema_key("a" * 64, range(2026, 2031))
    assert key != cache.schema_key("b" * 64, years)
    assert key != cache.schema_key("a" * 64, range(2025, 2031))
    digest = cache.code_digest()
    assert len(digest) == 64 and digest == cache.code_digest()


def test_a_dead_writers_temporary_file_is_removed_later(cached: Settings) -> None:
    load_schema(cached)
    folder, tag = cached.cache / "schema", cache.folder_tag(cached.schemas_dir)
    stale, fresh = folder / f".{tag}-dead.tmp", folder / f".{tag}-writing.tmp"
    stale.write_bytes(b"half an entry")
    fresh.write_bytes(b"being written")
    two_hours_ago = stale.stat().st_mtime - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    path = cached.schemas_dir / "units.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# sửa\n", encoding="utf-8")

    load_schema(cached)

    assert not stale.exists()
    assert fresh.exists(), "a file another run may still be writing is left alone"


def test_the_readers_names_are_kept_beside_their_schema(cached: Settings) -> None:
    schema = load_schema(cached)
    built = reader_names(schema, cached)
    [entry] = sorted((cached.cache / "names").glob("*.pickle"))
    elements = [(e.code, e.name) for e in schema.elements.elements]
    assert built == Names.of(unit_names(schema.registry), elements)
    assert built.unit_codes("Phòng Kinh tế") == ("P-KT",)

    # What is kept is what the next run uses: an entry marked by hand comes back marked.
    key, kept = pickle.loads(entry.read_bytes())  # noqa: S301 - the test's own file
    kept.units["ten chi co trong bo nho dem"] = ("P-KT",)
    entry.write_bytes(pickle.dumps((key, kept)))
    assert reader_names(schema, cached).unit_codes("Tên chỉ có trong bộ nhớ đệm") == ("P-KT",)

    # Another registry is another entry, with its own names.
    units = cached.schemas_dir / "units.yaml"
    units.write_text(
        units.read_text(encoding="utf-8").replace(
            "name: Phòng Kinh tế\n", "name: Phòng Kinh tế và Hạ tầng\n"
        ),
        encoding="utf-8",
    )
    renamed = reader_names(load_schema(cached), cached)
    assert renamed.unit_codes("Phòng Kinh tế và Hạ tầng") == ("P-KT",)
    assert renamed.unit_codes("Tên chỉ có trong bộ nhớ đệm") == ()
