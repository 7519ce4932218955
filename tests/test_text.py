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
