"""API tokens of the query service: issued by the analyst, shown once, stored only as hashes.

The tokens file lives in the service folder of the data directory (`data/service/tokens.json`),
never in `khcn.toml`. A token is 256 random bits, so a plain SHA-256 of it cannot be reversed
or guessed; a slow password hash would only slow every request.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

TOKENS_FILE = "tokens.json"
_PREFIX = "khcn_"
_NAME = re.compile(r"^[\w.@-]{1,64}$")


class TokenError(ValueError):
    """A token operation that cannot be done; the message is Vietnamese."""


@dataclass(frozen=True)
class TokenRecord:
    """One issued token: who it is for, its hash, when it was issued and revoked."""

    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def tokens_file(service_dir: Path) -> Path:
    """The tokens file in the service folder."""
    return service_dir / TOKENS_FILE


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_tokens(path: Path) -> dict[str, TokenRecord]:
    """Every token record by name; none when the file does not exist yet.

    Raises:
        TokenError: the file is not a tokens file.
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: TokenRecord(**record) for name, record in data["tokens"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError(
            f"tệp mã truy cập {path} bị hỏng ({exc}); hãy khôi phục tệp hoặc xoá nó rồi cấp lại "
            "mã cho từng người dùng."
        ) from None


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, TokenRecord]]:
    """The records, changed in place and written back atomically, one writer at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = load_tokens(path)
        yield records
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(
                {"tokens": {n: asdict(r) for n, r in sorted(records.items())}},
                handle,
                ensure_ascii=False,
                indent=2,
            )
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)


def add_token(path: Path, name: str) -> str:
    """Issue a token for `name`; the token itself is returned once and never stored.

    Raises:
        TokenError: the name is not valid or already has an active token.
    """
    if not _NAME.match(name):
        raise TokenError(
            f"tên «{name[:80]}» không dùng được: chỉ chữ, số và . _ - @, tối đa 64 ký tự, "
            "ví dụ «so-khcn» hoặc «nguyen.van.a»."
        )
    token = _PREFIX + secrets.token_urlsafe(32)
    with _locked(path) as records:
        if name in records and records[name].active:
            raise TokenError(
                f"«{name}» đã có mã truy cập đang dùng; thu hồi trước "
                f"(khcn tokens revoke {name}) rồi cấp lại."
            )
        records[name] = TokenRecord(name=name, sha256=_digest(token), created_at=_now())
    return token


def revoke_token(path: Path, name: str) -> TokenRecord:
    """Revoke the token of `name`; the record stays, marked with the time.

    Raises:
        TokenError: no active token has that name.
    """
    with _locked(path) as records:
        record = records.get(name)
        if record is None or not record.active:
            raise TokenError(
                f"không có mã truy cập đang dùng nào tên «{name[:80]}»; xem danh sách bằng "
                "khcn tokens list."
            )
        records[name] = TokenRecord(record.name, record.sha256, record.created_at, _now())
        return records[name]


def owner(records: dict[str, TokenRecord], token: str) -> str | None:
    """The name an active token was issued to, or `None`."""
    presented = _digest(token)
    found = None
    # Every record is compared, in constant time, so timing tells nothing about which matched.
    for record in records.values():
        if hmac.compare_digest(presented, record.sha256) and record.active:
            found = record.name
    return found


class TokenStore:
    """The tokens file as the service reads it: reread when it changes, so a revocation takes
    effect on the next request without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._records: dict[str, TokenRecord] = {}

    def owner(self, token: str) -> str | None:
        """The name the token was issued to, if it is active."""
        try:
            stat = self.path.stat()
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._records = load_tokens(self.path) if seen else {}
            self._seen = seen
        return owner(self._records, token)
