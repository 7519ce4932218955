"""Vietnamese for the words the command-line libraries print themselves (help, usage, errors).

Click and Typer pass their fixed strings through `gettext` but ship no Vietnamese catalog; the
analyst reads only Vietnamese, so the strings they show are looked up here first.
"""

from __future__ import annotations

import gettext

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.types
import typer.core
import typer.rich_utils

VIETNAMESE: dict[str, str] = {
    "Usage:": "Cách dùng:",
    "Options": "Tuỳ chọn",
    "Arguments": "Tham số",
    "Commands": "Lệnh",
    "Show this message and exit.": "In hướng dẫn này rồi thoát.",
    "Error: {message}": "Lỗi: {message}",
    "Aborted!": "Đã dừng.",
    "Missing argument": "Thiếu tham số",
    "Missing option": "Thiếu tuỳ chọn",
    "Missing parameter": "Thiếu tham số",
    "Missing command.": "Thiếu lệnh.",
    "Missing {param_type}": "Thiếu {param_type}",
    "Missing parameter: {param_name}": "Thiếu tham số: {param_name}",
    "No such command {name!r}.": "Không có lệnh {name!r}.",
    "No such option {name!r}.": "Không có tuỳ chọn {name!r}.",
    "Option {name!r} does not take a value.": "Tuỳ chọn {name!r} không nhận giá trị.",
    "Invalid value for {param_hint}: {message}": "Giá trị không hợp lệ cho {param_hint}: {message}",
    "Invalid value: {message}": "Giá trị không hợp lệ: {message}",
    "Try '{command} {option}' for help.": "Xem hướng dẫn: '{command} {option}'.",
    "{value!r} is not a valid {number_type}.": "{value!r} không phải là số hợp lệ.",
    "{value} is not in the range {range}.": "{value} không nằm trong khoảng {range}.",
    "{name} {filename!r} does not exist.": "Không có {name} {filename!r}.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} là một thư mục.",
    "{name} {filename!r} is a file.": "{name} {filename!r} là một tệp.",
    "Could not open file {filename!r}: {message}": "Không mở được tệp {filename!r}: {message}",
    "default: {default}": "mặc định: {default}",
    "required": "bắt buộc",
    "file": "tệp",
    "directory": "thư mục",
    "path": "đường dẫn",
    "unknown error": "lỗi không rõ",
}
_PLURALS: dict[str, str] = {
    "Got unexpected extra argument ({args})": "Thừa tham số ({args})",
    "Got unexpected extra arguments ({args})": "Thừa tham số ({args})",
    "Option {name!r} requires an argument.": "Tuỳ chọn {name!r} cần một giá trị.",
    "Option {name!r} requires {nargs} arguments.": "Tuỳ chọn {name!r} cần {nargs} giá trị.",
}


def _translate(message: str) -> str:
    return VIETNAMESE.get(message) or gettext.gettext(message)


def _ntranslate(singular: str, plural: str, n: int) -> str:
    chosen = singular if n == 1 else plural
    return _PLURALS.get(chosen) or gettext.ngettext(singular, plural, n)


def install() -> None:
    """Make Click and Typer speak Vietnamese in this process."""
    for module in (
        click.core,
        click.decorators,
        click.exceptions,
        click.formatting,
        click.parser,
        click.types,
        typer.core,
    ):
        if hasattr(module, "_"):
            module._ = _translate  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _ntranslate  # type: ignore[attr-defined]
    # Typer computes these once, at import.
    typer.rich_utils.ARGUMENTS_PANEL_TITLE = "Tham số"
    typer.rich_utils.OPTIONS_PANEL_TITLE = "Tuỳ chọn"
    typer.rich_utils.COMMANDS_PANEL_TITLE = "Lệnh"
    typer.rich_utils.ERRORS_PANEL_TITLE = "Lỗi"
    typer.rich_utils.ABORTED_TEXT = "Đã dừng."
    typer.rich_utils.DEFAULT_STRING = "[mặc định: {}]"
    typer.rich_utils.REQUIRED_LONG_STRING = "[bắt buộc]"
    typer.rich_utils.ENVVAR_STRING = "[biến môi trường: {}]"
    typer.rich_utils.DEPRECATED_STRING = "(không dùng nữa) "
    typer.rich_utils.RICH_HELP = "Xem hướng dẫn: [blue]'{command_path} {help_option}'[/]."
