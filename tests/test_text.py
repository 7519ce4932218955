import unicodedata

import pytest

from khcn.text import canonical, decode_text, fold


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


def _cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: letters precomposed, tones combining."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", ch)
            tones = "".join(m for m in marks if m in "\u0300\u0301\u0303\u0309\u0323")
            letter = unicodedata.normalize(
                "NFC", base + "".join(m for m in marks if m not in tones)
            )
            out += (letter + tones).encode("cp1258")
    return out


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1258"])
def test_decode_text_reads_office_encodings(encoding: str) -> None:
    text = "Mã đơn vị;Kỳ báo cáo\nTHON-01;Quý III/2026\n"
    raw = _cp1258(text) if encoding == "cp1258" else text.encode(encoding)
    assert canonical(decode_text(raw)) == canonical(text)
