"""Realistic sample submissions for the demo: filled templates, with the slips units make."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from core.periods import Period, PeriodKind, parse_period, periods_of
from core.settings import local_tz
from outputs.template import (
    HEADER_ROW,
    PROGRESS_HEADERS,
    PROGRESS_SHEET,
    STATUSES,
    VALUE_HEADERS,
    VALUES_SHEET,
    template_name,
    write_template,
)
from schemas.model import Element, Task, Unit
from schemas.schema import Schema

Progress = Mapping[str, Mapping[str, object]]  # task code -> header -> text


def fill_workbook(
    path: Path, values: Mapping[str, object], progress: Progress | None = None
) -> Path:
    """Type values into a template as a unit officer would: by element and task code."""
    book = load_workbook(path)
    _fill(
        book[VALUES_SHEET],
        VALUE_HEADERS,
        "Mã chỉ tiêu",
        {k: {"Giá trị": v} for k, v in values.items()},
    )
    if progress:
        _fill(book[PROGRESS_SHEET], PROGRESS_HEADERS, "Mã nhiệm vụ", progress)
    book.save(path)
    return path


def _fill(sheet: Worksheet, headers: tuple[str, ...], key: str, rows: Progress) -> None:
    key_col = headers.index(key) + 1
    for row in range(HEADER_ROW + 1, sheet.max_row + 1):
        code = sheet.cell(row, key_col).value
        for header, value in rows.get(str(code), {}).items():
            sheet.cell(row, headers.index(header) + 1).value = value


@dataclass
class SampleInbox:
    """What the demo put in the inbox, so the demo can say what to expect."""

    files: list[Path] = field(default_factory=list)
    defects: dict[str, str] = field(default_factory=dict)  # file name -> the slip made
    missing: list[tuple[str, str]] = field(default_factory=list)  # (unit, period) not sent


def plausible_value(element: Element, unit: Unit, rng: random.Random) -> int | float:
    """A figure of the right size for a commune unit."""
    code, kind = element.code, element.type
    if code == "3.1.2":
        return round(rng.uniform(3_500, 6_000), 1)
    if code == "3.1.1":
        return round(rng.uniform(110, 260), 1)
    if kind == "money":
        return round(rng.uniform(5, 300), 1)
    if kind == "stock":
        return rng.randint(60, 90) if unit.type == "UBND" else rng.randint(8, 45)
    if "lượt" in element.measure or code in {"5.3.3"}:
        return rng.randint(40, 400)
    return rng.randint(0, 6)


def sample_values(
    schema: Schema, unit: Unit, tasks: list[Task], rng: random.Random
) -> dict[str, int | float]:
    """Values for the elements a unit fills: all of those it leads, most of the others."""
    values: dict[str, int | float] = {}
    for task in tasks:
        lead = schema.role(task, unit, 2026) == "lead" or task.code in {"5.3"}
        for element in schema.elements_of(task):
            budget = element.code.startswith("3.1.")
            if (budget and not lead) or (not lead and rng.random() < 0.3):
                continue
            values[element.code] = plausible_value(element, unit, rng)
    if "5.3.4" in values and "5.3.3" in values:
        values["5.3.4"] = min(values["5.3.4"], values["5.3.3"])
    if "5.2.2" in values and "5.2.3" in values:
        values["5.2.2"] = min(values["5.2.2"], values["5.2.3"])
    return values


def sample_progress(
    tasks: list[Task], period: Period, rng: random.Random
) -> dict[str, dict[str, object]]:
    progress: dict[str, dict[str, object]] = {}
    for number, task in enumerate(tasks, start=1):
        status = rng.choice(STATUSES[1:]) if period.end.month > 3 else rng.choice(STATUSES)
        progress[task.code] = {
            "Tình trạng": status,
            "Kết quả đạt được": f"Đã triển khai nhiệm vụ {task.code} theo kế hoạch",
            "Minh chứng": f"Số {number + 10}/KH-UBND ngày {period.start:%d/%m/%Y}",
        }
        if rng.random() < 0.3:
            progress[task.code]["Khó khăn, vướng mắc"] = "Kinh phí còn hạn chế"
    return progress


# The slips units really make, and what each does to a filled workbook.
def _as_vietnamese_text(values: dict[str, object], rng: random.Random) -> str:
    code = next(c for c, v in values.items() if isinstance(v, int | float))
    values[code] = f"{values[code]:,}".replace(",", ".") + " "
    return "số gõ dạng chữ kiểu Việt Nam (được chấp nhận)"


def _negative(values: dict[str, object], rng: random.Random) -> str:
    code = next(c for c, v in values.items() if isinstance(v, int))
    values[code] = -3
    return f"số âm ở chỉ tiêu {code}"


def _dong_for_million(values: dict[str, object], rng: random.Random) -> str:
    code = next((c for c in ("3.1.2", "2.2.1", "4.2.1", "2.2.2") if c in values), None)
    if code is None:
        return _negative(values, rng)
    values[code] = 4_250_000_000
    return f"kinh phí ghi bằng đồng ở chỉ tiêu {code}"


def _text_in_value(values: dict[str, object], rng: random.Random) -> str:
    code = next(iter(values))
    values[code] = "khoảng 5"
    return f"chữ trong ô giá trị ở chỉ tiêu {code}"


def _fraction_count(values: dict[str, object], rng: random.Random) -> str:
    code = next(c for c, v in values.items() if isinstance(v, int))
    values[code] = 2.5
    return f"số lẻ ở chỉ tiêu đếm {code}"


SLIPS = (_as_vietnamese_text, _negative, _dong_for_million, _text_in_value, _fraction_count)


def write_sample_inbox(
    schema: Schema,
    periods: list[str],
    inbox: Path,
    *,
    seed: int = 2026,
    slip_rate: float = 0.15,
    missing_rate: float = 0.08,
    deadline_day: int = 20,
) -> SampleInbox:
    """Fill the templates of every unit for the periods and drop them in an inbox.

    Some units send nothing, some make a slip, one resubmits a corrected version, one sends
    the same file twice, one keeps a folder of its own and an Excel lock file lies around.
    """
    rng = random.Random(seed)
    made = SampleInbox()
    inbox.mkdir(parents=True, exist_ok=True)
    for code in periods:
        period = parse_period(code)
        for unit in schema.registry.units:
            tasks = schema.tasks_due(unit, period)
            if not tasks or not unit.active:
                continue
            if rng.random() < missing_rate:
                made.missing.append((unit.code, code))
                continue
            folder = inbox / unit.code if unit.type == "Thôn" else inbox
            path = write_template(schema, unit, period, folder / template_name(unit, period))
            values: dict[str, object] = dict(sample_values(schema, unit, tasks, rng))
            slip = rng.choice(SLIPS) if values and rng.random() < slip_rate else None
            if slip is not None:
                made.defects[path.name] = slip(values, rng)
            fill_workbook(path, values, sample_progress(tasks, period, rng))
            _delivered(path, period.deadline(deadline_day), rng)
            made.files.append(path)
    _resubmission_and_duplicate(schema, made, inbox, rng)
    lock = inbox / "~$UBND_nhap.xlsx"
    lock.write_bytes(b"\x00lock")
    return made


def _delivered(path: Path, deadline: date, rng: random.Random) -> None:
    """Date the file as units deliver: most in the week before the deadline, some late."""
    days = rng.randint(-7, 0) if rng.random() < 0.8 else rng.randint(1, 20)
    moment = datetime.combine(
        deadline + timedelta(days=days), time(9 + rng.randint(0, 8)), local_tz()
    )
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def _resubmission_and_duplicate(
    schema: Schema, made: SampleInbox, inbox: Path, rng: random.Random
) -> None:
    rejected = [
        p for p in made.files if p.name in made.defects and "chấp nhận" not in made.defects[p.name]
    ]
    if rejected:
        first = rejected[0]
        unit_code, period_code = first.stem.split("_")
        unit = schema.registry.unit(unit_code)
        assert unit is not None
        period = parse_period(period_code)
        tasks = schema.tasks_due(unit, period)
        fixed = write_template(schema, unit, period, first.with_name(f"{first.stem}_lan2.xlsx"))
        fill_workbook(
            fixed, sample_values(schema, unit, tasks, rng), sample_progress(tasks, period, rng)
        )
        made.files.append(fixed)
        made.defects[fixed.name] = f"bản sửa lại của {first.name}"
    if made.files:
        twin = made.files[0]
        copy = inbox / f"{twin.stem} (1).xlsx"
        shutil.copyfile(twin, copy)
        made.files.append(copy)
        made.defects[copy.name] = f"gửi trùng tệp {twin.name}"


def past_periods(kind: PeriodKind, years: range, today: date, count: int) -> list[str]:
    """The last `count` periods of `kind` of the plan that have ended by `today`."""
    ended = [p.code for p in periods_of(kind, years) if p.end < today]
    return ended[-count:]
