"""The task schema as typed objects: catalog, parties, unit registry, data elements."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

TimeframeKind = Literal["continuous", "annual", "period"]
UnitType = Literal["UBND", "Phòng", "Trung tâm", "Trường học", "Thôn", "Doanh nghiệp"]
UNIT_TYPES: tuple[str, ...] = UnitType.__args__  # type: ignore[attr-defined]
ElementType = Literal["count", "money", "stock"]
Role = Literal["lead", "coordinate"]
# `Tình trạng` of a task in a period, as units choose it in the template.
STATUSES: tuple[str, ...] = ("Chưa triển khai", "Đang triển khai", "Hoàn thành")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeframe(_Frozen):
    text: str
    kind: TimeframeKind
    start_year: int
    end_year: int

    def covers(self, year: int) -> bool:
        return self.start_year <= year <= self.end_year


class Responsibility(_Frozen):
    """A lead or coordinator phrase of the appendix and the parties it names."""

    text: str
    parties: tuple[str, ...]


class Group(_Frozen):
    code: str
    title: str


class Task(_Frozen):
    code: str
    group_code: str
    content: str
    lead: Responsibility
    coordinators: Responsibility
    results: str
    timeframe: Timeframe


class Catalog(_Frozen):
    source: str
    groups: tuple[Group, ...]
    tasks: tuple[Task, ...]

    def group(self, code: str) -> Group:
        return next(g for g in self.groups if g.code == code)

    def task(self, code: str) -> Task | None:
        return next((t for t in self.tasks if t.code == code), None)


class Party(_Frozen):
    """Who a phrase may name: one unit (by name or by its unique type) or a class of units."""

    id: str
    kind: Literal["unit", "class"]
    phrases: tuple[str, ...]
    unit_type: str | None = None
    unit_types: tuple[str, ...] = ()


class Unit(_Frozen):
    code: str
    name: str
    type: UnitType
    email: str | None = None
    active: bool = True
    # Other names units write for themselves (`Tên khác`): matched like the name.
    aliases: tuple[str, ...] = ()


class Registry(_Frozen):
    source: str
    sample: bool = False
    units: tuple[Unit, ...]

    def unit(self, code: str) -> Unit | None:
        return next((u for u in self.units if u.code == code), None)


class Element(_Frozen):
    code: str
    task: str
    name: str
    measure: str
    type: ElementType


class Rule(_Frozen):
    """`left` must be less than or equal to `right`, within one submission."""

    code: str
    left: str
    right: str
    message: str


class Indicator(_Frozen):
    code: str
    name: str
    kind: Literal["ratio", "count_units"]
    numerator: str
    denominator: str | None = None
    unit_type: str | None = None
    scale: float = 1.0
    target_op: Literal[">=", "<=", "all_units"] | None = None
    # Holds for every plan year that schemas/targets.yaml leaves empty.
    default_target: float | None = None


class Elements(_Frozen):
    source: str
    money_limit: float
    # Whole-number figures of a commune (people, events, documents) stay far below this.
    count_limit: float = 1_000_000.0
    elements: tuple[Element, ...]
    rules: tuple[Rule, ...]
    indicators: tuple[Indicator, ...]

    def for_task(self, task_code: str) -> tuple[Element, ...]:
        return tuple(e for e in self.elements if e.task == task_code)
