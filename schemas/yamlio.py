"""YAML in and out for the schema files: errors name the file and line; writes are atomic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.files import write_atomically
from schemas.errors import Problem, SchemaError

# libyaml's loader (same safe subset) when PyYAML was built with it: a province's registry of
# 25,000 units takes 44 s to parse in pure Python.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is one `SchemaError`."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506
    except FileNotFoundError:
        raise SchemaError([Problem(str(path), None, "không tìm thấy tệp")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise SchemaError([Problem(str(path), row, f"lỗi cú pháp YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise SchemaError([Problem(str(path), None, "tệp phải là một bảng khoá: giá trị")])
    return data


def write_yaml(path: Path, data: dict[str, Any], header: str = "") -> None:
    """Write YAML atomically: the old file stays whole until the new one is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    write_atomically(path, header + text)
