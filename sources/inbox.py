"""Listing submissions from an fsspec URL: a local folder by default, any fsspec filesystem.

The inbox is walked recursively. A folder per unit is allowed (`inbox/THON-01/bao-cao.xlsx`):
the nearest folder below the inbox root whose name is not a period is the entry's unit folder.
Office lock files, `.DS_Store`, `Thumbs.db` and `__MACOSX` folders are skipped; every other
file is listed (images, PDFs, .doc, .rar…), so that anything unreadable is answered by the
reader rather than silently dropped.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import fsspec
from fsspec.core import split_protocol, url_to_fs
from fsspec.registry import known_implementations

from sources.archives import is_junk
from sources.refusals import REFUSALS
from sources.values import period_of_cell


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One listed file."""

    url: str  # as given to `fetch`: a plain path for a local inbox, else a full URL
    name: str
    size: int
    unit_folder: str | None
    modified: datetime | None = None  # when the file landed in the inbox, if the source says
    refused: str | None = None  # why no byte of it may be read (`REFUSALS`), None if it may
    sha256: str | None = None  # the hash, when the file was archived (and hashed) already
    # The archived copy to read the bytes from, when the file was received already: `url`,
    # `name` and `size` stay what the unit sent, so reading never renames or re-measures it.
    archived: str | None = None


# Why a listed file is refused, in the words of `R-FILE-REFUSED`'s `{detail}`.
class RefusedFileError(OSError):
    """A listed file turned out, when opened, to be one the inbox refuses (`REFUSALS`)."""

    def __init__(self, url: str, refusal: str) -> None:
        super().__init__(f"{url}: {REFUSALS[refusal]}")
        self.refusal = refusal


def is_ignored(name: str) -> bool:
    """Whether a file name is housekeeping, not a submission (lock files, `.DS_Store`…)."""
    return is_junk(name)


def check_inbox(url: str, reach_seconds: float | None = None) -> None:
    """Fail fast, in one Vietnamese sentence, on an inbox that cannot be listed at all.

    A local folder must exist (a typo must not pass for an empty run); a URL's filesystem must
    be known and its packages installed. With `reach_seconds`, a remote inbox must also answer
    within that time (an analyst waiting at a terminal); a scheduled run leaves reaching it to
    the listing, which retries what is transient.

    Raises:
        ValueError: the folder does not exist, the scheme is unknown, its packages are
            missing, or the remote inbox does not answer.
    """
    protocol, path = split_protocol(url)
    protocol = protocol or "file"
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        known = known_implementations.get(protocol, {})
        packages = re.findall(r'"([\w.-]+)"', str(exc)) or re.findall(
            r"[Ii]nstall ([\w.-]+)", str(exc)
        )
        names = packages or [str(known.get("class", protocol)).split(".")[0]]
        raise ValueError(
            f"hộp thư đến {url} cần gói Python {', '.join(f'«{n}»' for n in names)}, chưa được "
            f"cài: cài bằng `uv add {' '.join(names)}` (hoặc `pip install {' '.join(names)}`) "
            "rồi chạy lại"
        ) from None
    except ValueError:
        raise ValueError(
            f"hộp thư đến {url}: không đọc được địa chỉ dạng «{protocol}://»; "
            "dùng một thư mục hoặc một URL fsspec (s3://, gcs://, sftp://…)"
        ) from None
    if protocol in ("file", "local"):
        if not Path(path).is_dir():
            raise ValueError(
                f"không thấy thư mục hộp thư đến {path}: kiểm tra đường dẫn (--inbox, KHCN_INBOX) "
                "hoặc chạy `khcn init` để tạo"
            )
        return
    if reach_seconds is not None:
        _reach(url, reach_seconds)


def _reach(url: str, seconds: float) -> None:
    """Ask a remote inbox whether its root exists, giving up after `seconds`."""
    answer: list[BaseException | bool] = []

    def ask() -> None:
        try:
            fs, root = url_to_fs(url)
            answer.append(bool(fs.exists(root.rstrip("/"))))
        except Exception as exc:  # any failure of any filesystem is the answer
            answer.append(exc)

    # A daemon thread: a host that never answers must not hold the command after it gives up.
    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(seconds)
    if not answer:
        raise ValueError(f"hộp thư đến {url} không trả lời sau {seconds:.0f} giây: kiểm tra mạng")
    if isinstance(answer[0], BaseException):
        raise ValueError(
            f"không kết nối được tới hộp thư đến {url} ({type(answer[0]).__name__}: "
            f"{answer[0]}): kiểm tra địa chỉ và mạng"
        )
    if answer[0] is False:
        raise ValueError(f"không thấy hộp thư đến {url}: kiểm tra đường dẫn (--inbox, KHCN_INBOX)")


def list_inbox(url: str) -> list[InboxEntry]:
    """Every submission file under `url`, sorted by URL.

    Args:
        url: an fsspec URL (`memory://inbox`, `s3://bucket/inbox`) or a local path.

    Returns:
        The entries; an inbox that does not exist yet is empty. An entry that reaches outside
        the inbox (a link, a hard link to a file elsewhere, a device file or FIFO, a path out
        of an fsspec source's root) is listed with `refused` set: nothing of it is read.
    """
    fs, root = url_to_fs(url)
    root = root.rstrip("/")
    if not fs.exists(root):
        return []
    plain = "://" not in url
    entries = []
    found = _find_local(root) if plain else fs.find(root, detail=True)
    for path, info in sorted(found.items()):
        if info.get("type") == "directory":
            continue
        refused = info.get("refused") if plain else _refusal(path, info, root)
        if refused == "outside":
            entries.append(_outside(path if plain else fs.unstrip_protocol(path)))
            continue
        # Path text, not `pathlib` objects: a province's night lists 100,000 files.
        parts = path[len(root) + 1 :].split("/") if root else path.split("/")
        if any(is_ignored(part) for part in parts):
            continue
        folders = [part for part in parts[:-1] if period_of_cell(part) is None]
        entries.append(
            InboxEntry(
                url=path if plain else fs.unstrip_protocol(path),
                name=parts[-1],
                size=int(info.get("size") or 0),
                unit_folder=folders[-1] if folders else None,
                modified=_modified(info),
                refused=refused,
            )
        )
    return entries


def _find_local(root: str) -> dict[str, dict[str, Any]]:
    """A local inbox's files, walked without following any link, described by `lstat`.

    A symbolic link (to a file or a folder) is listed as refused, never followed: following
    one would read whatever the service can read, and a link to a parent folder never ends.
    A hard link is refused unless all its names are inside the inbox.
    """
    found: dict[str, dict[str, Any]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = f"{folder}/{name}"
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone since the folder was listed
            if stat.S_ISDIR(st.st_mode):
                continue
            refused = None
            if stat.S_ISLNK(st.st_mode):
                refused = "symlink"
            elif not stat.S_ISREG(st.st_mode):
                refused = "special"
            found[path] = {
                "name": path,
                "type": "file",
                "size": st.st_size if refused is None else 0,
                "mtime": st.st_mtime,
                "refused": refused,
                "inode": (st.st_dev, st.st_ino),
                "nlink": st.st_nlink,
            }
    names = Counter(info["inode"] for info in found.values() if info["refused"] is None)
    for info in found.values():
        if info["refused"] is None and info["nlink"] > names[info["inode"]]:
            info["refused"], info["size"] = "hardlink", 0
    return found


def _refusal(path: str, info: dict[str, Any], root: str) -> str | None:
    """Why an fsspec source's listed file must not be read, if it must not."""
    # `..` anywhere, or a member path outside the root (an archive's `/etc/x` among them).
    inside = path.startswith(root + "/") if root else not path.startswith("/")
    if ".." in PurePosixPath(path).parts or not inside or posixpath.normpath(path) != path:
        return "outside"
    kind = info.get("type")
    if kind == "link" or info.get("islink"):
        return "symlink"
    if kind not in (None, "file"):
        return "special"
    return None


def _outside(url: str) -> InboxEntry:
    """A listed path that escapes the source's root: named, never opened."""
    return InboxEntry(
        url=url, name=PurePosixPath(url).name or url, size=0, unit_folder=None, refused="outside"
    )


def _modified(info: dict[str, Any]) -> datetime | None:
    """The modification time a filesystem reports: `mtime` (local, seconds), `LastModified`
    (object stores), `updated` or `created`; naive times are taken as UTC."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def open_source(url: str) -> BinaryIO:
    """An open binary file for one listed file, to stream it rather than hold it in memory.

    Errors of the filesystem (missing file, network) propagate: retrying is the caller's call.
    """
    if "://" not in url:
        return _open_local(url)
    handle: BinaryIO = fsspec.open(url, "rb").open()
    return handle


# A listed file is opened without following its last name and without waiting on a FIFO.
_LOCAL_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open_local(path: str) -> BinaryIO:
    """A local inbox file, opened only if it is still a plain file of its own.

    The listing refused links and special files; this closes the window in which a file is
    swapped for one after it was listed: the last name is not followed, a FIFO does not block.

    Raises:
        RefusedFileError: the file is now a link or not a regular file.
    """
    try:
        fd = os.open(path, _LOCAL_OPEN)
    except OSError as exc:
        if Path(path).is_symlink():
            raise RefusedFileError(path, "symlink") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RefusedFileError(path, "special")
    os.set_blocking(fd, True)
    # Unbuffered: the archive reads a workbook whole in one call, and a buffer of its own
    # would copy every byte once more.
    return os.fdopen(fd, "rb", buffering=0)


class ReadAhead:
    """Asks the kernel, from a thread, to bring local files into memory ahead of their reader.

    A file the kernel has let go of (the page cache keeps what was touched lately, and a host
    may drop what is older) costs its reader a wait on the disk, ~0.4–0.7 ms a workbook here;
    asked for while the reader is busy with the files before, it is in memory when its turn
    comes. Opened as `_open_local` opens: no link followed, nothing but a plain file advised;
    a URL that is not a local path is passed over. Without `posix_fadvise` (not Linux) it does
    nothing.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if hasattr(os, "posix_fadvise"):
            self._thread = threading.Thread(
                target=self._advise, args=(paths,), name="khcn-read-ahead", daemon=True
            )
            self._thread.start()

    def _advise(self, paths: Iterable[str]) -> None:
        for path in paths:
            if self._stop.is_set():
                return
            if "://" in path:
                continue
            try:
                fd = os.open(path, _LOCAL_OPEN)
            except OSError:
                continue
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass  # only advice: the reader meets the file's trouble itself
            finally:
                os.close(fd)

    def close(self) -> None:
        """Stop asking, and wait for the file being asked for."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(url: str, limit: int | None = None) -> bytes:
    """The bytes of one listed file; at most `limit + 1` bytes are read when a limit is given.

    Errors of the filesystem (missing file, network) propagate: retrying is the caller's call.
    """
    with fsspec.open(url, "rb") as handle:
        data = handle.read(-1 if limit is None else limit + 1)
    return bytes(data)
