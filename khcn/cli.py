"""`khcn`: the analyst's command line."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.settings import (
    Settings,
    load_settings,
    prefect_defaults,
    seed_schemas,
    use_config_file,
)
from khcn import cli_province, cli_vi
from schemas.errors import SchemaError

if TYPE_CHECKING:
    from flows.progress import StepEvent
    from flows.results import IngestResult

cli_vi.install()
_OPTIONS = "[TUỲ CHỌN]"
_SUBCOMMAND = "LỆNH [THAM SỐ]..."


def _group(help_text: str, **options: Any) -> typer.Typer:
    """A command group in Vietnamese: usage line, help option and errors."""
    return typer.Typer(
        cls=cli_vi.Group,
        no_args_is_help=True,
        help=help_text,
        options_metavar=_OPTIONS,
        subcommand_metavar=_SUBCOMMAND,
        **options,
    )


app = _group("Tổng hợp báo cáo KHCN, ĐMST và CĐS của xã.", add_completion=False)
catalog_app = _group("Danh mục nhiệm vụ của kế hoạch.")
units_app = _group("Danh sách đơn vị báo cáo.")
tokens_app = _group("Mã truy cập dịch vụ truy vấn (khcn serve).")
targets_app = _group("Mục tiêu theo năm của chỉ tiêu, chỉ số.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(units_app, name="units")
app.add_typer(tokens_app, name="tokens")
app.add_typer(targets_app, name="targets")
app.add_typer(cli_province.province_app, name="province")

# Nothing the command prints is markup to colour by guess (numbers, paths, brackets).
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@app.callback()
def main(
    ctx: typer.Context,
    schemas_dir: Annotated[
        Path | None,
        typer.Option(
            help="Thư mục danh mục, đơn vị, chỉ tiêu của xã (mặc định <thư mục dữ liệu>/schemas)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Thư mục dữ liệu: inbox, outbox, archive, kho DuckDB.")
    ] = None,
    inbox: Annotated[
        str | None, typer.Option(help="Nơi nhận báo cáo: thư mục hoặc URL fsspec.")
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option(help="Tệp kho DuckDB; các lệnh chỉ đọc (status, query, report) đọc tệp này."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Tệp cấu hình TOML (mặc định khcn.toml).")
    ] = None,
) -> None:
    """Settings come from these options, `KHCN_…` variables, `khcn.toml`, then defaults."""
    if config is not None and not config.is_file():
        _fail(f"không thấy tệp cấu hình {config}")
    use_config_file(config)
    ctx.obj = load_settings(
        schemas_dir=schemas_dir, data_dir=data_dir, inbox=inbox, warehouse_path=warehouse
    )
    prefect_defaults(ctx.obj)


def _say_error(message: str) -> None:
    line = Text("Lỗi: ", style="red")
    line.append(message)
    err.print(line, highlight=False, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    """End the command: one Vietnamese line on stderr, exit 1."""
    _say_error(message)
    raise typer.Exit(1)


def _os_error(exc: OSError) -> str:
    """An operating-system error in Vietnamese, naming the file."""
    name = exc.filename or ""
    if isinstance(exc, FileNotFoundError):
        return f"không thấy tệp hoặc thư mục {name}" if name else str(exc)
    if isinstance(exc, PermissionError):
        return f"không có quyền đọc hoặc ghi {name}" if name else str(exc)
    if isinstance(exc, IsADirectoryError):
        return f"{name} là một thư mục, cần một tệp"
    if isinstance(exc, NotADirectoryError):
        return f"{name} không phải là thư mục"
    return f"lỗi hệ thống với {name}: {exc.strerror or exc}" if name else str(exc)


@contextmanager
def _failing_cleanly() -> Iterator[None]:
    """A run that cannot do its job ends with its reasons on stderr and a non-zero exit."""
    try:
        yield
    except SchemaError as exc:
        for problem in exc.problems:
            _say_error(str(problem))
        raise typer.Exit(1) from None
    except OSError as exc:
        _fail(_os_error(exc))
    except ValueError as exc:
        _fail(str(exc))


def _existing_file(path: Path) -> Path:
    """The path, when it is a file; else a ValueError naming it."""
    if not path.is_file():
        raise ValueError(
            f"không thấy tệp {path}" if not path.exists() else f"{path} không phải là một tệp"
        )
    return path


def _read_source(settings: Settings) -> Path:
    """What read-only commands read: `--warehouse` when given (it must exist), else the
    published copy."""
    if "warehouse_path" in settings.model_fields_set:
        if not settings.warehouse.is_file():
            raise ValueError(
                f"không thấy tệp kho dữ liệu {settings.warehouse}; kiểm tra đường dẫn --warehouse, "
                "hoặc bỏ tùy chọn này để đọc bản công bố."
            )
        return settings.warehouse
    return settings.published


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@catalog_app.command("import", cls=cli_vi.Command)
def catalog_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Phụ lục kế hoạch: .txt, .docx hoặc .xlsx.")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Tệp danh mục (mặc định <thư mục dữ liệu>/schemas/catalog.yaml)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Đọc phụ lục kế hoạch và ghi danh mục nhiệm vụ vào thư mục dữ liệu của xã."""
    from schemas.appendix import parse_appendix, read_rows
    from schemas.catalog import write_catalog
    from schemas.parties import load_parties

    settings = _settings(ctx)
    with _failing_cleanly():
        rows = read_rows(_existing_file(path))
        # The commune's files live with its data, never in the installed code.
        seed_schemas(settings)
        folder = settings.commune_schemas
        parties = load_parties(folder / "parties.yaml")
        catalog = parse_appendix(rows, str(path), parties, settings.plan_years)
        target = out_file or folder / "catalog.yaml"
        write_catalog(catalog, target)
    if as_json:
        _print_json(
            {"file": str(target), "groups": len(catalog.groups), "tasks": len(catalog.tasks)}
        )
        return
    out.print(
        f"Đã ghi {len(catalog.groups)} nhóm, {len(catalog.tasks)} nhiệm vụ vào {target}",
        highlight=False,
    )


@catalog_app.command("show", cls=cli_vi.Command)
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


@catalog_app.command("matrix", cls=cli_vi.Command)
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


@units_app.command("import", cls=cli_vi.Command)
def units_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Danh sách đơn vị: .xlsx, .xls, .ods hoặc .csv.")],
    sample: Annotated[bool, typer.Option(help="Đánh dấu là dữ liệu mẫu.")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Tệp đơn vị (mặc định <thư mục dữ liệu>/schemas/units.yaml)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Nạp danh sách đơn vị từ bảng tính vào thư mục dữ liệu của xã."""
    from schemas.registry import read_registry, write_registry

    settings = _settings(ctx)
    with _failing_cleanly():
        registry = read_registry(_existing_file(path), sample=sample)
        seed_schemas(settings)
        target = out_file or settings.commune_schemas / "units.yaml"
        write_registry(registry, target)
    if as_json:
        _print_json({"file": str(target), "units": len(registry.units)})
        return
    out.print(f"Đã ghi {len(registry.units)} đơn vị vào {target}", highlight=False)


@units_app.command("show", cls=cli_vi.Command)
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


@targets_app.command("template", cls=cli_vi.Command)
def targets_template(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="Tệp Excel để điền mục tiêu.")],
) -> None:
    """Tạo bảng tính mục tiêu theo năm (điền sẵn mục tiêu hiện có) để điền rồi nạp lại."""
    from schemas.schema import load_schema
    from schemas.targets import write_template

    with _failing_cleanly():
        schema = load_schema(_settings(ctx))
        write_template(out_file, schema.elements, schema.targets, schema.plan_years)
    out.print(f"Đã tạo bảng mục tiêu: {out_file}", highlight=False, soft_wrap=True)


@targets_app.command("import", cls=cli_vi.Command)
def targets_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Bảng mục tiêu đã điền (.xlsx, .xls, .ods).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Tệp mục tiêu (mặc định targets.yaml của xã).")
    ] = None,
) -> None:
    """Nạp mục tiêu theo năm từ bảng tính; lỗi nêu rõ sheet, hàng, cột."""
    from schemas.schema import load_schema
    from schemas.targets import load_targets, read_targets_workbook, write_targets

    settings = _settings(ctx)
    with _failing_cleanly():
        schema = load_schema(settings)
        elements, indicators = read_targets_workbook(path, schema.elements, schema.plan_years)
        target = out_file or settings.schemas_dir / "targets.yaml"
        write_targets(target, elements, indicators)
        load_targets(target, schema.elements, schema.plan_years)
    out.print(
        f"Đã ghi {len(elements)} mục tiêu chỉ tiêu, {len(indicators)} mục tiêu chỉ số vào {target}",
        highlight=False,
    )
    out.print("Chạy khcn init (hoặc lần tổng hợp sau) để đưa mục tiêu vào kho.")


@targets_app.command("show", cls=cli_vi.Command)
def targets_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """In mục tiêu theo năm của chỉ tiêu và chỉ số."""
    from schemas.schema import load_schema

    with _failing_cleanly():
        schema = load_schema(_settings(ctx))
    years, found = schema.plan_years, schema.targets
    rows = [
        ("Chỉ tiêu", e.code, e.name, [found.element(e.code, y) for y in years])
        for e in schema.elements.elements
    ] + [
        ("Chỉ số", i.code, i.name, [found.indicator(i.code, y) for y in years])
        for i in schema.elements.indicators
    ]
    if as_json:
        _print_json(
            [
                {"kind": k, "code": c, "name": n, "targets": dict(zip(years, t, strict=True))}
                for k, c, n, t in rows
            ]  # fmt: skip
        )
        return
    table = Table("Loại", "Mã", "Tên", *(str(y) for y in years))
    for kind, code, name, targets in rows:
        table.add_row(kind, code, Text(name), *(_number(t) for t in targets))
    out.print(table)
    if found.sample:
        err.print("[yellow]Chú ý[/yellow]: đây là mục tiêu mẫu, hãy nạp mục tiêu thật.")


@app.command("template", cls=cli_vi.Command)
def template(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Kỳ báo cáo, ví dụ 2026Q3.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Thư mục ghi các tệp mẫu.")],
    unit: Annotated[str | None, typer.Option(help="Chỉ một đơn vị (mã đơn vị).")] = None,
    all_units: Annotated[bool, typer.Option("--all", help="Mọi đơn vị đang hoạt động.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Tạo tệp báo cáo điền sẵn cho từng đơn vị: <MÃ ĐƠN VỊ>_<KỲ>.xlsx."""
    from rich.progress import track

    from outputs.template import template_name, write_template
    from schemas.schema import load_schema

    settings = _settings(ctx)
    with _failing_cleanly():
        if (unit is None) == (not all_units):
            raise ValueError("chọn một trong hai: --unit MÃ hoặc --all")
        parsed = settings.plan_period(period)
        schema = load_schema(settings)
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
            write_template(
                schema, u, parsed, out_dir / template_name(u, parsed), settings.commune_name
            )
            for u in track(
                chosen,
                description="Tạo mẫu",
                console=err,
                disable=len(chosen) < 5 or as_json or not err.is_terminal,
            )
        ]
    skipped = [u.code for u in units if u not in chosen]
    if as_json:
        _print_json({"period": parsed.code, "files": [str(p) for p in written], "skipped": skipped})
        return
    for code in skipped:
        err.print(Text(f"{code}: không có nhiệm vụ phải báo cáo trong kỳ {parsed}"))
    out.print(f"Đã tạo {len(written)} tệp trong {out_dir}", highlight=False)


@app.command("init", cls=cli_vi.Command)
def init_warehouse(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Chuẩn bị thư mục dữ liệu (danh mục của xã, hộp thư đến) và tạo hoặc nâng cấp kho DuckDB;
    chạy lại không sao."""
    from khcn.commune import describe_commune
    from schemas.schema import load_schema
    from warehouse.dimensions import sync_schema
    from warehouse.migrate import init

    settings = _settings(ctx)
    with _failing_cleanly():
        commune = describe_commune(settings)
        seeded = seed_schemas(settings)
        if seeded:
            # Read the commune's own copies from now on.
            settings = settings.with_overrides()
        if "://" not in settings.inbox_url:
            Path(settings.inbox_url).mkdir(parents=True, exist_ok=True)
        schema = load_schema(settings)
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        applied = init(settings.warehouse)
        counts = sync_schema(settings.warehouse, schema, settings)
    if as_json:
        _print_json(
            {
                "commune": commune,
                "schemas_dir": str(settings.schemas_dir),
                "seeded": [str(p) for p in seeded],
                "inbox": settings.inbox_url,
                "warehouse": str(settings.warehouse),
                "applied": applied,
                "counts": counts,
            }
        )
        return
    out.print(f"Xã: {commune}", highlight=False)
    out.print(
        f"Danh mục, đơn vị, chỉ tiêu: {settings.schemas_dir}"
        + (f" (vừa tạo {len(seeded)} tệp từ mặc định)" if seeded else ""),
        highlight=False,
    )
    out.print(
        f"Kho {settings.warehouse}: "
        + (f"áp dụng {', '.join(applied)}" if applied else "đã ở phiên bản mới nhất")
        + "; "
        + ", ".join(f"{k}: {v}" for k, v in counts.items()),
        highlight=False,
    )


class _Progress:
    """Shows the steps of a run: live in a terminal, one plain line each otherwise."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.live = err.is_terminal
        self.status = err.status(title) if self.live else None

    def __enter__(self) -> _Progress:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, event: StepEvent) -> None:
        if self.status is not None and event.seconds is None:
            self.status.update(f"{self.title} {event.line()}")
            return
        if event.seconds is None:
            return
        if self.status is not None:
            self.status.update(self.title)
        prefix = "khcn: " if not self.live else "" if event.message else "✓ "
        err.print(Text(prefix + event.line(), style="dim" if self.live else ""), highlight=False)


def _run_flow(title: str, run: Callable[[], Any]) -> Any:
    """Run a flow in this process, its steps shown on stderr, its failures as one line.

    The run sends Prefect no heartbeats: nothing here reads them (this process answers for
    its own run and its lock), and their thread, which wakes once a second, held the end of
    every run for up to a second.
    """
    from prefect.settings import temporary_settings

    from flows.progress import listening
    from khcn.interrupt import stop_cleanly_on_interrupt

    with (
        stop_cleanly_on_interrupt(),
        _failing_cleanly(),
        _Progress(title) as progress,
        listening(progress),
        temporary_settings(updates={"flows.heartbeat_frequency": None}),
    ):
        try:
            return run()
        except (OSError, ValueError, SchemaError):
            raise
        except Exception as exc:
            # The traceback is in the run's log (Prefect's API); the analyst gets one line.
            _fail(
                f"lần chạy dừng vì lỗi không lường trước ({type(exc).__name__}: {exc}); "
                "chi tiết trong nhật ký lần chạy của Prefect; những gì đã nạp vẫn giữ nguyên"
            )


def _screenful() -> int:
    """How many file rows fit before the table collapses to counts."""
    return max(10, (out.size.height if out.is_terminal else 40) - 12)


def _print_files(result: IngestResult) -> None:
    """One row per file read (unit-supplied text printed as is), or counts past a screenful."""
    files = result.files
    if not files:
        return
    if len(files) <= _screenful():
        table = Table(title="Từng tệp")
        table.add_column("Tệp", overflow="fold", ratio=3)
        table.add_column("Đơn vị", overflow="fold", ratio=1)
        table.add_column("Kỳ", no_wrap=True)
        table.add_column("Kết quả", no_wrap=True)
        table.add_column("Lỗi", justify="right")
        table.add_column("Tệp phản hồi", overflow="fold", ratio=3)
        for f in files:
            table.add_row(
                Text(f.file),
                Text(f.unit or "?"),
                Text(f.period or "?"),
                Text(f.verdict_label, style=_VERDICT_STYLE.get(f.verdict, "")),
                str(len(f.errors)) if f.errors else "",
                Text(Path(f.feedback).name if f.feedback else ""),
            )
        out.print(table)
        return
    by_verdict = Counter(f.verdict for f in files)
    table = Table(
        "Kết quả", "Số tệp", "Số đơn vị", title=f"Từng tệp: {len(files)} tệp, gộp theo kết quả"
    )
    for verdict, count in sorted(by_verdict.items()):
        units = {f.unit for f in files if f.verdict == verdict}
        label = files[[f.verdict for f in files].index(verdict)].verdict_label
        table.add_row(
            Text(label, style=_VERDICT_STYLE.get(verdict, "")), str(count), str(len(units))
        )
    out.print(table)
    out.print("Danh sách từng tệp: xem báo cáo lần chạy bên dưới, hoặc `khcn ingest --json`.")


_VERDICT_STYLE = {"accepted": "green", "warned": "yellow", "rejected": "red"}


def _print_ingest(result: IngestResult) -> None:
    if not result.listed:
        out.print(Text(f"Không có tệp nào trong {result.inbox}."))
    verdicts = result.verdicts
    out.print(
        f"Đã nhận {result.listed} tệp, {result.new} tệp mới: "
        f"{verdicts['accepted']} chấp nhận, {verdicts['warned']} chấp nhận có cảnh báo, "
        f"{verdicts['rejected']} bị từ chối.",
        highlight=False,
    )
    if result.load is not None:
        load = result.load
        out.print(
            f"Nạp kho: {load.imported} mới, {load.updated} thay thế bản cũ, "
            f"{load.ignored} trùng (bỏ qua), {load.rejected} bị từ chối.",
            highlight=False,
        )
    elif result.dry_run:
        out.print("Chạy thử (--dry-run): không nạp gì vào kho.")
    _print_files(result)
    summary = result.summary
    if summary.top_findings:
        out.print(summary.renderable())
    if result.feedback:
        folders = sorted({str(Path(p).parent.parent) for p in result.feedback})
        out.print(
            Text(f"{len(result.feedback)} tệp phản hồi cho đơn vị trong {', '.join(folders)}"),
            soft_wrap=True,
        )
    if result.run_report:
        out.print(
            Text(f"Báo cáo lần chạy (mở bằng trình duyệt): {result.run_report}"), soft_wrap=True
        )
    if result.data_docs:
        out.print(Text(f"Chi tiết kiểm tra (Data Docs): {result.data_docs}"), soft_wrap=True)


# How long an analyst waits for a remote inbox to answer before being told it does not.
REACH_SECONDS = 20.0


def _check_inbox(ctx: typer.Context) -> None:
    """Before Prefect starts: an inbox that cannot be listed ends the command at once."""
    from sources.inbox import check_inbox

    settings = _settings(ctx)
    if not settings.lists_folder:
        return
    with _failing_cleanly():
        check_inbox(settings.inbox_url, reach_seconds=REACH_SECONDS)


@app.command("ingest", cls=cli_vi.Command)
def ingest(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Chỉ kiểm tra và viết phản hồi, không nạp kho.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Nhận báo cáo trong inbox: đọc, kiểm tra, nạp kho, viết phản hồi, công bố bản đọc."""
    _check_inbox(ctx)
    from flows.ingest_submissions import ingest_submissions

    settings = _settings(ctx)
    result = _run_flow(
        "Đang tổng hợp báo cáo…", lambda: ingest_submissions(dry_run=dry_run, settings=settings)
    )
    if as_json:
        _print_json(result.to_dict())
    else:
        _print_ingest(result)
        _print_mail(result.mail)


def _print_mail(mail: dict[str, Any] | None) -> None:
    """Per message of the mailbox: what was taken and what was answered, as plain text."""
    from outputs.replies import mail_report_lines

    for line in mail_report_lines(mail) if mail else []:
        out.print(Text(line))


@app.command("consolidate", cls=cli_vi.Command)
def consolidate(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option(
            help="Kỳ báo cáo (2026Q3, 2026S1, 2026, 202607); mặc định: kỳ gần nhất đã quá hạn."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Tổng hợp như lịch chạy đêm: nhận báo cáo mới, công bố kho, báo cáo mức đầy đủ."""
    with _failing_cleanly():
        if period is not None:
            _settings(ctx).plan_period(period)
    _check_inbox(ctx)
    from flows.consolidate_nightly import consolidate_nightly

    settings = _settings(ctx)
    result = _run_flow(
        "Đang tổng hợp…", lambda: consolidate_nightly(period=period, settings=settings)
    )
    if as_json:
        _print_json(result.to_dict())
        return
    _print_ingest(result.ingest)
    _print_mail(result.ingest.mail)
    _print_status(result.completeness)
    _print_indicators(result.indicators)


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _print_status(status: dict[str, Any]) -> None:
    quarters = ", ".join(q["period"] for q in status.get("quarters", []))
    deadline = status.get("deadline")
    when = f"hạn {deadline}" if deadline else f"gồm {quarters}" if quarters else "hạn -"
    table = Table(
        "Loại đơn vị",
        "Phải nộp",
        "Đã nộp",
        "Được chấp nhận",
        "Đúng hạn",
        "Nộp muộn",
        "Chưa nộp",
        "Chờ gửi lại",
        "Có số liệu",
        "Có tiến độ",
        "Tỷ lệ",
        "Đúng hạn %",
        title=f"Mức đầy đủ kỳ {status['period']} ({when})",
    )
    rows = [("Tổng", status["overall"]), *((r["unit_type"], r) for r in status["by_unit_type"])]
    for name, figures in rows:
        table.add_row(
            Text(str(name)),
            str(figures["expected"]),
            str(figures["received"]),
            str(figures["accepted"]),
            str(figures["on_time"]),
            str(figures.get("late", 0)),
            str(figures.get("not_sent", 0)),
            str(figures.get("awaiting_resend", 0)),
            str(figures.get("values_received", 0)),
            str(figures.get("progress_received", 0)),
            _rate(figures.get("accepted_rate")),
            _rate(figures.get("on_time_rate")),
        )
    out.print(table)
    several = len(status.get("quarters", [])) > 1
    for key, heading in _CHASE:
        units = status.get(key) or []
        if not units:
            continue
        out.print(f"{heading} ({len(units)}):")
        for unit in units:
            line = f"  {unit['unit_code']} {unit['unit_name']} ({unit['unit_type']})"
            if several:
                line += f" - kỳ {unit['period']}"
            out.print(Text(line))


_CHASE = (
    ("not_sent", "Chưa nộp"),
    ("awaiting_resend", "Bị từ chối, chờ gửi lại"),
    ("late", "Nộp muộn"),
    ("partial", "Đã nộp nhưng còn thiếu số liệu hoặc tiến độ"),
)


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


@app.command("status", cls=cli_vi.Command)
def status(
    ctx: typer.Context,
    period: Annotated[
        str, typer.Option(help="Kỳ báo cáo: 2026Q3 (quý), 2026S1 (nửa năm), 2026 (năm), 202607.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
    commune: Annotated[
        str | None,
        typer.Option(help="Kho cấp tỉnh: chỉ một xã (mã xã), thay vì cả tỉnh."),
    ] = None,
) -> None:
    """Mức đầy đủ của một kỳ: ai chưa nộp, ai bị từ chối chờ gửi lại, ai nộp muộn."""
    from warehouse.status import period_status

    settings = _settings(ctx)
    with _failing_cleanly():
        parsed = settings.plan_period(period)
        found = period_status(
            _read_source(settings), parsed.code, settings.reporting_period_kind, commune
        )
    if as_json:
        _print_json(found)
    else:
        _print_status(found)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _inert(value: Any) -> Text:
    """A value as plain text: no markup, no links, control characters shown, not obeyed.

    Cells carry text units sent; `[/x]` must print as itself and an escape sequence must not
    reach the terminal.
    """
    text = "" if value is None else str(value)
    return Text(_CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def _print_error(message: str) -> None:
    """One line on stderr, printed as plain text whatever the message quotes."""
    err.print(Text.assemble(("Lỗi", "red"), ": ", _inert(message)), soft_wrap=True)


@app.command("query", cls=cli_vi.Command)
def query(
    ctx: typer.Context,
    sql_text: Annotated[str, typer.Argument(metavar="SQL", help="Câu lệnh SQL (chỉ đọc).")],
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
    rows: Annotated[
        int | None,
        typer.Option("--rows", min=1, help="Số dòng in ra bảng (mặc định query_terminal_rows)."),
    ] = None,
    commune: Annotated[
        str | None,
        typer.Option(help="Kho cấp tỉnh: chỉ một xã (mã xã), thay vì cả tỉnh."),
    ] = None,
) -> None:
    """Truy vấn bản đọc đã công bố của kho (schema mart), có giới hạn thời gian và bộ nhớ."""
    from warehouse.query import QueryError, QueryLimits, run_bounded

    settings = _settings(ctx)
    try:
        result = run_bounded(
            _read_source(settings), sql_text, QueryLimits.from_settings(settings), commune=commune
        )
    except (QueryError, ValueError) as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    total = result.table.num_rows
    cut = (
        f"kết quả bị cắt ở {total} dòng đầu (query_max_rows = {settings.query_max_rows}); "
        "thêm điều kiện where hoặc tổng hợp bằng group by để lấy đủ."
    )
    if as_json:
        _print_json(result.records())
        if result.truncated:
            err.print(Text(f"Chú ý: {cut}"), soft_wrap=True)
        return
    shown = rows or settings.query_terminal_rows
    table = Table()
    for column in result.columns:
        table.add_column(_inert(column))
    for row in result.rows[:shown]:
        table.add_row(*(_inert(v) for v in row))
    out.print(table)
    if total > shown:
        out.print(
            Text(
                f"Đã in {shown}/{total} dòng, {total - shown} dòng không in; "
                "xem đủ bằng --json hoặc --rows N."
            ),
            soft_wrap=True,
        )
    if result.truncated:
        err.print(Text(f"Chú ý: {cut}"), soft_wrap=True)


@app.command("server", cls=cli_vi.Command)
def server(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Cổng (mặc định prefect_port, 4200).")] = None,
) -> None:
    """Giữ máy chủ Prefect chạy trên máy này (127.0.0.1) để các lệnh ingest khởi động nhanh.

    Khi máy chủ này đang chạy, mỗi lệnh dùng nó thay vì tự mở một máy chủ tạm (mất 10-20 giây).
    Dừng bằng Ctrl+C.
    """
    import signal
    import subprocess

    from core.settings import local_prefect_answers, local_prefect_url

    port = _settings(ctx).prefect_port if port is None else port
    if local_prefect_answers(port):
        out.print(Text(f"Máy chủ Prefect đã chạy tại {local_prefect_url(port)}."))
        return
    out.print(Text(f"Máy chủ Prefect chạy tại {local_prefect_url(port)}; dừng bằng Ctrl+C."))
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    process = subprocess.Popen([*command, "--port", str(port)])
    # The warm process: later `khcn` commands on this machine start in a fraction of a second.
    # `-P`: modules are not looked for in the folder the server was started from.
    warm = subprocess.Popen([sys.executable, "-P", "-m", "khcn.warm"], stdin=subprocess.DEVNULL)
    # Stopped as a service is (SIGTERM), the Prefect server stops with it, not left running
    # unseen on the port; Ctrl+C in a terminal reaches both.
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        process.wait()
    except KeyboardInterrupt:
        # Ctrl+C reached the Prefect server too; one that did not stop in time is told to.
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
    finally:
        # Commands it is running are stopped (their Prefect server is gone).
        warm.terminate()
        warm.wait()
    out.print(Text("Đã dừng máy chủ Prefect."))


@app.command("serve", cls=cli_vi.Command)
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Địa chỉ lắng nghe (mặc định serve_host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Cổng (mặc định serve_port, 8000).")] = None,
) -> None:
    """Mở dịch vụ truy vấn chỉ đọc cho cấp trên: /api/marts, /api/query, trang tổng quan ở /."""
    import socket

    from khcn.service import QUERY_LOG
    from khcn.service import serve as run_service
    from khcn.tokens import TokenError, load_tokens, tokens_file
    from warehouse.publish import published_database

    settings = _settings(ctx)
    host = host or settings.serve_host
    port = settings.serve_port if port is None else port
    try:
        if not any(r.active for r in load_tokens(tokens_file(settings.service)).values()):
            err.print(
                Text("Chú ý: chưa cấp mã truy cập nào, mọi yêu cầu sẽ bị từ chối; cấp mã bằng ")
                + Text("khcn tokens add <tên>", style="bold"),
                soft_wrap=True,
            )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except TokenError as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    except OSError as exc:
        _print_error(
            f"không mở được cổng {port} trên {host} ({exc.strerror}); chọn cổng khác bằng --port."
        )
        raise typer.Exit(1) from None
    if not published_database(settings.published).is_file():
        err.print(
            Text(
                f"Chú ý: chưa có bản công bố tại {settings.published}; dịch vụ trả lời lỗi 503 "
                "cho đến khi khcn ingest công bố kho."
            ),
            soft_wrap=True,
        )
    if host not in ("127.0.0.1", "::1", "localhost"):
        err.print(
            Text(
                "Chú ý: dịch vụ dùng HTTP không mã hoá; khi mở ra mạng, đặt nó sau một proxy "
                "HTTPS để mã truy cập không lộ trên đường truyền."
            ),
            soft_wrap=True,
        )
    out.print(
        Text(
            f"Dịch vụ truy vấn: http://{host}:{port}/ (Ctrl-C để dừng); "
            f"nhật ký truy vấn: {settings.service / QUERY_LOG}"
        ),
        soft_wrap=True,
    )
    run_service(settings, host, port)


@tokens_app.command("add", cls=cli_vi.Command)
def tokens_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tên người hoặc đơn vị dùng mã, ví dụ so-khcn.")],
) -> None:
    """Cấp mã truy cập dịch vụ truy vấn; mã chỉ in ra một lần, kho chỉ giữ mã băm."""
    from khcn.tokens import TokenError, add_token, tokens_file

    try:
        token = add_token(tokens_file(_settings(ctx).service), name)
    except TokenError as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    err.print(
        Text(f"Mã truy cập của «{name}» (chỉ hiện lần này, hãy gửi riêng cho người dùng):"),
        soft_wrap=True,
    )
    sys.stdout.write(token + "\n")


@tokens_app.command("revoke", cls=cli_vi.Command)
def tokens_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tên đã cấp mã.")],
) -> None:
    """Thu hồi mã truy cập: các yêu cầu dùng mã đó bị từ chối ngay."""
    from khcn.tokens import TokenError, revoke_token, tokens_file

    try:
        revoke_token(tokens_file(_settings(ctx).service), name)
    except TokenError as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    out.print(Text(f"Đã thu hồi mã truy cập của «{name}»."), soft_wrap=True)


@tokens_app.command("list", cls=cli_vi.Command)
def tokens_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """In các mã đã cấp: tên, ngày cấp, ngày thu hồi (không in mã)."""
    from khcn.tokens import TokenError, load_tokens, tokens_file

    try:
        records = sorted(
            load_tokens(tokens_file(_settings(ctx).service)).values(), key=lambda r: r.name
        )
    except TokenError as exc:
        _print_error(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        _print_json(
            [
                {"name": r.name, "created_at": r.created_at, "revoked_at": r.revoked_at}
                for r in records
            ]
        )
        return
    if not records:
        out.print("Chưa cấp mã truy cập nào; cấp bằng khcn tokens add <tên>.")
        return
    table = Table("Tên", "Cấp lúc", "Trạng thái")
    for r in records:
        state = "đang dùng" if r.active else f"thu hồi lúc {r.revoked_at}"
        table.add_row(_inert(r.name), _inert(r.created_at), _inert(state))
    out.print(table)


@app.command("demo", cls=cli_vi.Command)
def demo(
    ctx: typer.Context,
    periods_count: Annotated[
        int,
        typer.Option(
            "--periods", "--quarters", help="Số kỳ báo cáo (quý) đã kết thúc dùng làm mẫu."
        ),
    ] = 3,
    seed: Annotated[int, typer.Option(help="Hạt giống số ngẫu nhiên của dữ liệu mẫu.")] = 2026,
) -> None:
    """Chạy thử toàn bộ: tạo báo cáo mẫu của các đơn vị, tổng hợp, in mức đầy đủ và chỉ số."""
    import shutil
    from datetime import datetime

    from demo.samples import past_periods, write_sample_inbox
    from flows.consolidate_nightly import consolidate_nightly
    from schemas.schema import load_schema
    from warehouse.status import period_status

    base = _settings(ctx)
    folder = base.data_dir / "demo"
    with _failing_cleanly():
        if folder.exists():
            shutil.rmtree(folder)
        settings = base.with_overrides(data_dir=folder, inbox=str(folder / "inbox"))
        schema = load_schema(settings)
        today = datetime.now(settings.tz).date()
        kind = settings.reporting_period_kind
        periods = past_periods(kind, settings.plan_years, today, periods_count)
        if not periods:
            raise ValueError("chưa có kỳ báo cáo nào của kế hoạch kết thúc")
        with err.status("Tạo báo cáo mẫu của các đơn vị…"):
            made = write_sample_inbox(
                schema, periods, folder / "inbox", seed=seed, deadline_day=settings.deadline_day
            )
    out.print(
        f"Báo cáo mẫu: {len(made.files)} tệp cho các kỳ {', '.join(periods)} trong "
        f"{folder / 'inbox'}; {len(made.missing)} lượt đơn vị không nộp."
    )
    for name, slip in made.defects.items():
        out.print(Text(f"  {name}: {slip}"))
    result = _run_flow(
        "Đang tổng hợp…", lambda: consolidate_nightly(period=periods[-1], settings=settings)
    )
    _print_ingest(result.ingest)
    for period in periods:
        with _failing_cleanly():
            _print_status(period_status(settings.published, period, kind))
    _print_indicators(result.indicators)
    out.print(f"Kho: {settings.warehouse}; bản đọc: {settings.published}")
    out.print(f"Phản hồi cho đơn vị: {settings.outbox}")
    # The ingest wrote it already; a page it could not draw is drawn (or explained) here.
    board = _write_dashboard(settings)
    report_paths = _write_report(settings, periods[-1], None, pdf=True)
    out.print(f"Bảng theo dõi: {board}", highlight=False, soft_wrap=True)
    for path in report_paths:
        out.print(f"Báo cáo kỳ {periods[-1]}: {path}", highlight=False, soft_wrap=True)


@app.command("dashboard", cls=cli_vi.Command)
def dashboard(
    ctx: typer.Context,
    open_it: Annotated[
        bool, typer.Option("--open", help="Mở bằng trình duyệt của máy sau khi ghi.")
    ] = False,
    commune: Annotated[
        str | None,
        typer.Option(help="Kho cấp tỉnh: chỉ một xã (mã xã), thay vì cả tỉnh."),
    ] = None,
) -> None:
    """Ghi lại bảng theo dõi (HTML, xem được không cần mạng) từ bản công bố; in đường dẫn."""
    settings = _settings(ctx)
    path = _write_dashboard(settings, commune)
    out.print(f"Bảng theo dõi: {path}", highlight=False, soft_wrap=True)
    if open_it:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            err.print("Không mở được trình duyệt; hãy mở tệp trên bằng tay.", highlight=False)


def _write_dashboard(settings: Settings, commune: str | None = None) -> Path:
    from khcn.cli_province import place
    from outputs.dashboard import DASHBOARD, write_dashboard
    from warehouse.dashboard import dashboard_data

    with _failing_cleanly():
        data = dashboard_data(settings.published, commune)
        level, name = place(settings, commune)
        target = settings.published / (f"dashboard-{commune}.html" if commune else DASHBOARD)
        return write_dashboard(target, data, name, level.lower())


@app.command("report", cls=cli_vi.Command)
def report(
    ctx: typer.Context,
    period: Annotated[
        str, typer.Option(help="Kỳ báo cáo: quý 2026Q3, năm 2026 hoặc giai đoạn 2026-2030.")
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Tệp Excel (mặc định data/reports/bao-cao_<KỲ>.xlsx)."),
    ] = None,
    pdf: Annotated[bool, typer.Option(help="In thêm bản PDF cùng tên để gửi thư.")] = True,
    commune: Annotated[
        str | None,
        typer.Option(help="Kho cấp tỉnh: chỉ một xã (mã xã), thay vì cả tỉnh."),
    ] = None,
) -> None:
    """Lập báo cáo gửi cấp trên: mức đầy đủ, chỉ số so với mục tiêu, tiến độ, kèm biểu đồ."""
    paths = _write_report(_settings(ctx), period, out_file, pdf, commune)
    for path in paths:
        out.print(f"Đã lập báo cáo: {path}", highlight=False, soft_wrap=True)


def _write_report(
    settings: Settings, period: str, out_file: Path | None, pdf: bool, commune: str | None = None
) -> list[Path]:
    from datetime import datetime

    from khcn.cli_province import place
    from outputs.report import Heading, workbook_to_pdf, write_report_workbook
    from warehouse.report import period_report, report_scope

    with _failing_cleanly():
        today = datetime.now(settings.tz).date()
        kind = settings.reporting_period_kind
        scope = report_scope(period, settings.plan_years, today, kind)
        data = period_report(_read_source(settings), scope, commune)
        suffix = f"_{commune}" if commune else ""
        target = out_file or settings.reports / f"bao-cao_{scope.code}{suffix}.xlsx"
        level, name = place(settings, commune)
        paths = [write_report_workbook(target, data, Heading(commune=name, level=level))]
        if pdf:
            with err.status("Đang in bản PDF…"):
                paths.append(workbook_to_pdf(target))
    return paths
