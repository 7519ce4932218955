import pytest

from schemas.timeframe import TimeframeError, parse_timeframe

PLAN = range(2026, 2031)


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("Thường xuyên", "continuous", 2026, 2030),
        ("thuong xuyen", "continuous", 2026, 2030),
        ("Hàng năm", "annual", 2026, 2030),
        ("Hằng năm", "annual", 2026, 2030),
        ("Giai đoạn 2026-2030", "period", 2026, 2030),
        ("Giai đoạn 2026 – 2028", "period", 2026, 2028),
        ("Năm 2026 - 2028", "period", 2026, 2028),
        ("năm 2027", "period", 2027, 2027),
        ("2026-2028.", "period", 2026, 2028),
        ("Từ năm 2026 đến năm 2028", "period", 2026, 2028),
        ("Hàng năm, giai đoạn 2026-2028", "annual", 2026, 2028),
    ],
)
def test_timeframes_parse(text: str, kind: str, start: int, end: int) -> None:
    timeframe = parse_timeframe(text, PLAN)
    assert (timeframe.kind, timeframe.start_year, timeframe.end_year) == (kind, start, end)


@pytest.mark.parametrize("text", ["Quý III", "Sớm nhất có thể", "", "2025-2030", "2029-2027"])
def test_unknown_or_out_of_plan_phrase_is_an_error(text: str) -> None:
    with pytest.raises(TimeframeError, match="thời gian thực hiện"):
        parse_timeframe(text, PLAN)
