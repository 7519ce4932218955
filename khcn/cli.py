"""`khcn`: the analyst's command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from khcn.settings import Settings, export_overrides, load_settings, prefect_defaults
from schemas.errors import SchemaError

app = typer.Typer(no_args_is_help=True, help="Tổng hợp báo cáo KHCN, ĐMST và CĐS của xã.")
catalog_app = typer.Typer(no_args_is_help=True, help="Danh mục nhiệm vụ của kế hoạch.")
units_app = typer.Typer(no_args_is_help=True, help="Danh sách đơn vị báo cáo.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(units_app, name="units")

out = Console()
err = Console(stderr=True)


@app.callback()
def main(
    ctx: typer.Context,
    schemas_dir: Annotated[
        Path | None, typer.Option(help="Thư mục danh mục, đơn vị, chỉ tiêu (schemas/).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Thư mục dữ liệu: inbox, outbox, archive, kho DuckDB.")
    ] = None,
    inbox: Annotated[
        str | None, typer.Option(help="Nơi nhận báo cáo: thư mục hoặc URL fsspec.")
    ] = None,
    warehouse: Annotated[Path | None, typer.Option(help="Tệp kho DuckDB.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Tệp cấu hình TOML (mặc định khcn.toml).")
    ] = None,
) -> None:
    """Settings come from these options, `KHCN_…` variables, `khcn.toml`, then defaults."""
    if config is not None and not config.is_file():
        err.print(f"[red]Lỗi[/red] không thấy tệp cấu hình {config}")
        raise typer.Exit(1)
    options = {
        "config": config,
        "schemas_dir": schemas_dir,
        "data_dir": data_dir,
        "inbox": inbox,
        "warehouse_path": warehouse,
    }
    export_overrides(**options)
    ctx.obj = load_settings()
    prefect_defaults(ctx.obj)


@contextmanager
def _failing_cleanly() -> Iterator[None]:
    """A run that cannot do its job ends with its reasons on stderr and a non-zero exit."""
    try:
        yield
    except SchemaError as exc:
        for problem in exc.problems:
            err.print(f"[red]Lỗi[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except (OSError, ValueError) as exc:
        err.print(f"[red]Lỗi[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@catalog_app.command("import")
def catalog_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Phụ lục kế hoạch: .txt, .docx hoặc .xlsx.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Tệp danh mục (mặc định schemas/catalog.yaml).")
    ] = None,
) -> None:
    """Đọc phụ lục kế hoạch và ghi danh mục nhiệm vụ."""
    from schemas.appendix import parse_appendix, read_rows
    from schemas.catalog import write_catalog
    from schemas.parties import load_parties

    settings = _settings(ctx)
    with _failing_cleanly():
        parties = load_parties(settings.schemas_dir / "parties.yaml")
        catalog = parse_appendix(read_rows(path), str(path), parties, settings.plan_years)
        target = out_file or settings.schemas_dir / "catalog.yaml"
        write_catalog(catalog, target)
    out.print(f"Đã ghi {len(catalog.groups)} nhóm, {len(catalog.tasks)} nhiệm vụ vào {target}")


@catalog_app.command("show")
def catalog_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """In danh mục nhiệm vụ và chỉ tiêu của từng nhiệm vụ."""
    from schemas.schema import load_schema

    with _failing_cleanly():
        schema = load_schema(_settings(ctx))
    tasks: list[dict[str, Any]] = [
        {
            "code": t.code,
            "group_code": t.group_code,
            "group_title": schema.catalog.group(t.group_code).title,
            "content": t.content,
            "lead": t.lead.model_dump(mode="json"),
            "coordinators": t.coordinators.model_dump(mode="json"),
            "results": t.results,
            "timeframe": t.timeframe.model_dump(mode="json"),
            "elements": [
                e.model_dump(mode="json", exclude={"task"}) for e in schema.elements_of(t)
            ],
        }
        for t in schema.catalog.tasks
    ]
    if as_json:
        _print_json(tasks)
        return
    table = Table("Mã", "Nội dung", "Chủ trì", "Phối hợp", "Thời gian", "Chỉ tiêu", show_lines=True)
    for task in tasks:
        table.add_row(
            task["code"],
            task["content"],
            task["lead"]["text"],
            task["coordinators"]["text"],
            task["timeframe"]["text"],
            "\n".join(f"{e['code']} {e['name']} ({e['measure']})" for e in task["elements"]),
        )
    out.print(table)


@catalog_app.command("matrix")
def catalog_matrix(
    ctx: typer.Context,
    year: Annotated[int | None, typer.Option(help="Chỉ in một năm của kế hoạch.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """In ma trận trách nhiệm: nhiệm vụ × đơn vị × năm — chủ trì, phối hợp hay không báo cáo."""
    from schemas.schema import load_schema

    with _failing_cleanly():
        schema = load_schema(_settings(ctx))
        if year is not None and year not in schema.plan_years:
            raise ValueError(
                f"năm {year} không thuộc kế hoạch {schema.plan_years[0]}-{schema.plan_years[-1]}"
            )
    cells = [a for a in schema.matrix() if year is None or a.year == year]
    if as_json:
        _print_json([a.as_dict() for a in cells])
        return
    shown_years = sorted({a.year for a in cells})
    tasks = [t for t in schema.catalog.tasks if any(t.timeframe.covers(y) for y in shown_years)]
    table = Table(title="Ma trận trách nhiệm", box=None, padding=(0, 1, 0, 0))
    for header in ("Đơn vị", *(t.code for t in tasks)):
        table.add_column(header, no_wrap=True)
    for unit in schema.registry.units:
        roles = [schema.role(t, unit, max(shown_years[0], t.timeframe.start_year)) for t in tasks]
        table.add_row(unit.code, *("CT" if r == "lead" else "PH" if r else "·" for r in roles))
    out.print(table)
    spans = ", ".join(
        f"{t.code}: {t.timeframe.start_year}-{t.timeframe.end_year}"
        for t in tasks
        if (t.timeframe.start_year, t.timeframe.end_year) != (shown_years[0], shown_years[-1])
    )
    if spans:
        out.print(f"Nhiệm vụ không kéo dài cả giai đoạn: {spans}")
    out.print("CT: chủ trì · PH: phối hợp · «·»: không báo cáo")
    if missing := schema.unmatched_parties():
        err.print(f"[yellow]Chú ý[/yellow]: không đơn vị nào ứng với: {', '.join(missing)}")


@units_app.command("import")
def units_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Danh sách đơn vị: .xlsx, .xls, .ods hoặc .csv.")],
    sample: Annotated[bool, typer.Option(help="Đánh dấu là dữ liệu mẫu.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Tệp đơn vị (mặc định schemas/units.yaml).")
    ] = None,
) -> None:
    """Nạp danh sách đơn vị từ bảng tính."""
    from schemas.registry import read_registry, write_registry

    settings = _settings(ctx)
    with _failing_cleanly():
        registry = read_registry(path, sample=sample)
        target = out_file or settings.schemas_dir / "units.yaml"
        write_registry(registry, target)
    out.print(f"Đã ghi {len(registry.units)} đơn vị vào {target}")


@units_app.command("show")
def units_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """In danh sách đơn vị."""
    from schemas.registry import load_registry

    with _failing_cleanly():
        registry = load_registry(_settings(ctx).schemas_dir / "units.yaml")
    if as_json:
        _print_json([u.model_dump(mode="json") for u in registry.units])
        return
    table = Table("Mã", "Tên", "Loại", "Email", "Hoạt động")
    for u in registry.units:
        table.add_row(u.code, u.name, u.type, u.email or "", "có" if u.active else "không")
    out.print(table)
    if registry.sample:
        err.print("[yellow]Chú ý[/yellow]: đây là dữ liệu mẫu, hãy nạp danh sách thật.")


@app.command("template")
def template(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Kỳ báo cáo, ví dụ 2026Q3.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Thư mục ghi các tệp mẫu.")],
    unit: Annotated[str | None, typer.Option(help="Chỉ một đơn vị (mã đơn vị).")] = None,
    all_units: Annotated[bool, typer.Option("--all", help="Mọi đơn vị đang hoạt động.")] = False,
) -> None:
    """Tạo tệp báo cáo điền sẵn cho từng đơn vị: <MÃ ĐƠN VỊ>_<KỲ>.xlsx."""
    from rich.progress import track

    from schemas.periods import parse_period
    from schemas.schema import load_schema
    from sources.template import template_name, write_template

    with _failing_cleanly():
        if (unit is None) == (not all_units):
            raise ValueError("chọn một trong hai: --unit MÃ hoặc --all")
        schema = load_schema(_settings(ctx))
        parsed = parse_period(period)
        if parsed.year not in schema.plan_years:
            raise ValueError(f"kỳ {period} nằm ngoài kế hoạch")
        if unit is not None:
            found = schema.registry.unit(unit)
            if found is None:
                raise ValueError(f"không có đơn vị mã «{unit}» trong danh sách đơn vị")
            units = [found]
        else:
            units = [u for u in schema.registry.units if u.active]
        chosen = [u for u in units if schema.tasks_due(u, parsed)]
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [
            write_template(schema, u, parsed, out_dir / template_name(u, parsed))
            for u in track(chosen, description="Tạo mẫu", console=err, disable=len(chosen) < 5)
        ]
    for skipped in (u for u in units if u not in chosen):
        err.print(f"{skipped.code}: không có nhiệm vụ phải báo cáo trong kỳ {parsed}")
    out.print(f"Đã tạo {len(written)} tệp trong {out_dir}")


@app.command("init")
def init_warehouse(ctx: typer.Context) -> None:
    """Tạo hoặc nâng cấp kho DuckDB, nạp danh mục, đơn vị, chỉ tiêu; chạy lại không sao."""
    from khcn.commune import describe_commune
    from schemas.schema import load_schema
    from warehouse.load import sync_schema
    from warehouse.migrate import init

    settings = _settings(ctx)
    with _failing_cleanly():
        commune = describe_commune(settings)
        schema = load_schema(settings)
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        applied = init(settings.warehouse)
        counts = sync_schema(settings.warehouse, schema, settings)
    out.print(f"Xã: {commune}")
    out.print(
        f"Kho {settings.warehouse}: "
        + (f"áp dụng {', '.join(applied)}" if applied else "đã ở phiên bản mới nhất")
        + "; "
        + ", ".join(f"{k}: {v}" for k, v in counts.items())
    )


def _run_flow(title: str, run: Any) -> dict[str, Any]:
    from khcn.interrupt import stop_cleanly_on_interrupt

    with stop_cleanly_on_interrupt(), _failing_cleanly(), err.status(title):
        report = run()
    assert isinstance(report, dict)
    return report


def _print_ingest(report: dict[str, Any]) -> None:
    from schemas.validation import RunSummary

    if not report["listed"]:
        out.print(f"Không có tệp nào trong {report['inbox']}.", highlight=False)
    verdicts = report["verdicts"]
    out.print(
        f"Đã nhận {report['listed']} tệp, {report['new']} tệp mới: "
        f"{verdicts['accepted']} chấp nhận, {verdicts['warned']} chấp nhận có cảnh báo, "
        f"{verdicts['rejected']} bị từ chối."
    )
    if "load" in report:
        load = report["load"]
        out.print(
            f"Nạp kho: {load['imported']} mới, {load['updated']} thay thế bản cũ, "
            f"{load['ignored']} trùng (bỏ qua), {load['rejected']} bị từ chối."
        )
    elif report.get("dry_run"):
        out.print("Chạy thử (--dry-run): không nạp gì vào kho.")
    summary = RunSummary(**report["summary"])
    if summary.top_findings:
        out.print(summary.renderable())
        out.print(f"Chi tiết kiểm tra (Data Docs): {report['data_docs']}")
    if report["feedback"]:
        out.print(f"Tệp phản hồi cho đơn vị ({len(report['feedback'])}):")
        for path in report["feedback"]:
            out.print(f"  {path}", highlight=False)


@app.command("ingest")
def ingest(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Chỉ kiểm tra và viết phản hồi, không nạp kho.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Nhận báo cáo trong inbox: đọc, kiểm tra, nạp kho, viết phản hồi, công bố bản đọc."""
    from flows.ingest_submissions import ingest_submissions

    report = _run_flow("Đang tổng hợp báo cáo…", lambda: ingest_submissions(dry_run=dry_run))
    if as_json:
        _print_json(report)
    else:
        _print_ingest(report)


@app.command("consolidate")
def consolidate(
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Tổng hợp như lịch chạy đêm: nhận báo cáo mới, công bố kho, báo cáo mức đầy đủ."""
    from flows.consolidate_nightly import consolidate_nightly

    report = _run_flow("Đang tổng hợp…", consolidate_nightly)
    if as_json:
        _print_json(report)
        return
    _print_ingest(report)
    _print_status(report["completeness"])
    _print_indicators(report["indicators"])


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _print_status(status: dict[str, Any]) -> None:
    table = Table(
        "Loại đơn vị",
        "Phải nộp",
        "Đã nộp",
        "Được chấp nhận",
        "Đúng hạn",
        "Tỷ lệ",
        "Đúng hạn %",
        title=f"Mức đầy đủ kỳ {status['period']} (hạn {status.get('deadline') or '-'})",
    )
    rows = [("Tổng", status["overall"]), *((r["unit_type"], r) for r in status["by_unit_type"])]
    for name, figures in rows:
        table.add_row(
            name,
            str(figures["expected"]),
            str(figures["received"]),
            str(figures["accepted"]),
            str(figures["on_time"]),
            _rate(figures["accepted_rate"]),
            _rate(figures["on_time_rate"]),
        )
    out.print(table)
    if status["missing"]:
        out.print("Đơn vị chưa có báo cáo được chấp nhận:")
        for unit in status["missing"]:
            out.print(f"  {unit['unit_code']} {unit['unit_name']} ({unit['unit_type']})")


def _print_indicators(indicators: list[dict[str, Any]]) -> None:
    table = Table("Chỉ số", "Năm", "Tử số", "Mẫu số", "Giá trị", "Mục tiêu", "Đạt", title="Chỉ số")
    for row in indicators:
        met = row.get("met")
        table.add_row(
            str(row["indicator_code"]),
            str(row["year"]),
            _number(row.get("numerator")),
            _number(row.get("denominator")),
            _number(row.get("value")),
            _number(row.get("target")),
            "-" if met is None else ("đạt" if met else "chưa đạt"),
        )
    out.print(table)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


@app.command("status")
def status(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Kỳ báo cáo, ví dụ 2026Q3.")],
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Mức đầy đủ của một kỳ và các đơn vị còn thiếu báo cáo."""
    from warehouse.status import period_status

    with _failing_cleanly():
        found = period_status(_settings(ctx).published, period)
    if as_json:
        _print_json(found)
    else:
        _print_status(found)


@app.command("query")
def query(
    ctx: typer.Context,
    sql_text: Annotated[str, typer.Argument(metavar="SQL", help="Câu lệnh SQL (chỉ đọc).")],
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Truy vấn bản đọc đã công bố của kho (schema mart)."""
    import duckdb

    from warehouse.query import query as run_query

    with _failing_cleanly():
        try:
            columns, rows = run_query(_settings(ctx).published, sql_text)
        except duckdb.Error as exc:
            raise ValueError(f"truy vấn lỗi: {exc}") from None
    if as_json:
        _print_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


@app.command("demo")
def demo(
    ctx: typer.Context,
    quarters: Annotated[int, typer.Option(help="Số quý đã kết thúc dùng làm mẫu.")] = 3,
    seed: Annotated[int, typer.Option(help="Hạt giống số ngẫu nhiên của dữ liệu mẫu.")] = 2026,
) -> None:
    """Chạy thử toàn bộ: tạo báo cáo mẫu của các đơn vị, tổng hợp, in mức đầy đủ và chỉ số."""
    import shutil
    from datetime import datetime

    from flows.consolidate_nightly import consolidate_nightly
    from flows.ingest_submissions import VIETNAM
    from schemas.schema import load_schema
    from sources.samples import past_quarters, write_sample_inbox
    from warehouse.status import period_status

    base = _settings(ctx)
    folder = base.data_dir / "demo"
    with _failing_cleanly():
        if folder.exists():
            shutil.rmtree(folder)
        export_overrides(data_dir=folder, inbox=folder / "inbox")
        settings = load_settings()
        schema = load_schema(settings)
        periods = past_quarters(settings.plan_years, datetime.now(VIETNAM).date(), quarters)
        if not periods:
            raise ValueError("chưa có quý nào của kế hoạch kết thúc")
        with err.status("Tạo báo cáo mẫu của các đơn vị…"):
            made = write_sample_inbox(
                schema, periods, folder / "inbox", seed=seed, deadline_day=settings.deadline_day
            )
    out.print(
        f"Báo cáo mẫu: {len(made.files)} tệp cho các kỳ {', '.join(periods)} trong "
        f"{folder / 'inbox'}; {len(made.missing)} lượt đơn vị không nộp."
    )
    for name, slip in made.defects.items():
        out.print(f"  {name}: {slip}", highlight=False)
    report = _run_flow("Đang tổng hợp…", consolidate_nightly)
    _print_ingest(report)
    for period in periods:
        with _failing_cleanly():
            _print_status(period_status(settings.published, period))
    _print_indicators(report["indicators"])
    out.print(f"Kho: {settings.warehouse}; bản đọc: {settings.published}")
    out.print(f"Phản hồi cho đơn vị: {settings.outbox}")


@app.command("report")
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Kỳ báo cáo, ví dụ 2026Q3.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Tệp Excel (mặc định data/reports/bao-cao_<KỲ>.xlsx)."),
    ] = None,
) -> None:
    """Lập báo cáo kỳ gửi cấp trên: mức đầy đủ, đơn vị chưa nộp, số liệu, tiến độ, chỉ số."""
    from schemas.periods import parse_period
    from sources.report import write_period_report
    from warehouse.report import period_report

    settings = _settings(ctx)
    with _failing_cleanly():
        code = parse_period(period).code
        sections = period_report(settings.published, code)
        target = out_file or settings.reports / f"bao-cao_{code}.xlsx"
        title = (
            "Báo cáo kết quả thực hiện nhiệm vụ KHCN, ĐMST và CĐS - "
            f"xã {settings.commune_name} - kỳ {code}"
        )
        write_period_report(target, title, sections)
    out.print(f"Đã lập báo cáo kỳ {code}: {target}")
