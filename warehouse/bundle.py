"""Bundles: what a commune publishes for its province, and how the province checks them.

A bundle is a folder `<publish_url>/<commune_code>/<bundle_id>/` holding each mart as Parquet
and a `manifest.json` (commune, contract version, run, row counts, SHA-256 of each file). The
manifest is written last: a folder without one is a bundle still being written (or abandoned)
and no reader takes it. The publish URL is anything fsspec opens: a folder, `sftp://`, `s3://`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec

from core.settings import Settings
from warehouse.db import MARTS, connect_read_only
from warehouse.publish import Publication

MANIFEST = "manifest.json"
FORMAT = "khcn-bundle"
# The version of the mart contract (docs/warehouse.md) a bundle's Parquet files follow. A change
# of a mart's columns is a new version; a province loads only the version it knows.
CONTRACT_VERSION = 1
# `province_code` of a consolidation of the whole country: every commune of the list belongs.
NATIONAL = "VN"
_CHUNK = 1 << 20
_COMMUNE_CODE = re.compile(r"^\d{5}$")
_DIGITS = re.compile(r"^\d{1,5}$")
_BUNDLE_ID = re.compile(r"^\d{8}T\d{12}Z-r\d+$")


@dataclass(frozen=True)
class BundleRef:
    """Where one bundle is: the publish URL, its commune and its id."""

    commune_code: str
    bundle_id: str

    @property
    def path(self) -> str:
        return f"{self.commune_code}/{self.bundle_id}"


@dataclass
class Checked:
    """A bundle as the province found it: its manifest when readable, and why it was refused."""

    ref: BundleRef
    manifest: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def filesystem(url: str, settings: Settings) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of a publish URL and the root path inside it.

    An `sftp://` URL authenticates with `publish_key_file` when set (else the SSH agent and the
    user's keys).
    """
    options: dict[str, Any] = {}
    if url.startswith("sftp://") and settings.publish_key_file is not None:
        options["key_filename"] = str(settings.publish_key_file)
    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, str(root).rstrip("/")


def nso_code(code: str) -> str:
    """A commune's NSO code as the national list writes it: five digits, `00004`.

    Raises:
        ValueError: not a commune code (one to five digits).
    """
    text = str(code).strip()
    if not _DIGITS.match(text):
        raise ValueError(f"mã xã «{text[:20]}» không hợp lệ: mã của Tổng cục Thống kê là 5 chữ số")
    return f"{int(text):05d}"


def commune_name(code: str) -> str:
    """The commune's name in the national list of administrative units.

    Raises:
        ValueError: no commune has that NSO code.
    """
    from vietnam_provinces import Ward, WardCode

    try:
        return str(Ward.from_code(WardCode(int(code))).name)
    except ValueError:
        raise ValueError(f"mã xã {code} không có trong danh mục đơn vị hành chính") from None


def province_of(code: str) -> tuple[str, str] | None:
    """The province (code, name) a commune belongs to, or None for a code not in the list."""
    from vietnam_provinces import Province, Ward, WardCode

    try:
        ward = Ward.from_code(WardCode(int(code)))
    except ValueError:
        return None
    province = Province.from_code(ward.province_code)
    return str(int(ward.province_code)), str(province.name)


def _sha256_copy(source: Any, target: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def write_bundle(
    publication: Publication,
    *,
    url: str,
    settings: Settings,
    commune_code: str,
) -> BundleRef:
    """Write the published marts as a bundle under `url`, then prune old bundles.

    Args:
        publication: what was just published (its Parquet folder and row counts).
        url: the publish URL.
        settings: for the SFTP key and the retention.
        commune_code: the commune's NSO code.

    Returns:
        The bundle written.

    Raises:
        ValueError: the commune code is not one of the national list.
    """
    commune_code = nso_code(commune_code)
    name = commune_name(commune_code)
    con = connect_read_only(publication.database)
    try:
        found = con.execute("select last_run_id from meta.publication").fetchone()
    finally:
        con.close()
    run_id = int(found[0]) if found and found[0] is not None else 0
    bundle_id = f"{publication.published_at.strftime('%Y%m%dT%H%M%S%fZ')}-r{run_id}"
    ref = BundleRef(commune_code, bundle_id)
    fs, root = filesystem(url, settings)
    folder = f"{root}/{ref.path}"
    fs.makedirs(folder, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    for mart in MARTS:
        local = Path(publication.parquet_dir) / f"{mart}.parquet"
        with local.open("rb") as source, fs.open(f"{folder}/{mart}.parquet", "wb") as target:
            sha256, size = _sha256_copy(source, target)
        files[mart] = {
            "file": f"{mart}.parquet",
            "rows": publication.mart_rows[mart],
            "bytes": size,
            "sha256": sha256,
        }
    manifest = {
        "format": FORMAT,
        "contract_version": CONTRACT_VERSION,
        "commune_code": commune_code,
        "commune_name": name,
        "bundle_id": bundle_id,
        "run_id": run_id,
        "published_at": publication.published_at.isoformat(),
        "files": files,
    }
    # Last, and under a temporary name renamed into place where the filesystem can: a reader
    # sees a whole manifest or none.
    text = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    partial = f"{folder}/.{MANIFEST}.partial"
    with fs.open(partial, "wb") as handle:
        handle.write(text)
    fs.mv(partial, f"{folder}/{MANIFEST}")
    prune_bundles(fs, root, commune_code, settings.bundle_retention)
    return ref


def prune_bundles(fs: fsspec.AbstractFileSystem, root: str, commune_code: str, keep: int) -> None:
    """Keep the newest `keep` complete bundles of a commune; drop older ones and old leftovers."""
    complete = sorted(bundle_ids(fs, root, commune_code))
    if len(complete) <= keep:
        return
    oldest_kept = complete[-keep]
    for entry in fs.ls(f"{root}/{commune_code}", detail=False):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if _BUNDLE_ID.match(name) and name < oldest_kept:
            fs.rm(f"{root}/{commune_code}/{name}", recursive=True)


def bundle_ids(fs: fsspec.AbstractFileSystem, root: str, commune_code: str) -> list[str]:
    """The complete bundles (manifest present) of one commune, oldest first."""
    found = []
    for entry in fs.ls(f"{root}/{commune_code}", detail=False):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if _BUNDLE_ID.match(name) and fs.exists(f"{root}/{commune_code}/{name}/{MANIFEST}"):
            found.append(name)
    return sorted(found)


def latest_bundles(url: str, settings: Settings) -> list[BundleRef]:
    """The latest complete bundle of each commune published under `url`, by commune code."""
    fs, root = filesystem(url, settings)
    if not fs.exists(root):
        return []
    refs = []
    for entry in sorted(fs.ls(root, detail=False)):
        code = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if not _COMMUNE_CODE.match(code):
            continue
        ids = bundle_ids(fs, root, code)
        if ids:
            refs.append(BundleRef(code, ids[-1]))
    return refs


def check_manifest(ref: BundleRef, raw: bytes, province_code: str) -> Checked:
    """What the manifest says, and the first reason to refuse the bundle on its face."""
    checked = Checked(ref)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        checked.reason = "manifest.json không đọc được (không phải JSON UTF-8)"
        return checked
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        checked.reason = f"manifest.json không phải của một gói {FORMAT}"
        return checked
    checked.manifest = manifest
    version = manifest.get("contract_version")
    if version != CONTRACT_VERSION:
        checked.reason = (
            f"gói theo phiên bản hợp đồng dữ liệu {version}, tỉnh đọc phiên bản "
            f"{CONTRACT_VERSION}; xã cần cập nhật phần mềm"
        )
    elif manifest.get("commune_code") != ref.commune_code:
        checked.reason = (
            f"manifest ghi mã xã {manifest.get('commune_code')} nhưng gói nằm trong thư mục "
            f"của xã {ref.commune_code}"
        )
    elif manifest.get("bundle_id") != ref.bundle_id:
        checked.reason = f"manifest ghi mã gói {manifest.get('bundle_id')}, khác tên thư mục"
    elif (owner := province_of(ref.commune_code)) is None:
        checked.reason = f"mã xã {ref.commune_code} không có trong danh mục đơn vị hành chính"
    elif province_code != NATIONAL and owner[0] != str(int(province_code)):
        checked.reason = (
            f"xã {ref.commune_code} ({manifest.get('commune_name', '')}) thuộc {owner[1]} "
            f"(mã {owner[0]}), không thuộc tỉnh này (mã {province_code})"
        )
    elif not isinstance(manifest.get("files"), dict) or set(manifest["files"]) != set(MARTS):
        checked.reason = "manifest không liệt kê đúng các bảng mart của hợp đồng dữ liệu"
    return checked


def fetch_bundle(ref: BundleRef, url: str, settings: Settings, target: Path) -> Checked:
    """Copy one bundle into `target` and verify it: manifest, membership, checksums, rows.

    Returns:
        The bundle checked; its files are in `target` (as `<mart>.parquet`) when `ok`.
    """
    import pyarrow.parquet as pq

    fs, root = filesystem(url, settings)
    folder = f"{root}/{ref.path}"
    try:
        raw = fs.cat_file(f"{folder}/{MANIFEST}")
    except (OSError, FileNotFoundError):
        return Checked(ref, reason="không có manifest.json")
    checked = check_manifest(ref, raw, str(settings.province_code))
    if not checked.ok:
        return checked
    target.mkdir(parents=True, exist_ok=True)
    for mart in MARTS:
        entry = checked.manifest["files"][mart]
        local = target / f"{mart}.parquet"
        try:
            with fs.open(f"{folder}/{mart}.parquet", "rb") as source, local.open("wb") as out:
                sha256, _ = _sha256_copy(source, out)
        except (OSError, FileNotFoundError):
            checked.reason = f"thiếu tệp {mart}.parquet"
            return checked
        if sha256 != entry.get("sha256"):
            checked.reason = (
                f"tệp {mart}.parquet có SHA-256 {sha256[:12]}… khác manifest "
                f"({str(entry.get('sha256'))[:12]}…): tệp đã bị sửa hoặc chép chưa xong"
            )
            return checked
        try:
            rows = pq.read_metadata(local).num_rows
        except Exception as error:  # noqa: BLE001 - any unreadable Parquet refuses the bundle
            checked.reason = f"tệp {mart}.parquet không đọc được: {error}"
            return checked
        if rows != entry.get("rows"):
            checked.reason = f"tệp {mart}.parquet có {rows} dòng, manifest ghi {entry.get('rows')}"
            return checked
    return checked


def published_at(manifest: dict[str, Any]) -> datetime | None:
    """The manifest's publication time, when it has a valid one."""
    try:
        return datetime.fromisoformat(str(manifest.get("published_at")))
    except ValueError:
        return None


def publish_bundle(publication: Publication, settings: Settings) -> BundleRef | None:
    """After a publication: write the commune's bundle to `publish_url`, when one is set.

    Raises:
        ValueError: a publish URL is set but `commune_code` is not.
    """
    if settings.level != "commune" or not settings.publish_url:
        return None
    if not settings.commune_code:
        raise ValueError(
            "đã đặt publish_url nhưng chưa đặt commune_code (mã xã của Tổng cục Thống kê)"
        )
    return write_bundle(
        publication, url=settings.publish_url, settings=settings, commune_code=settings.commune_code
    )
