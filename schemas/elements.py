"""The data elements, rules and indicators of `schemas/elements.yaml`, checked when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from schemas.errors import ProblemList
from schemas.model import UNIT_TYPES, Catalog, Element, Elements, Indicator, Rule
from schemas.yamlio import read_yaml

M = TypeVar("M", Element, Rule, Indicator)


def load_elements(path: Path, catalog: Catalog) -> Elements:
    """Read and check the elements file: unique codes, known tasks, types, and references.

    Raises:
        SchemaError: naming the file and the entry of each problem.
    """
    data, problems, file = read_yaml(path), ProblemList(), str(path)
    elements = _entries(problems, file, data, "elements", Element)
    rules = _entries(problems, file, data, "rules", Rule)
    indicators = _entries(problems, file, data, "indicators", Indicator)
    money_limit = _positive(problems, file, data.get("money_limit"), "money_limit", " (triệu đồng)")
    count_limit = _positive(problems, file, data.get("count_limit", 1_000_000), "count_limit", "")
    problems.raise_if_any()
    _check_elements(problems, file, elements, catalog)
    _check_references(problems, file, rules, indicators, {e.code for _, e in elements})
    for kind, entries in (("quy tắc", rules), ("chỉ số", indicators)):
        entry_codes = [entry.code for _, entry in entries]
        for row, entry in entries:
            if entry_codes.count(entry.code) > 1:
                problems.add(file, row, f"mã {kind} {entry.code} bị trùng")
    problems.raise_if_any()
    return Elements(
        source=path.name,
        money_limit=float(money_limit),
        count_limit=float(count_limit),
        elements=tuple(e for _, e in elements),
        rules=tuple(r for _, r in rules),
        indicators=tuple(i for _, i in indicators),
    )


def _positive(problems: ProblemList, file: str, value: object, key: str, unit: str) -> float:
    if not isinstance(value, int | float) or value <= 0:
        problems.add(file, key, f"phải là một số dương{unit}")
        return 0
    return value


def _check_elements(
    problems: ProblemList, file: str, elements: list[tuple[str, Element]], catalog: Catalog
) -> None:
    codes = [e.code for _, e in elements]
    for row, element in elements:
        if codes.count(element.code) > 1:
            problems.add(file, row, f"mã chỉ tiêu {element.code} bị trùng")
        if catalog.task(element.task) is None:
            problems.add(file, row, f"nhiệm vụ {element.task} không có trong danh mục")
        elif not element.code.startswith(element.task + "."):
            problems.add(file, row, f"mã {element.code} không thuộc nhiệm vụ {element.task}")


def _check_references(
    problems: ProblemList,
    file: str,
    rules: list[tuple[str, Rule]],
    indicators: list[tuple[str, Indicator]],
    by_code: set[str],
) -> None:
    for row, rule in rules:
        for ref in (rule.left, rule.right):
            if ref not in by_code:
                problems.add(file, row, f"quy tắc {rule.code}: chỉ tiêu {ref} không có")
    for row, indicator in indicators:
        for operand in (indicator.numerator, indicator.denominator):
            if operand is not None and operand not in by_code:
                problems.add(file, row, f"chỉ số {indicator.code}: chỉ tiêu {operand} không có")
        if indicator.kind == "ratio" and indicator.denominator is None:
            problems.add(file, row, f"chỉ số {indicator.code}: tỷ lệ cần mẫu số")
        if indicator.kind == "count_units" and indicator.unit_type not in UNIT_TYPES:
            problems.add(file, row, f"chỉ số {indicator.code}: loại đơn vị không hợp lệ")


def _entries(
    problems: ProblemList, file: str, data: dict[str, Any], key: str, cls: type[M]
) -> list[tuple[str, M]]:
    found: list[tuple[str, M]] = []
    for index, item in enumerate(data.get(key) or [], start=1):
        code = item.get("code") if isinstance(item, dict) else None
        row = f"{key}[{index}]" + (f" ({code})" if code else "")
        model = problems.model(cls, item, file, row)
        if model is not None:
            found.append((row, model))
    return found
