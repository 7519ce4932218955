"""The period report for upstream: the published marts cut to one period."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.periods import parse_period
from warehouse.db import sql
from warehouse.query import open_published

# Section title, query, and the Vietnamese column headings of each section.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Mức đầy đủ",
        "analyses/report_completeness",
        ("Loại đơn vị", "Phải nộp", "Đã nộp", "Được chấp nhận", "Đúng hạn", "Tỷ lệ (%)",
         "Đúng hạn (%)"),
    ),
    (
        "Chưa nộp",
        "analyses/missing_units",
        ("Mã đơn vị", "Tên đơn vị", "Loại đơn vị", "Đã gửi tệp", "Tình trạng",
         "Kết quả tệp cuối", "Nhận lúc"),
    ),
    (
        "Số liệu",
        "analyses/report_values",
        ("Mã nhiệm vụ", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính", "Số đơn vị báo cáo",
         "Tổng"),
    ),
    (
        "Tiến độ",
        "analyses/report_progress",
        ("Mã nhiệm vụ", "Nội dung nhiệm vụ", "Đơn vị phải báo cáo", "Đã báo cáo",
         "Chưa triển khai", "Đang triển khai", "Hoàn thành", "Kết quả đạt được",
         "Khó khăn, vướng mắc", "Đề xuất, kiến nghị", "Minh chứng"),
    ),
    (
        "Chỉ số",
        "analyses/report_indicators",
        ("Mã chỉ số", "Chỉ số", "Tử số", "Mẫu số", "Giá trị", "Mục tiêu", "Đạt"),
    ),
)  # fmt: skip


def period_report(
    source: Path, period: str
) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """Every section of the period report: title, headings and rows.

    Args:
        source: the published folder (or a DuckDB file, opened read-only).
        period: a canonical period such as `2026Q3`.
    """
    parsed = parse_period(period)
    con = open_published(source)
    try:
        sections = []
        for title, query, headings in SECTIONS:
            text = sql(query)
            params: dict[str, Any] = {"period": parsed.code, "year": parsed.year}
            rows = con.execute(
                text, {k: v for k, v in params.items() if f"${k}" in text}
            ).fetchall()
            sections.append((title, headings, rows))
        return sections
    finally:
        con.close()
