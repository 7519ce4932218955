"""The appendix's `Thời gian thực hiện` phrases, parsed into a kind and a span of years."""

from __future__ import annotations

import re

from core.text import canonical, fold
from schemas.model import Timeframe, TimeframeKind

_YEAR = r"(20\d\d)"
_CONTINUOUS = re.compile(r"^(thuong xuyen|lien tuc)$")
# "Hàng năm" and "Hằng năm" fold alike.
_ANNUAL = re.compile(r"^(hang|moi) nam$")
# "Giai đoạn 2026-2030", "Năm 2026 - 2028", "2026-2028", "từ năm 2026 đến năm 2028",
# "Hàng năm, giai đoạn 2026-2028", "Năm 2027"
_SPAN = re.compile(
    r"^(?P<annual>(hang|moi) nam\s*[,(]?\s*)?"
    r"(giai doan|nam|cac nam|tu nam|tu)?\s*"
    rf"{_YEAR}\s*(?:(?:-|den nam|den|toi)\s*{_YEAR})?\s*\)?$"
)


class TimeframeError(ValueError):
    """A phrase that is not understood; the caller names the row."""


def parse_timeframe(text: str, plan_years: range) -> Timeframe:
    """Parse a timeframe phrase; a phrase not understood is an error, never a guess.

    Args:
        text: the phrase as written in the appendix.
        plan_years: the plan's years; continuous and annual tasks run over all of them.

    Raises:
        TimeframeError: the phrase is not understood, or its years fall outside the plan.
    """
    shown = canonical(text)
    key = fold(shown).rstrip(".")
    first, last = plan_years[0], plan_years[-1]
    if _CONTINUOUS.match(key):
        return Timeframe(text=shown, kind="continuous", start_year=first, end_year=last)
    if _ANNUAL.match(key):
        return Timeframe(text=shown, kind="annual", start_year=first, end_year=last)
    match = _SPAN.match(key)
    if not match:
        raise TimeframeError(f"không hiểu thời gian thực hiện «{shown}»")
    start = int(match.group(4))
    end = int(match.group(5) or start)
    if start > end or start < first or end > last:
        raise TimeframeError(
            f"thời gian thực hiện «{shown}» nằm ngoài kế hoạch {first}-{last} hoặc ngược năm"
        )
    kind: TimeframeKind = "annual" if match.group("annual") else "period"
    return Timeframe(text=shown, kind=kind, start_year=start, end_year=end)
