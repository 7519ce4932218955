"""The plan at a glance: a self-contained, offline HTML dashboard of the published marts'
tables (`warehouse.dashboard.dashboard_data`).

Plotly draws every chart; its script is embedded once in the page, so the file opens without a
network. Each chart has its table below it; a year and a period filter show the matching rows
and charts.

The page stays small whatever the size of the registry: beyond `MAX_UNITS` units, the per-unit
parts (the heatmap by unit, its table, the list of who still has to send) show the units that
most need attention and say how many more there are and where the full list is.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from core.files import write_atomically
from core.settings import local_tz

DASHBOARD = "dashboard.html"
_STATES = {
    "Đúng hạn": 4,
    "Được chấp nhận, trễ hạn": 3,
    "Chưa đến hạn": 2,
    "Bị từ chối, cần gửi lại": 1,
    "Chưa gửi": 0,
}
_STATE_COLOURS = ("#d9534f", "#f0ad4e", "#d0d0d0", "#9bd17a", "#2e7d32")
_STATUS = (
    ("units_not_started", "Chưa triển khai", "#c0504d"),
    ("units_in_progress", "Đang triển khai", "#f6a821"),
    ("units_completed", "Hoàn thành", "#4f9a3a"),
)
_CONFIG = {"displaylogo": False, "responsive": True, "locale": "vi"}
# Units a per-unit part shows (per period in the list of who still has to send): a commune's
# registry fits whole; a province's or the nation's would make a page of tens of megabytes.
MAX_UNITS = 200
# States where the unit still owes the period's report, in the order they are chased.
_OWED = ("Chưa gửi", "Bị từ chối, cần gửi lại")
_LATE = "Được chấp nhận, trễ hạn"
_FULL_LIST = (
    "Danh sách đầy đủ: tệp parquet/expected_reports.parquet bên cạnh trang này, "
    "hoặc lệnh «khcn status --period KỲ»."
)


def write_dashboard(
    target: Path, data: dict[str, pd.DataFrame], commune: str = "", level: str = "xã"
) -> Path:
    """Write the dashboard atomically: a reader opens the old page or the new one, whole.

    Args:
        target: the page, normally `<published>/dashboard.html` (`DASHBOARD`).
        data: the tables of `warehouse.dashboard.dashboard_data`.
        commune: the commune's name for the heading (a province's, with `level` "tỉnh").
        level: `xã` or `tỉnh`.

    Returns:
        The path written.
    """
    return save_dashboard(target, render_dashboard(data, commune, level))


def save_dashboard(target: Path, page: str) -> Path:
    """Write a page of `render_dashboard` atomically (see `write_dashboard`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Readers of the published folder are other users.
    write_atomically(target, page, mode=0o644)
    return target


def render_dashboard(data: dict[str, pd.DataFrame], commune: str = "", level: str = "xã") -> str:
    """The whole page as one HTML string."""
    completeness, units = data["completeness"], data["units"]
    # unique() first: a national registry has a row per unit and period.
    periods = sorted(set(completeness["period"].unique()) | set(units["period"].unique()))
    years = sorted(
        {int(p[:4]) for p in periods} | set(data["indicators"]["year"].astype(int).unique())
    )
    ranked = _ranked_units(units)
    sections = [
        _completeness_by_type(completeness),
        _completeness_by_unit(units, periods, ranked),
        _on_time(completeness),
        _indicators(data["indicators"]),
        _progress(data["progress"]),
        _to_send(units, ranked),
    ]
    now = datetime.now(local_tz())
    title = "Bảng theo dõi kế hoạch KHCN, ĐMST và CĐS" + (
        f" - {level} {commune}" if commune else ""
    )
    options = "".join(f'<option value="{y}">{y}</option>' for y in years)
    period_options = "".join(f'<option value="{p}">{p}</option>' for p in periods)
    return _PAGE.format(
        title=html.escape(title),
        plotly=get_plotlyjs(),
        updated=f"{now:%H:%M ngày %d/%m/%Y}",
        years=options,
        periods=period_options,
        body="\n".join(sections),
        script=_FILTER_SCRIPT,
    )


def _figure(fig: go.Figure, attrs: str = "", height: int = 380) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 50, "r": 20, "t": 50, "b": 60},
        legend={"orientation": "h", "y": -0.2},
        font={"family": "Arial, sans-serif", "size": 12},
    )
    # The template goes in as plain JSON: set on the figure, plotly would build and check it
    # again for every chart, most of the page's drawing time.
    spec = {
        "data": [trace.to_plotly_json() for trace in fig.data],
        "layout": {**fig.layout.to_plotly_json(), "template": _template()},
    }
    inner = pio.to_html(
        spec, include_plotlyjs=False, full_html=False, config=_CONFIG, validate=False
    )
    return f'<div class="chart" {attrs}>{inner}</div>'


@cache
def _template() -> dict[str, Any]:
    return dict(pio.templates["plotly_white"].to_plotly_json())


def _table(
    frame: pd.DataFrame,
    headings: dict[str, str],
    formats: dict[str, str],
    closing: dict[str, str] | None = None,
) -> str:
    """A table whose rows carry their year and period, for the filters.

    `closing` maps a period to a sentence shown, as a row of that period, after its last row.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings.values())
    rows = []
    records = frame.to_dict("records")
    for i, record in enumerate(records):
        cells = "".join(
            f"<td>{html.escape(_cell(record[c], formats.get(c)))}</td>" for c in headings
        )
        rows.append(f"<tr{_filter_attrs(record)}>{cells}</tr>")
        period = record.get("period")
        last = i + 1 == len(records) or records[i + 1].get("period") != period
        if closing and last and period in closing:
            rows.append(
                f'<tr class="more"{_filter_attrs(record)}><td colspan="{len(headings)}">'
                f"{html.escape(closing[period])}</td></tr>"
            )
    empty = f'<tr><td colspan="{len(headings)}">Chưa có số liệu.</td></tr>' if not rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}{empty}</tbody></table>"


def _filter_attrs(record: dict[str, Any]) -> str:
    attrs = ""
    if record.get("year") is not None and not pd.isna(record["year"]):
        attrs += f' data-year="{int(record["year"])}"'
    if record.get("period"):
        attrs += f' data-period="{html.escape(str(record["period"]))}"'
    return attrs


def _cell(value: Any, fmt: str | None) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"{value.astimezone(local_tz()):%d/%m/%Y %H:%M}"
    if isinstance(value, date):  # a day (pandas reads DuckDB dates as naive timestamps)
        return f"{value:%d/%m/%Y}"
    if fmt == "%":
        return f"{float(value):.1f}%".replace(".", ",")
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return text.replace(",", " ").replace(".", ",")
    return str(value)


def _section(key: str, title: str, note: str, *parts: str) -> str:
    return (
        f'<section id="{key}"><h2>{html.escape(title)}</h2>'
        f'<p class="note">{html.escape(note)}</p>{"".join(parts)}</section>'
    )


def _count(n: int) -> str:
    """A count as Vietnamese write it: 25.007."""
    return f"{n:,}".replace(",", ".")


def _ranked_units(frame: pd.DataFrame) -> pd.DataFrame:
    """Every unit once, those that most need attention first: the most reports still owed
    (not sent, or rejected and awaiting a resend), then the most sent late, then by code.

    Columns unit_code, unit_name, unit_type, owed, late, rank (0 first).
    """
    scored = frame[["unit_code", "unit_name", "unit_type"]].assign(
        owed=frame["state"].isin(_OWED), late=frame["state"].eq(_LATE)
    )
    units = (
        scored.groupby("unit_code", sort=False)
        .agg(
            unit_name=("unit_name", "first"),
            unit_type=("unit_type", "first"),
            owed=("owed", "sum"),
            late=("late", "sum"),
        )
        .reset_index()
        .sort_values(["owed", "late", "unit_code"], ascending=[False, False, True])
        .reset_index(drop=True)
    )
    return units.assign(rank=units.index)


def _completeness_by_type(frame: pd.DataFrame) -> str:
    fig = go.Figure()
    for unit_type, rows in frame.groupby("unit_type", sort=False):
        fig.add_bar(
            x=rows["period"].tolist(), y=rows["accepted_rate"].tolist(), name=str(unit_type)
        )
    fig.update_layout(
        title="Tỷ lệ đơn vị có báo cáo được chấp nhận, theo loại đơn vị",
        yaxis={"title": "%", "range": [0, 105]},
        barmode="group",
    )
    table = _table(
        frame,
        {
            "period": "Kỳ",
            "unit_type": "Loại đơn vị",
            "expected": "Phải nộp",
            "received": "Đã nộp",
            "accepted": "Được chấp nhận",
            "on_time": "Đúng hạn",
            "accepted_rate": "Tỷ lệ chấp nhận",
            "on_time_rate": "Tỷ lệ đúng hạn",
        },
        {"accepted_rate": "%", "on_time_rate": "%"},
    )
    return _section(
        "day-du-loai",
        "Mức đầy đủ theo loại đơn vị qua các kỳ",
        "Mỗi cột: phần trăm đơn vị phải báo cáo đã có báo cáo được chấp nhận trong kỳ.",
        _figure(fig),
        table,
    )


def _completeness_by_unit(frame: pd.DataFrame, periods: list[str], ranked: pd.DataFrame) -> str:
    note = "Mỗi ô: tình trạng báo cáo của một đơn vị trong một kỳ."
    if len(ranked) > MAX_UNITS:
        # The units that most need attention, top down; the rest are counted, not drawn.
        units = ranked.head(MAX_UNITS)[["unit_code", "unit_name", "unit_type"]]
        rank = units.set_index("unit_code").index
        frame = frame[frame["unit_code"].isin(rank)]
        frame = frame.assign(_rank=rank.get_indexer(frame["unit_code"]))
        frame = frame.sort_values(["period", "_rank"], kind="stable")
        note += (
            f" Có {_count(len(ranked))} đơn vị; chỉ hiện {_count(MAX_UNITS)} đơn vị cần chú ý"
            " nhất (nhiều báo cáo còn thiếu nhất, rồi nhiều báo cáo trễ hạn nhất, rồi theo mã),"
            f" {_count(len(ranked) - MAX_UNITS)} đơn vị khác không hiện. {_FULL_LIST}"
        )
    else:
        units = frame.drop_duplicates("unit_code")[["unit_code", "unit_name", "unit_type"]]
    labels = [f"{c} - {n}" for c, n in zip(units["unit_code"], units["unit_name"], strict=True)]
    states = frame.set_index(["unit_code", "period"])["state"].to_dict()
    z = [[_STATES.get(states.get((code, p), "")) for p in periods] for code in units["unit_code"]]
    text = [
        [states.get((code, p), "Không phải báo cáo") for p in periods]
        for code in units["unit_code"]
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=periods,
            y=labels,
            text=text,
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
            colorscale=_steps(_STATE_COLOURS),
            zmin=-0.5,
            zmax=len(_STATE_COLOURS) - 0.5,
            xgap=2,
            ygap=2,
            colorbar={
                "tickvals": list(_STATES.values()),
                "ticktext": list(_STATES),
                "title": "Tình trạng",
            },
        )
    )
    fig.update_layout(
        title="Tình trạng báo cáo của từng đơn vị theo kỳ", yaxis={"autorange": "reversed"}
    )
    table = _table(
        frame,
        {
            "period": "Kỳ",
            "unit_code": "Mã đơn vị",
            "unit_name": "Tên đơn vị",
            "unit_type": "Loại đơn vị",
            "state": "Tình trạng",
            "last_received_at": "Nhận lần cuối",
        },
        {},
    )
    height = max(380, 90 + 22 * len(labels))
    return _section(
        "day-du-don-vi",
        "Mức đầy đủ theo đơn vị qua các kỳ",
        note,
        _figure(fig, height=height),
        "<details><summary>Bảng số liệu</summary>" + table + "</details>",
    )


def _steps(colours: tuple[str, ...]) -> list[tuple[float, str]]:
    """A colour scale with one flat band per state, so each state has exactly one colour."""
    bands = []
    for i, colour in enumerate(colours):
        bands += [(i / len(colours), colour), ((i + 1) / len(colours), colour)]
    return bands


def _on_time(frame: pd.DataFrame) -> str:
    overall = frame[frame["unit_type"] == "Tổng cộng"]
    fig = go.Figure()
    fig.add_scatter(
        x=overall["period"].tolist(),
        y=overall["on_time_rate"].tolist(),
        name="Đúng hạn",
        mode="lines+markers",
    )
    fig.add_scatter(
        x=overall["period"].tolist(),
        y=overall["accepted_rate"].tolist(),
        name="Được chấp nhận",
        mode="lines+markers",
    )
    fig.update_layout(
        title="Tỷ lệ báo cáo đúng hạn của cả xã", yaxis={"title": "%", "range": [0, 105]}
    )
    table = _table(
        overall,
        {
            "period": "Kỳ",
            "expected": "Phải nộp",
            "on_time": "Đúng hạn",
            "on_time_rate": "Tỷ lệ đúng hạn",
            "accepted_rate": "Tỷ lệ chấp nhận",
        },
        {"on_time_rate": "%", "accepted_rate": "%"},
    )
    return _section(
        "dung-han",
        "Tỷ lệ đúng hạn",
        "Đúng hạn: báo cáo được chấp nhận đầu tiên đến trước hạn nộp của kỳ.",
        _figure(fig, height=320),
        table,
    )


def _indicators(frame: pd.DataFrame) -> str:
    codes = list(dict.fromkeys(frame["indicator_code"]))
    names = frame.drop_duplicates("indicator_code").set_index("indicator_code")["indicator_name"]
    fig = make_subplots(
        rows=1, cols=max(1, len(codes)), subplot_titles=[str(names[c]) for c in codes]
    )
    for col, code in enumerate(codes, start=1):
        rows = frame[frame["indicator_code"] == code]
        years = rows["year"].astype(str).tolist()
        fig.add_bar(
            x=years,
            y=rows["actual"].tolist(),
            name="Thực hiện",
            marker_color="#2f6db5",
            showlegend=col == 1,
            row=1,
            col=col,
        )
        fig.add_scatter(
            x=years,
            y=rows["target"].tolist(),
            name="Mục tiêu",
            mode="lines+markers",
            line={"color": "#c0504d", "dash": "dash"},
            showlegend=col == 1,
            row=1,
            col=col,
        )
    fig.update_annotations(font_size=11)
    fig.update_layout(title="Chỉ số so với mục tiêu, 2026-2030")
    table = _table(
        frame,
        {
            "indicator_code": "Mã chỉ số",
            "indicator_name": "Chỉ số",
            "year": "Năm",
            "actual": "Thực hiện",
            "target": "Mục tiêu",
            "percent_of_target": "% mục tiêu",
            "met": "Đánh giá",
        },
        {"percent_of_target": "%"},
    )
    return _section(
        "chi-so",
        "Chỉ số so với mục tiêu",
        "Cột: giá trị thực hiện trong năm; đường: mục tiêu của năm.",
        _figure(fig, height=400),
        table,
    )


def _progress(frame: pd.DataFrame) -> str:
    parts = []
    for period, rows in frame.groupby("period", sort=True):
        year = int(str(period)[:4])
        attrs = f'data-year="{year}" data-period="{html.escape(str(period))}"'
        if not rows["units_reported"].any():
            parts.append(
                f'<div class="one-period empty" {attrs}><p class="note">'
                f"Chưa đơn vị nào báo cáo tiến độ kỳ {html.escape(str(period))}.</p></div>"
            )
            continue
        tasks = go.Figure()
        groups = rows.groupby("group_code", sort=False)[[k for k, _, _ in _STATUS]].sum()
        by_group = go.Figure()
        for key, label, color in _STATUS:
            tasks.add_bar(
                x=rows["task_code"].tolist(), y=rows[key].tolist(), name=label, marker_color=color
            )
            by_group.add_bar(
                x=[f"Nhóm {g}" for g in groups.index],
                y=groups[key].tolist(),
                name=label,
                marker_color=color,
            )
        tasks.update_layout(
            barmode="stack", title=f"Tiến độ từng nhiệm vụ, kỳ {period} (số đơn vị)"
        )
        by_group.update_layout(barmode="stack", title=f"Tiến độ theo nhóm nhiệm vụ, kỳ {period}")
        parts.append(
            f'<div class="one-period" {attrs}><div class="pair">'
            + _figure(tasks, height=360)
            + _figure(by_group, height=360)
            + "</div></div>"
        )
    table = _table(
        frame,
        {
            "period": "Kỳ",
            "group_code": "Nhóm",
            "task_code": "Nhiệm vụ",
            "task_content": "Nội dung",
            "units_expected": "Phải báo cáo",
            "units_reported": "Đã báo cáo",
            "units_not_started": "Chưa triển khai",
            "units_in_progress": "Đang triển khai",
            "units_completed": "Hoàn thành",
        },
        {},
    )
    return _section(
        "tien-do",
        "Tiến độ nhiệm vụ",
        "Số đơn vị báo cáo từng trạng thái; khi chọn «Tất cả», hiện kỳ gần nhất đã có báo cáo.",
        *parts,
        "<details><summary>Bảng số liệu</summary>" + table + "</details>",
    )


def _to_send(frame: pd.DataFrame, ranked: pd.DataFrame) -> str:
    waiting = frame[~frame["accepted"].astype(bool)]
    counts = waiting.groupby(["period", "state"]).size().unstack(fill_value=0)
    note = "Đơn vị chưa có báo cáo được chấp nhận trong kỳ."
    listed, closing = waiting, {}
    if len(ranked) > MAX_UNITS:
        # Per period, the reports owed before those not yet due, each by the unit's need.
        order = {state: i for i, state in enumerate(_OWED)}
        rank = ranked.set_index("unit_code")["rank"]
        listed = (
            waiting.assign(
                _state=waiting["state"].map(order).fillna(len(order)),
                _rank=waiting["unit_code"].map(rank),
            )
            .sort_values(["period", "_state", "_rank"], kind="stable")
            .groupby("period", sort=False)
            .head(MAX_UNITS)
        )
        for period, total in waiting.groupby("period").size().items():
            if total > MAX_UNITS:
                closing[str(period)] = (
                    f"… và {_count(total - MAX_UNITS)} đơn vị khác còn phải gửi kỳ {period}"
                    f" (tổng cộng {_count(total)}), không hiện ở đây. {_FULL_LIST}"
                )
        note += (
            f" Mỗi kỳ hiện tối đa {_count(MAX_UNITS)} đơn vị: chưa gửi, rồi bị từ chối, rồi chưa"
            " đến hạn; trong mỗi nhóm, đơn vị còn thiếu nhiều báo cáo nhất trước."
        )
    fig = go.Figure()
    for state in ("Chưa gửi", "Bị từ chối, cần gửi lại", "Chưa đến hạn"):
        if state in counts:
            colour = _STATE_COLOURS[_STATES[state]]
            fig.add_bar(
                x=list(counts.index), y=counts[state].tolist(), name=state, marker_color=colour
            )
    fig.update_layout(barmode="stack", title="Số đơn vị còn phải gửi hoặc gửi lại, theo kỳ")
    table = _table(
        listed,
        {
            "period": "Kỳ",
            "unit_code": "Mã đơn vị",
            "unit_name": "Tên đơn vị",
            "unit_type": "Loại đơn vị",
            "state": "Cần làm",
            "deadline": "Hạn nộp",
            "last_received_at": "Nhận lần cuối",
        },
        {},
        closing,
    )
    return _section(
        "con-thieu",
        "Đơn vị còn phải gửi hoặc gửi lại",
        note,
        _figure(fig, height=320),
        table,
    )


_FILTER_SCRIPT = """
function applyFilters() {
  var year = document.getElementById('loc-nam').value;
  var period = document.getElementById('loc-ky').value;
  var match = function (el) {
    var y = el.getAttribute('data-year'), p = el.getAttribute('data-period');
    return (!year || !y || y === year) && (!period || !p || p === period);
  };
  document.querySelectorAll('tr[data-year], tr[data-period]').forEach(function (el) {
    el.style.display = match(el) ? '' : 'none';
  });
  // One period's progress at a time: the latest matching one that has reports.
  var shown = Array.prototype.filter.call(document.querySelectorAll('.one-period'), match);
  var full = shown.filter(function (el) { return !el.classList.contains('empty'); });
  var chosen = (full.length ? full : shown).pop();
  document.querySelectorAll('.one-period').forEach(function (el) {
    el.style.display = el === chosen ? '' : 'none';
  });
  if (window.Plotly) {
    document.querySelectorAll('.js-plotly-plot').forEach(function (el) {
      if (el.offsetParent !== null) { Plotly.Plots.resize(el); }
    });
  }
}
document.getElementById('loc-nam').addEventListener('change', applyFilters);
document.getElementById('loc-ky').addEventListener('change', applyFilters);
applyFilters();
"""

_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: Arial, sans-serif; margin: 0; color: #222; background: #f5f6f8; }}
header {{ background: #1f4e79; color: #fff; padding: 14px 24px; }}
header h1 {{ font-size: 20px; margin: 0 0 4px; }}
.filters {{ padding: 10px 24px; background: #fff; border-bottom: 1px solid #ddd;
           position: sticky; top: 0; z-index: 10; }}
.filters label {{ margin-right: 18px; }}
main {{ padding: 8px 24px 40px; }}
section {{ background: #fff; margin: 16px 0; padding: 12px 18px; border-radius: 6px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }}
h2 {{ font-size: 17px; margin: 4px 0; color: #1f4e79; }}
.note {{ color: #555; font-size: 13px; margin: 2px 0 8px; }}
.pair {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.pair .chart {{ flex: 1 1 480px; min-width: 0; }}
table {{ border-collapse: collapse; font-size: 13px; margin-top: 8px; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #ddebf7; }}
details summary {{ cursor: pointer; color: #1f4e79; margin-top: 6px; }}
</style>
<script type="text/javascript">{plotly}</script>
</head>
<body>
<header><h1>{title}</h1><div>Cập nhật lúc {updated}, từ bản công bố của kho dữ liệu.</div></header>
<div class="filters">
<label>Năm <select id="loc-nam"><option value="">Tất cả</option>{years}</select></label>
<label>Kỳ <select id="loc-ky"><option value="">Tất cả</option>{periods}</select></label>
</div>
<main>
{body}
</main>
<script type="text/javascript">{script}</script>
</body>
</html>
"""
