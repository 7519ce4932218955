"""The commune in the national list of administrative units (NSO codes, `vietnam-provinces`)."""

from __future__ import annotations

from core.settings import Settings
from core.text import fold


def describe_commune(settings: Settings) -> str:
    """The configured commune as the national list names it.

    Two communes are called Nghĩa Hưng (13891 in Ninh Bình, 16972 in Nghệ An), so the name alone
    does not say which: without `commune_code` the answer lists the candidates.

    Raises:
        ValueError: `commune_code` is not a commune of the list, or is another commune's.
    """
    from vietnam_provinces import Province, Ward, WardCode

    wanted = fold(f"xã {settings.commune_name}")
    if settings.commune_code is None:
        found = [
            f"{w.code.value} ({Province.from_code(w.province_code).name})"
            for w in Ward.iter_all()
            if fold(w.name) == wanted
        ]
        return (
            f"xã {settings.commune_name}, chưa đặt commune_code; danh mục quốc gia có "
            f"{len(found)} xã cùng tên: {', '.join(found) or 'không có'}"
        )
    try:
        ward = Ward.from_code(WardCode(int(settings.commune_code)))
    except ValueError:
        raise ValueError(
            f"commune_code {settings.commune_code} không có trong danh mục đơn vị hành chính"
        ) from None
    if fold(ward.name) != wanted:
        raise ValueError(
            f"commune_code {settings.commune_code} là {ward.name}, không phải "
            f"xã {settings.commune_name}"
        )
    province = Province.from_code(ward.province_code).name
    return f"{ward.name} (mã {ward.code.value}, {province})"
