"""Bundles on a folder: written whole and manifest last, pruned, verified; a province's batches
prepared and loaded, each commune all or nothing, once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from warehouse_support import full_values, make_file

from core.settings import Settings
from schemas.schema import load_schema
from warehouse.bundle import (
    MANIFEST,
    bundle_ids,
    fetch_bundle,
    filesystem,
    latest_bundles,
    write_bundle,
)
from warehouse.load import load, sync_schema
from warehouse.migrate import init
from warehouse.province import init_province, load_batch, prepare_batch, read_batch
from warehouse.publish import Publication, publish

PROVINCE = "37"


@pytest.fixture
def publication(settings: Settings) -> Publication:
    """A commune's warehouse with three accepted files, published."""
    schema = load_schema(settings)
    init(settings.warehouse)
    sync_schema(settings.warehouse, schema, settings)
    files = [
        make_file(settings, unit, "2026Q3", full_values(schema, unit, "2026Q3", 2.0))
        for unit in ("UBND", "MN-NH", "THON-03")
    ]
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    return publish(settings.warehouse, settings.published)


def _province(tmp_path: Path, url: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "province",
        level="province",
        province_code=PROVINCE,
        publish_url=str(url),
    )


def test_a_bundle_is_whole_and_verifies(
    publication: Publication, settings: Settings, tmp_path: Path
) -> None:
    url = tmp_path / "bundles"
    ref = write_bundle(publication, url=str(url), settings=settings, commune_code="13891")
    folder = url / ref.path
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["commune_name"] == "Xã Nghĩa Hưng" and manifest["contract_version"] == 1
    assert manifest["files"]["data_values"]["rows"] == publication.mart_rows["data_values"] > 0
    assert not list(folder.glob(".*"))  # no temporary manifest left
    checked = fetch_bundle(ref, str(url), _province(tmp_path, url), tmp_path / "got")
    assert checked.ok, checked.reason
    assert pq.read_table(tmp_path / "got" / "data_values.parquet").num_rows > 0


def test_a_folder_without_manifest_is_no_bundle_and_old_ones_are_pruned(
    publication: Publication, settings: Settings, tmp_path: Path
) -> None:
    url = tmp_path / "bundles"
    keep = settings.model_copy(update={"bundle_retention": 2})
    refs = []
    for n in range(4):
        stamped = Publication(
            database=publication.database,
            parquet_dir=publication.parquet_dir,
            published_at=publication.published_at.replace(microsecond=n),
            mart_rows=publication.mart_rows,
            seconds=0.0,
        )
        refs.append(write_bundle(stamped, url=str(url), settings=keep, commune_code="13891"))
    fs, root = filesystem(str(url), keep)
    assert bundle_ids(fs, root, "13891") == [r.bundle_id for r in refs[-2:]]
    # A bundle still being written: files there, no manifest yet.
    half = url / "13891" / "20991231T000000000000Z-r9"
    half.mkdir()
    (half / "completeness.parquet").write_bytes(b"PAR1")
    assert latest_bundles(str(url), keep) == [refs[-1]]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("rows", "dòng, manifest ghi"),
        ("version", "phiên bản hợp đồng dữ liệu 99"),
        ("foreign", "không thuộc tỉnh này"),
        ("json", "manifest.json không đọc được"),
        ("missing", "thiếu tệp indicators.parquet"),
    ],
)
def test_a_bad_bundle_is_refused_with_its_reason(
    publication: Publication, settings: Settings, tmp_path: Path, change: str, says: str
) -> None:
    url = tmp_path / "bundles"
    code = "16972" if change == "foreign" else "13891"
    ref = write_bundle(publication, url=str(url), settings=settings, commune_code=code)
    manifest_path = url / ref.path / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if change == "rows":
        manifest["files"]["completeness"]["rows"] += 1
    elif change == "version":
        manifest["contract_version"] = 99
    elif change == "missing":
        (url / ref.path / "indicators.parquet").unlink()
    manifest_path.write_text(
        "{not json" if change == "json" else json.dumps(manifest), encoding="utf-8"
    )
    checked = fetch_bundle(ref, str(url), _province(tmp_path, url), tmp_path / "got")
    assert not checked.ok
    assert says in str(checked.reason)


def test_batches_load_each_commune_once(
    publication: Publication, settings: Settings, tmp_path: Path
) -> None:
    url = tmp_path / "bundles"
    for code in ("13891", "14464", "14500"):
        write_bundle(publication, url=str(url), settings=settings, commune_code=code)
    # A bundle whose files are whole and listed but miss a column of the contract.
    odd = write_bundle(publication, url=str(url), settings=settings, commune_code="14482")
    path = url / odd.path / "indicators.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["met"]), path)
    manifest = json.loads((url / odd.path / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["indicators"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (url / odd.path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    province = _province(tmp_path, url)
    init_province(province.warehouse, province)
    refs = latest_bundles(str(url), province)
    prepare_batch(refs, province, tmp_path / "batch")
    batch = read_batch(tmp_path / "batch")
    assert [c.ref.commune_code for c in batch.accepted] == ["13891", "14464", "14500"]
    [refused] = batch.rejected
    assert "thiếu met" in str(refused.reason)
    result = load_batch(province.warehouse, 1, batch)
    assert sorted(result.loaded) == ["13891", "14464", "14500"]
    assert result.rejected == [("14482", refused.reason)]
    again = load_batch(province.warehouse, 2, read_batch(tmp_path / "batch"))
    assert again.loaded == []
    mine = pq.read_metadata(Path(publication.parquet_dir) / "data_values.parquet").num_rows
    with duckdb.connect(str(province.warehouse), read_only=True) as con:
        rows = con.execute("select count(*) from province.data_values").fetchone()
        current = con.execute("select count(*) from mart.data_values").fetchone()
        states = con.execute(
            "select status, count(*) from province.bundles group by all order by all"
        ).fetchall()
    assert rows == current == (3 * mine,)
    assert states == [("loaded", 3), ("rejected", 2)]  # refused at each of the two loads
