"""`khcn province …`: the province's consolidation of the communes' bundles."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.settings import Settings
from khcn import cli_vi

province_app = typer.Typer(
    cls=cli_vi.Group,
    no_args_is_help=True,
    help="Cấp tỉnh: tổng hợp gói số liệu các xã gửi lên.",
    options_metavar="[TUỲ CHỌN]",
    subcommand_metavar="LỆNH [THAM SỐ]...",
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def place(settings: Settings, commune: str | None) -> tuple[str, str]:
    """Who a report or dashboard speaks for: (`XÃ` or `TỈNH`, the name), from the settings, or
    the commune `--commune` names on a province's warehouse."""
    from warehouse.bundle import NATIONAL, commune_name
    from warehouse.province import province_communes

    if commune is not None:
        name = commune_name(commune)
        return "XÃ", name.removeprefix("Xã ").removeprefix("Phường ").removeprefix("Đặc khu ")
    if settings.level == "province" and settings.province_code == NATIONAL:
        return "", "cả nước"
    if settings.level == "province" and settings.province_code:
        communes = province_communes(settings.province_code)
        return "TỈNH", communes[0][3] if communes else settings.province_code
    return "XÃ", settings.commune_name


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _fail(message: str) -> None:
    err.print(Text("Lỗi: ", style="red") + Text(message), soft_wrap=True)
    raise typer.Exit(1)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@province_app.command("consolidate", cls=cli_vi.Command)
def consolidate(
    ctx: typer.Context,
    fan_out: Annotated[
        str,
        typer.Option(
            help="processes: chia lô cho các tiến trình của máy này; deployment: cho các worker "
            "của work pool (deployment prepare-province-batch/province-batch)."
        ),
    ] = "processes",
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Tổng hợp gói số liệu mới nhất của từng xã vào kho của tỉnh và công bố."""
    settings = _settings(ctx)
    if settings.level != "province" or not settings.province_code or not settings.publish_url:
        _fail('cần đặt level = "province", province_code và publish_url trong cấu hình')
    if fan_out not in ("processes", "deployment"):
        _fail("--fan-out là processes hoặc deployment")
    from flows.consolidate_province import consolidate_province

    try:
        result = consolidate_province(fan_out=fan_out)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _print_json(result)
        return
    out.print(
        Text(
            f"Đã đọc {result['listed']} gói: nạp {result['loaded']}, không đổi "
            f"{result['unchanged']}, từ chối {result['rejected']} "
            f"({result['seconds']['total']:.1f} giây)."
        ),
        soft_wrap=True,
    )
    for refused in result["rejected_bundles"]:
        out.print(Text(f"Xã {refused['commune_code']}: {refused['reason']}"), soft_wrap=True)


@province_app.command("communes", cls=cli_vi.Command)
def communes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="In JSON cho chương trình khác.")] = False,
) -> None:
    """Các xã của tỉnh: gói đang dùng, lần kiểm tra gần nhất và lý do nếu bị từ chối."""
    from warehouse.query import query

    settings = _settings(ctx)
    try:
        columns, rows = query(
            settings.published,
            "select commune_code, commune_name, bundle_id, published_at, last_check_status, "
            "last_check_reason from mart.communes order by commune_code",
        )
    except FileNotFoundError as exc:
        _fail(str(exc))
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    if as_json:
        _print_json(records)
        return
    table = Table("Mã xã", "Tên", "Gói đang dùng", "Kiểm tra gần nhất", "Lý do")
    for r in records:
        table.add_row(
            Text(str(r["commune_code"])),
            Text(str(r["commune_name"])),
            Text(str(r["bundle_id"] or "chưa gửi")),
            Text(str(r["last_check_status"] or "-")),
            Text(str(r["last_check_reason"] or "")),
        )
    out.print(table)
