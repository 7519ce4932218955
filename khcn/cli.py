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

from khcn.settings import Settings, load_settings
from schemas.errors import SchemaError

app = typer.Typer(no_args_is_help=True, help="Tổng hợp báo cáo KHCN, ĐMST và CĐS của xã.")
catalog_app = typer.Typer(no_args_is_help=True, help="Danh mục nhiệm vụ của kế hoạch.")
units_app = typer.Typer(no_args_is_help=True, help="Danh sách đơn vị báo cáo.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(units_app, name="units")

out = Console()
err = Console(stderr=True)

ROLE_LABELS = {"lead": "Chủ trì", "coordinate": "Phối hợp", None: ""}


@app.callback()
def main(
    ctx: typer.Context,
    schemas_dir: Annotated[
        Path | None, typer.Option(help="Thư mục danh mục, đơn vị, chỉ tiêu (schemas/).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Thư mục dữ liệu: inbox, outbox, archive, kho DuckDB.")
    ] = None,
) -> None:
    """Settings come from these options, `KHCN_…` variables, `khcn.toml`, then defaults."""
    ctx.obj = load_settings(schemas_dir=schemas_dir, data_dir=data_dir)


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
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


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
    from sources.template import tasks_in_template, template_name, write_template

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
        chosen = [u for u in units if tasks_in_template(schema, u, parsed)]
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [
            write_template(schema, u, parsed, out_dir / template_name(u, parsed))
            for u in track(chosen, description="Tạo mẫu", console=err, disable=len(chosen) < 5)
        ]
    for skipped in (u for u in units if u not in chosen):
        err.print(f"{skipped.code}: không có nhiệm vụ phải báo cáo trong kỳ {parsed}")
    out.print(f"Đã tạo {len(written)} tệp trong {out_dir}")
