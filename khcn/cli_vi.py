"""Vietnamese for the words the command-line library prints itself (help, usage, errors).

Typer's option parser writes fixed English ("Usage:", "Show this message and exit.", "No such
option"); the analyst reads only Vietnamese. The command classes below translate those strings
where they are produced, and `install` sets Typer's panel titles.
"""

from __future__ import annotations

import re
from typing import Any

import typer.rich_utils
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

HELP_TEXT = "In hướng dẫn này rồi thoát."
# English message patterns of the parser's errors, and their Vietnamese.
_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), text)
    for pattern, text in (
        (r"^No such option: (.+?)(?: \(Possible options: (.+)\))?$", r"Không có tuỳ chọn \1."),
        (r"^No such command (.+)\.$", r"Không có lệnh \1."),
        (r"^Missing option (.+?)\.(.*)$", r"Thiếu tuỳ chọn \1.\2"),
        (r"^Missing argument (.+?)\.(.*)$", r"Thiếu tham số \1.\2"),
        (r"^Missing parameter: (.+)$", r"Thiếu tham số \1."),
        (r"^Missing command\.$", "Thiếu lệnh."),
        (r"^Invalid value for (.+?): (.+)$", r"Giá trị không hợp lệ cho \1: \2"),
        (r"^Invalid value: (.+)$", r"Giá trị không hợp lệ: \1"),
        (r"^Got unexpected extra arguments? \((.+)\)$", r"Thừa tham số: \1."),
        (r"^Option (.+?) requires an argument\.$", r"Tuỳ chọn \1 cần một giá trị."),
        (r"^Option (.+?) requires (\d+) arguments\.$", r"Tuỳ chọn \1 cần \2 giá trị."),
        (r"^Option (.+?) does not take a value\.$", r"Tuỳ chọn \1 không nhận giá trị."),
        (r"^(.+?) is not a valid (integer|float|boolean)\.$", r"\1 không phải là giá trị hợp lệ."),
        (r"^Could not open file (.+?): (.+)$", r"Không mở được tệp \1: \2"),
    )
)
_SUGGESTIONS = re.compile(r"\(Possible options: (.+)\)$")


def translate_error(message: str) -> str:
    """The parser's English error message in Vietnamese (unchanged when unknown)."""
    for pattern, text in _ERRORS:
        if pattern.match(message):
            translated = pattern.sub(text, message)
            if found := _SUGGESTIONS.search(message):
                translated += f" Có phải là: {found[1]}?"
            return translated
    return message


# Typer shows each option's Python type (`<path>`, `<str>`); the analyst reads what to type.
_TYPE_WORDS = {"Path": "ĐƯỜNG DẪN", "str": "CHỮ", "int": "SỐ", "float": "SỐ"}


def _vietnamese_types(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "metavar", None) is not None or not hasattr(param, "bare_type"):
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
            continue
        word = _TYPE_WORDS.get(param.bare_type().removeprefix("<").removesuffix(">"))
        if word is None and "Path" in param.bare_type():
            word = _TYPE_WORDS["Path"]
        if word is not None:
            param.metavar = word
    return params


def _usage(text: str) -> str:
    return re.sub(r"^(\s*)Usage: ", r"\1Cách dùng: ", text)


def _vietnamese_errors(make: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return make(*args, **kwargs)
    except UsageError as exc:
        text = translate_error(exc.format_message())
        exc.format_message = lambda: text  # type: ignore[method-assign]
        raise


class _Vietnamese:
    """Usage line, help option and parse errors in Vietnamese, for a command or a group."""

    def get_usage(self, ctx: Any) -> str:
        return _usage(super().get_usage(ctx))  # type: ignore[misc]

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = HELP_TEXT
        return option

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        return _vietnamese_errors(super().make_context, *args, **kwargs)  # type: ignore[misc]

    def get_params(self, ctx: Any) -> list[Any]:
        return _vietnamese_types(super().get_params(ctx))  # type: ignore[misc]


class Command(_Vietnamese, TyperCommand):
    """A command whose usage line, help option and parse errors are in Vietnamese."""


class Group(_Vietnamese, TyperGroup):
    """A command group whose usage line, help option and parse errors are in Vietnamese."""


def install() -> None:
    """Set Typer's own panel titles and notes to Vietnamese (it reads them when printing)."""
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
