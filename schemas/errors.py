"""Errors in the analyst's own files: each names the file and the row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a catalog, registry or element file."""

    file: str
    row: str | int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, dòng {self.row}" if self.row is not None else self.file
        return f"{where}: {self.message}"


@dataclass
class SchemaError(Exception):
    """Raised with every problem found, so the analyst fixes them all in one pass."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class ProblemList(list[Problem]):
    """Collects problems while a file is read; `raise_if_any` ends the read."""

    def add(self, file: str, row: str | int | None, message: str) -> None:
        self.append(Problem(file, row, message))

    def raise_if_any(self) -> None:
        if self:
            raise SchemaError(list(self))

    def model(self, cls: type[M], data: Any, file: str, row: str | int | None) -> M | None:
        """Build a model from a row of data, noting each invalid field instead of raising."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                field_name = ".".join(str(part) for part in err["loc"]) or "dòng"
                self.add(file, row, f"trường «{field_name}»: {_vietnamese(err)}")
            return None


def _vietnamese(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "thiếu giá trị"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"giá trị «{value}» không hợp lệ, phải là một trong {expected}"
    if kind == "extra_forbidden":
        return "trường này không được dùng"
    return f"giá trị «{value}» không hợp lệ ({err['msg']})"
