import unicodedata

import pytest

from core.text import canonical, decode_text, fold
from tests.filemakers import to_cp1258_form


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("Phòng Văn hóa – Xã hội", "Phòng Văn hoá - Xã hội"),
        (unicodedata.normalize("NFD", "Phòng Văn hoá - Xã hội"), "Phòng Văn hoá - Xã hội"),
        ("thủy lợi,  khỏe\u00a0mạnh", "thuỷ lợi, khoẻ mạnh"),
        ("Ủy ban nhân dân", "Uỷ ban nhân dân"),
        ("quý, hoàng, toán, khoái", "quý, hoàng, toán, khoái"),
    ],
)
def test_canonical_gives_one_spelling(variant: str, expected: str) -> None:
    assert canonical(variant) == expected
    assert unicodedata.is_normalized("NFC", canonical(variant))


@pytest.mark.parametrize(
    "variant",
    [
        "Mã chỉ tiêu",
        "MÃ CHỈ TIÊU",
        "Ma chi tieu",
        " mã  chỉ\ttiêu ",
        unicodedata.normalize("NFD", "Mã chỉ tiêu"),
    ],
)
def test_fold_matches_whatever_was_typed(variant: str) -> None:
    assert fold(variant) == "ma chi tieu"


def test_fold_keeps_words_apart() -> None:
    assert fold("Đơn vị") == "don vi"
    assert fold("Phòng Văn hóa-Xã hội") == fold("Phòng Văn hoá – Xã hội")
    assert fold("Thôn") != fold("Thông")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1258"])
def test_decode_text_reads_office_encodings(encoding: str) -> None:
    text = "Mã đơn vị;Kỳ báo cáo\nTHON-01;Quý III/2026\n"
    raw = (to_cp1258_form(text) if encoding == "cp1258" else text).encode(encoding)
    assert canonical(decode_text(raw)) == canonical(text)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("a\u200b-\u200bb", "a - b"),  # zero-width spaces around a dash
        ("Đ\ufeff—\u00a0đ", "d - d"),
        (" \u0301-\u0301 ", "-"),  # marks on nothing but spaces and a dash
        ("Huy hiệu \U0001f3c5 İstanbul", "huy hieu \U0001f3c5 istanbul"),
        ("THÔN\tĐÔNG\n", "thon dong"),
    ],
)
def test_fold_of_any_text_is_the_fold_of_its_canonical_spelling(
    variant: str, expected: str
) -> None:
    assert fold(variant) == expected
    assert fold(canonical(variant)) == expected
    assert fold(unicodedata.normalize("NFD", variant)) == expected


def test_rare_characters_and_long_words_leave_no_trace() -> None:
    """A cell full of rare characters (emoji, CJK) or of words no syllable is that long leaves
    nothing behind in a reading process's memory."""
    from core.text import _FOLDING, _placed

    folded, placed = len(_FOLDING), _placed.cache_info().currsize
    assert fold("".join(chr(c) for c in range(0x4E00, 0x5E00))) != ""
    assert canonical(" ".join(f"Thuỷlợiđiệnkhoẻ{n}" for n in range(500))).startswith("Thuỷ")
    assert len(_FOLDING) == folded and _placed.cache_info().currsize == placed
