"""The dashboard: self-contained, built from the published marts, and drawn by a real headless
Chromium with the network disabled (no console errors, the charts' SVG present, a screenshot
kept under test-artifacts/)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from plotly.offline import get_plotlyjs
from report_support import QUARTERS, publish_three_quarters
from typer.testing import CliRunner
from warehouse_support import full_values, make_file
from websockets.sync.client import ClientConnection, connect

from core.settings import PROJECT_ROOT, Settings
from khcn.cli import app
from outputs.dashboard import DASHBOARD, MAX_UNITS, render_dashboard, write_dashboard
from schemas.schema import Schema, load_schema
from warehouse.dashboard import dashboard_data, dashboard_frames
from warehouse.load import load
from warehouse.publish import publish, published_database

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SECTIONS = ("day-du-loai", "day-du-don-vi", "dung-han", "chi-so", "tien-do", "con-thieu")


CROWD = 600  # villages added to the registry: more units than a page lists
SENT_ONCE = 40  # the first of them sent 2026Q1, so they owe one report fewer


@pytest.fixture
def dashboard(settings: Settings, schema: Schema) -> Path:
    published = publish_three_quarters(settings, schema)
    page = published / DASHBOARD
    return write_dashboard(page, dashboard_data(published), settings.commune_name)


@pytest.fixture
def crowded(settings: Settings) -> Path:
    """The three quarters with 600 more villages in the registry, the first 40 of which (first
    by code too) sent 2026Q1 on time; the page written."""
    path = settings.schemas_dir / "units.yaml"
    registry = yaml.safe_load(path.read_text(encoding="utf-8"))
    for n in range(CROWD):
        registry["units"].append(
            {
                "code": f"THON-X{n:03d}",
                "name": f"Thôn mới số {n}",
                "type": "Thôn",
                "email": f"thon{n}@nghiahung.example.vn",
                "active": True,
            }
        )
    path.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    schema = load_schema(settings)
    published = publish_three_quarters(settings, schema)
    files = [
        make_file(
            settings,
            f"THON-X{n:03d}",
            "2026Q1",
            full_values(schema, f"THON-X{n:03d}", "2026Q1", 2.0),
            received_at=datetime(2026, 3, 5, 3, tzinfo=UTC),
            salt=f"x{n}",
        )
        for n in range(SENT_ONCE)
    ]
    load(settings.warehouse, [f.verdict for f in files], [f.receipt for f in files], settings)
    publish(settings.warehouse, settings.published)
    return write_dashboard(published / DASHBOARD, dashboard_data(published), settings.commune_name)


class _Resources(HTMLParser):
    """Every URL the page would fetch, and the ids of its sections."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.sections: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "data", "poster", "srcset"):
            if found.get(name):
                self.fetched.append(f"{tag} {name}={found[name]}")
        if tag == "section" and found.get("id"):
            self.sections.append(str(found["id"]))
        if tag == "table":
            self.tables += 1


def test_dashboard_is_one_offline_file_beside_the_published_copy(
    dashboard: Path, settings: Settings
) -> None:
    assert dashboard == settings.published / DASHBOARD
    page = dashboard.read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(page)
    assert parser.fetched == []  # no script, stylesheet, image or frame loaded from anywhere
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page)
    assert "plotly.js v" in page  # the library itself is embedded
    assert parser.sections == list(SECTIONS)
    assert parser.tables >= len(SECTIONS)  # every chart with its table
    assert '<html lang="vi">' in page
    for period in QUARTERS:
        assert f'<option value="{period}">{period}</option>' in page
    assert '<option value="2030">2030</option>' in page
    # Unit text arrives escaped, never as markup.
    assert "<b>1.1</b>" not in page


def test_dashboard_tables_show_the_marts(dashboard: Path, settings: Settings) -> None:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        rate = con.execute(
            "select on_time_rate from mart.completeness where period = '2026Q2' "
            "and level = 'overall'"
        ).fetchone()
        waiting = con.execute(
            "select count(*) from mart.expected_reports where period = '2026Q3' and not accepted"
        ).fetchone()
    assert rate is not None and waiting is not None
    page = dashboard.read_text(encoding="utf-8")
    shown = f"{rate[0]:.1f}%".replace(".", ",")
    on_time = page.split('id="dung-han"')[1].split("</section>")[0]
    assert re.search(
        rf'data-period="2026Q2"><td>2026Q2</td>.*?<td>{re.escape(shown)}</td>', on_time
    )
    to_send = page.split('id="con-thieu"')[1].split("</section>")[0]
    assert to_send.count('data-period="2026Q3"') == waiting[0]
    assert "Bị từ chối, cần gửi lại" in to_send and "Chưa gửi" in to_send


def test_cli_dashboard_rewrites_and_prints_its_path(dashboard: Path, settings: Settings) -> None:
    dashboard.unlink()
    env = {"KHCN_SCHEMAS_DIR": str(settings.schemas_dir), "KHCN_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(app, ["dashboard"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Bảng theo dõi: {dashboard}"
    assert dashboard.is_file()


def test_cli_dashboard_before_any_publication(settings: Settings) -> None:
    env = {"KHCN_SCHEMAS_DIR": str(settings.schemas_dir), "KHCN_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(app, ["dashboard"], env=env)
    assert result.exit_code == 1
    assert "chưa có bản công bố" in result.output


def _heatmap_units(page: str) -> list[str]:
    """The unit codes of the by-unit heatmap's rows, top down."""
    section = page.split('id="day-du-don-vi"')[1].split("</section>")[0]
    figure = re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", section, re.S)
    assert figure, "no heatmap in the by-unit section"
    return [label.split(" - ")[0] for label in json.loads(figure[1])[0]["y"]]


def test_a_commune_sized_registry_shows_every_unit(dashboard: Path, settings: Settings) -> None:
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        found = con.execute(
            "select distinct unit_code from mart.expected_reports where period in ($1, $2, $3)",
            list(QUARTERS),
        ).fetchall()
    expected = [r[0] for r in found]
    assert 0 < len(expected) <= MAX_UNITS
    page = dashboard.read_text(encoding="utf-8")
    assert sorted(_heatmap_units(page)) == sorted(expected)
    assert "không hiện" not in page and 'class="more"' not in page


def _owing_everything(settings: Settings) -> tuple[list[str], int, int]:
    """Units with no accepted report in any of the three quarters, by code; how many units are
    expected; how many have no accepted 2026Q1 report."""
    with duckdb.connect(str(published_database(settings.published)), read_only=True) as con:
        owing = con.execute(
            "select unit_code from mart.expected_reports where period in ($1, $2, $3) "
            "group by unit_code having not bool_or(accepted) order by unit_code",
            list(QUARTERS),
        ).fetchall()
        units = con.execute("select count(distinct unit_code) from mart.expected_reports")
        total = units.fetchone()
        waiting = con.execute(
            "select count(*) from mart.expected_reports where period = '2026Q1' and not accepted"
        ).fetchone()
    assert total is not None and waiting is not None
    return [r[0] for r in owing], int(total[0]), int(waiting[0])


def test_a_large_registry_shows_who_needs_attention_and_counts_the_rest(
    crowded: Path, settings: Settings
) -> None:
    owing, total, waiting = _owing_everything(settings)
    assert total > CROWD and len(owing) > MAX_UNITS and waiting > MAX_UNITS
    page = crowded.read_text(encoding="utf-8")
    # Bounded: beside the library, a few hundred kilobytes, not one row per unit and period.
    assert len(page.encode()) - len(get_plotlyjs().encode()) < 600_000

    # The heatmap: the units owing every quarter, by code, before those that sent one; the
    # villages that sent 2026Q1 come first by code and are not shown.
    shown = _heatmap_units(page)
    assert shown == owing[:MAX_UNITS]
    assert not {f"THON-X{n:03d}" for n in range(SENT_ONCE)} & set(shown)
    by_unit = page.split('id="day-du-don-vi"')[1].split("</section>")[0]
    hidden = f"{total - MAX_UNITS:,}".replace(",", ".")
    assert f"{hidden} đơn vị khác không hiện" in by_unit
    assert "parquet/expected_reports.parquet" in by_unit
    assert (settings.published / "parquet" / "expected_reports.parquet").is_file()
    table = re.findall(
        r"<tr data-year=\"\d+\" data-period=\"[^\"]+\"><td>[^<]*</td><td>([^<]*)</td>", by_unit
    )
    assert set(table) == set(shown)  # the table below holds the same units

    # Who still has to send 2026Q1: the first MAX_UNITS by need, then how many more.
    to_send = page.split('id="con-thieu"')[1].split("</section>")[0]
    rows = re.findall(
        r'<tr( class="more")? data-year="2026" data-period="2026Q1">(.*?)</tr>', to_send
    )
    assert len(rows) == MAX_UNITS + 1 and rows[-1][0] and not any(m for m, _ in rows[:-1])
    listed = [re.findall(r"<td>(.*?)</td>", cells)[1] for _, cells in rows[:-1]]
    # Not sent before rejected (THON-04 must resend), each by need then code.
    assert listed == [c for c in owing if c != "THON-04"][:MAX_UNITS]
    more = f"{waiting - MAX_UNITS:,}".replace(",", ".")
    assert f"và {more} đơn vị khác còn phải gửi kỳ 2026Q1" in rows[-1][1]


class _DevTools:
    """The few DevTools calls the test needs, over the browser's WebSocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def evaluate(self, session: str, expression: str) -> Any:
        found = self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        return found["result"].get("value")

    def wait_for(self, session: str, expression: str, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(session, expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"never true: {expression}")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[_DevTools]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: make system installs it")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            if found := re.search(r"DevTools listening on (ws://\S+)", line):
                url = found[1]
        assert url, "Chromium did not open its DevTools endpoint"
        with connect(url, max_size=None, open_timeout=30) as socket:
            yield _DevTools(socket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_chromium_draws_the_dashboard_offline(
    dashboard: Path, chromium: _DevTools, tmp_path: Path
) -> None:
    target = chromium.call("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        chromium.call(f"{domain}.enable", session)
    chromium.call("Page.navigate", session, url=dashboard.resolve().as_uri())
    chromium.wait_for(session, "document.readyState === 'complete'")
    plots = chromium.wait_for(
        session,
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 * "
        "document.querySelectorAll('.js-plotly-plot').length && "
        "document.querySelectorAll('.js-plotly-plot').length",
    )
    figures = chromium.evaluate(
        session,
        "Array.from(document.querySelectorAll('section')).map(s => [s.id, "
        "s.querySelectorAll('.js-plotly-plot').length])",
    )
    assert plots >= len(SECTIONS)
    assert all(count >= 1 for _, count in figures), figures
    # What each chart drew: bars, a heatmap, lines against targets.
    drawn = chromium.evaluate(
        session,
        "({bars: document.querySelectorAll('#day-du-loai g.point path').length,"
        " heat: document.querySelectorAll('#day-du-don-vi .hm, #day-du-don-vi image').length,"
        " lines: document.querySelectorAll('#chi-so g.trace.scatter path.js-line').length,"
        " progress: Array.from(document.querySelectorAll('#tien-do .one-period'))"
        "   .filter(e => e.style.display !== 'none').map(e => e.dataset.period)})",
    )
    assert drawn["bars"] > 0 and drawn["heat"] > 0 and drawn["lines"] > 0, drawn
    assert drawn["progress"] == ["2026Q3"]  # «Tất cả»: the latest period's progress

    # The period filter hides the other periods' rows and shows that period's progress.
    shown = chromium.evaluate(
        session,
        "(() => { const s = document.getElementById('loc-ky'); s.value = '2026Q1';"
        " s.dispatchEvent(new Event('change'));"
        " const rows = Array.from(document.querySelectorAll('#con-thieu tr[data-period]'))"
        "   .filter(r => r.style.display !== 'none').map(r => r.dataset.period);"
        " const p = Array.from(document.querySelectorAll('#tien-do .one-period'))"
        "   .filter(e => e.style.display !== 'none').map(e => e.dataset.period);"
        " return {rows: [...new Set(rows)], progress: p}; })()",
    )
    assert shown == {"rows": ["2026Q1"], "progress": ["2026Q1"]}
    chromium.evaluate(
        session,
        "(() => { const s = document.getElementById('loc-ky'); s.value = '';"
        " s.dispatchEvent(new Event('change')); return true; })()",
    )

    height = chromium.evaluate(session, "document.documentElement.scrollHeight")
    chromium.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=1280,
        height=min(int(height), 12000),
        deviceScaleFactor=1,
        mobile=False,
    )
    time.sleep(1)  # Plotly redraws at the new size
    shot = chromium.call(
        "Page.captureScreenshot", session, format="png", captureBeyondViewport=True
    )
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    (tmp_path / "dashboard.png").write_bytes(png)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard.png").write_bytes(png)

    chromium.call("Runtime.evaluate", session, expression="1")  # collect the last events
    events = [e for e in chromium.events if e.get("sessionId") == session]
    errors = [
        e["params"]
        for e in events
        if e["method"] == "Runtime.exceptionThrown"
        or (
            e["method"] == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "warning")
        )
        or (
            e["method"] == "Log.entryAdded"
            and e["params"]["entry"]["level"] in ("error", "warning")
        )
    ]
    assert errors == []
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e["method"] == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:", "blob:"))
    ]
    assert requests == []


def test_chromium_reports_a_broken_page(chromium: _DevTools, tmp_path: Path) -> None:
    """The check above can fail: a page with a script error and a remote image is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><img src="http://example.invalid/x.png">'
        "<script>console.error('hỏng'); missing();</script></body></html>",
        encoding="utf-8",
    )
    target = chromium.call("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Network", "Page"):
        chromium.call(f"{domain}.enable", session)
    chromium.call("Page.navigate", session, url=page.as_uri())
    chromium.wait_for(session, "document.readyState === 'complete'")
    chromium.call("Runtime.evaluate", session, expression="1")
    methods = [e["method"] for e in chromium.events if e.get("sessionId") == session]
    assert "Runtime.exceptionThrown" in methods
    assert "Runtime.consoleAPICalled" in methods
    remote = [
        e["params"]["request"]["url"]
        for e in chromium.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert "http://example.invalid/x.png" in remote


def test_chromium_draws_a_large_registry_and_filters_its_list(
    crowded: Path, chromium: _DevTools
) -> None:
    target = chromium.call("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        chromium.call(f"{domain}.enable", session)
    chromium.call("Page.navigate", session, url=crowded.resolve().as_uri())
    chromium.wait_for(session, "document.readyState === 'complete'")
    chromium.wait_for(
        session,
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 * "
        "document.querySelectorAll('.js-plotly-plot').length && "
        "document.querySelectorAll('.js-plotly-plot').length",
    )
    rows = chromium.evaluate(
        session, "document.querySelector('#day-du-don-vi .js-plotly-plot').data[0].y.length"
    )
    assert rows == MAX_UNITS
    shown = chromium.evaluate(
        session,
        "(() => { const s = document.getElementById('loc-ky'); s.value = '2026Q2';"
        " s.dispatchEvent(new Event('change'));"
        " const rows = Array.from(document.querySelectorAll('#con-thieu tbody tr'))"
        "   .filter(r => r.style.display !== 'none');"
        " return {periods: [...new Set(rows.map(r => r.dataset.period))], count: rows.length,"
        "   last: rows[rows.length - 1].className + ' ' + rows[rows.length - 1].textContent}; })()",
    )
    assert shown["periods"] == ["2026Q2"] and shown["count"] == MAX_UNITS + 1
    assert shown["last"].startswith("more … và ") and "kỳ 2026Q2" in shown["last"]
    chromium.call("Runtime.evaluate", session, expression="1")  # collect the last events
    errors = [
        e["params"]
        for e in chromium.events
        if e.get("sessionId") == session
        and (
            e["method"] == "Runtime.exceptionThrown"
            or (
                e["method"] == "Log.entryAdded"
                and e["params"]["entry"]["level"] in ("error", "warning")
            )
        )
    ]
    assert errors == []


def test_the_page_drawn_beside_a_publication_is_drawn_from_what_it_published(
    settings: Settings, schema: Schema
) -> None:
    """The ingest draws the page from the copy while DuckDB writes its Parquet files: the page
    is the one the published copy gives, and the Parquet files are whole."""
    published = publish_three_quarters(settings, schema)
    publication = publish(
        settings.warehouse,
        settings.published,
        beside=lambda con: render_dashboard(dashboard_frames(con), settings.commune_name),
    )
    assert isinstance(publication.beside, str)
    again = render_dashboard(dashboard_data(published), settings.commune_name)
    # Each chart's element gets a new random id.
    ids = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    assert ids.sub("id", publication.beside) == ids.sub("id", again)
    for name, rows in publication.mart_rows.items():
        parquet = publication.parquet_dir / f"{name}.parquet"
        counted = duckdb.execute(f"select count(*) from '{parquet}'").fetchone()
        assert counted == (rows,)
