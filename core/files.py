"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never part of
    one: it goes to a temporary file beside it (`.<name>.*.tmp`, mode 0600 unless `mode` says
    otherwise), renamed over `path` once complete. Text is written as UTF-8.

    Raises:
        OSError: the folder is missing or cannot be written; no temporary file is left.
    """
    fd, made = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(made)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        if mode is not None:
            temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
