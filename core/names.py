"""Names and text from outside made safe to store and to use as file names.

File names come from whoever filled the inbox: any bytes a file system allows (a name that is
not valid UTF-8 arrives as a `str` with lone surrogates, Python's `surrogateescape`), any
length, control characters, names Windows reserves (`CON`, `NUL`, `COM1`…). Unit codes are
whatever a unit typed. Text from outside is stored (DuckDB refuses lone surrogates) and written
into workbooks (Excel refuses most control characters), so it passes through here first: valid
UTF-8 is kept as it is, anything else is escaped visibly (`\\xff`), never dropped in silence.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Characters an .xlsx cannot hold (openpyxl's IllegalCharacterError): C0 controls but tab,
# newline and carriage return.
_EXCEL_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Characters no file name may hold on Windows or POSIX, and every control character.
_NAME_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]')
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{stem}{n}" for stem in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)
# Bytes of one name (stem and suffix) in UTF-8: file systems allow 255.
NAME_BYTES = 120


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # Surrogate-escaped bytes of a non-UTF-8 name show as the byte; any other lone surrogate
    # as its code point.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def _percent(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"%u{code:04X}"


def storable(text: str) -> str:
    """The text, with lone surrogates (bytes of a non-UTF-8 name) escaped visibly as `\\xff`.

    Valid text is returned unchanged: only what UTF-8 cannot encode is replaced.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def excel_text(text: str) -> str:
    """Text an .xlsx cell, comment or sheet title can hold: storable, forbidden controls as `?`."""
    return _EXCEL_ILLEGAL.sub("?", storable(text))


def _bounded(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def safe_name(text: str | None, *, fallback: str, limit: int = NAME_BYTES) -> str:
    """One path component from any text: NFC, no separators or controls, bounded, not reserved.

    Args:
        text: a file stem, unit code or folder name as it came from outside.
        fallback: what to use when nothing usable is left.
        limit: the most UTF-8 bytes of the result; a cut name gets a short hash of the whole
            so that two long names differing only at the end stay apart.

    Returns:
        A name that is valid UTF-8 (bytes that were not shown as `%FF`), at most `limit`
        bytes, never `.`/`..`, never a name Windows reserves (`CON`, `nul.txt`…: prefixed
        with `_`).
    """
    # Bytes of a non-UTF-8 name as `%FF`: a backslash is no part of a Windows name.
    name = _SURROGATE.sub(_percent, text or "")
    name = unicodedata.normalize("NFC", name)
    name = _NAME_FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name.encode("utf-8")) > limit:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        name = _bounded(name, limit - 9).rstrip(" .") + "~" + digest
    if not name:
        return fallback
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name
