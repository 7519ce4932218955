"""Checked task schemas kept in the data folder, so a run does not parse the YAML again.

A province's registry (25,000 units) takes seconds to parse and check; the pickled result of
that work loads in a tenth of a second. One file per key under `<data_dir>/cache/schema/`:
`<folder>-<key>.pickle`, where `<folder>` names the schemas folder the entry was made from and
`<key>` everything that shapes the result (see `schema_key`). An entry that cannot be read
(truncated, garbage, written by other code) is a miss, never an error: the caller parses and
writes the entry again.

pickle runs code named in the file it loads, so only files this service wrote itself are
loaded: the data folder is the service's own (the warehouse lives there, mode of its owner),
never a place units' files reach; entries are written with mode 0600 under a folder of mode
0700. The units' files are read elsewhere, by the guarded readers.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from core.files import write_atomically

# Entries kept per schemas folder: the one in use and a few before it (a schema edited and
# put back, two plan spans in turn) without the folder growing with every edit.
KEEP = 3
# A temporary file this old was left by a writer that died; newer ones may still be written.
_STALE_SECONDS = 3600.0
_SUFFIX = ".pickle"
T = TypeVar("T")
_CORE = Path(__file__).resolve().parent.parent / "core"


@cache
def code_digest() -> str:
    """SHA-256 over the code that builds and shapes a schema: this package's modules and the
    core modules it parses with (`core/text.py` folds names, `core/periods.py`).

    A change to any of them may change the objects' fields or the values parsing gives, so an
    entry made by other code is never loaded as if it were current. Reading them takes < 1 ms.
    """
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in [*sorted(package.glob("*.py")), _CORE / "text.py", _CORE / "periods.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def schema_key(fingerprint: str, plan_years: range) -> str:
    """The cache key of a schema: its files, the plan's years, the code, and the versions of
    Python, pydantic and PyYAML (they decide how objects pickle and what YAML parses to)."""
    parts = (
        fingerprint,
        f"{plan_years.start}-{plan_years.stop}",
        code_digest(),
        sys.version,
        pydantic.VERSION,
        yaml.__version__,
        str(pickle.HIGHEST_PROTOCOL),
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def folder_tag(schemas_dir: Path) -> str:
    """A short name for the schemas folder, so pruning one folder's entries spares another's."""
    return hashlib.sha256(str(schemas_dir.resolve()).encode()).hexdigest()[:16]


def entry_path(cache_dir: Path, tag: str, key: str) -> Path:
    """The file of one entry."""
    return cache_dir / f"{tag}-{key[:32]}{_SUFFIX}"


def read_entry(cache_dir: Path, tag: str, key: str) -> object | None:
    """The object stored under this key, or None when there is none that can be read.

    A hit is touched, so pruning keeps the entries in use.
    """
    path = entry_path(cache_dir, tag, key)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # Tens of thousands of small objects come out of the file; the cyclic collector would
    # walk them all several times over while they are made (~40 % of the load).
    collecting = gc.isenabled()
    gc.disable()
    try:
        stored_key, value = pickle.loads(data)  # noqa: S301 - the service's own file, see above
    except Exception:  # noqa: BLE001 - whatever an unreadable entry raises, it is a miss
        return None
    finally:
        if collecting:
            gc.enable()
    if stored_key != key:
        return None
    # A read-only data folder: the entry still serves, it just ages.
    with suppress(OSError):
        os.utime(path)
    return value


def kept(cache_dir: Path | None, tag: str, key: str, kind: type[T], build: Callable[[], T]) -> T:
    """The `kind` stored under this key, or `build()`'s, stored for next time.

    Args:
        cache_dir: the entries' folder; None to build without storing (no data folder yet).
    """
    if cache_dir is not None and isinstance(hit := read_entry(cache_dir, tag, key), kind):
        return hit
    value = build()
    if cache_dir is not None:
        write_entry(cache_dir, tag, key, value)
    return value


def write_entry(cache_dir: Path, tag: str, key: str, value: object) -> Path | None:
    """Store an object under this key, atomically, and prune the folder's older entries.

    A reader sees the whole old file or the whole new one, never part of one: the bytes go to a
    temporary file that is then renamed over the entry. Nothing is raised: a data folder that
    cannot be written (read-only, full) only means the next run parses again.

    Returns:
        The entry written, or None when it could not be.
    """
    path = entry_path(cache_dir, tag, key)
    try:
        data = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # No fsync: an entry lost or cut short by a power cut is only a miss.
        write_atomically(path, data)
    except (OSError, pickle.PicklingError):
        return None
    prune(cache_dir, tag, keep=path)
    return path


def prune(cache_dir: Path, tag: str, keep: Path) -> list[Path]:
    """Remove all but the newest `KEEP` entries of one schemas folder (always sparing `keep`),
    and temporary files its writers left behind.

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    entries: list[tuple[float, Path]] = []
    now = time.time()
    try:
        listing = list(cache_dir.iterdir())
    except OSError:
        return removed
    for path in listing:
        name = path.name
        try:
            if name.startswith(f"{tag}-") and name.endswith(_SUFFIX):
                entries.append((path.stat().st_mtime, path))
            elif (
                name.startswith(f".{tag}-")
                and name.endswith(".tmp")
                and now - path.stat().st_mtime > _STALE_SECONDS
            ):
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # removed meanwhile by another run
    entries.sort(key=lambda entry: entry[0], reverse=True)
    old = [path for _, path in entries if path != keep][KEEP - 1 :]
    for path in old:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed
