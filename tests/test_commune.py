import pytest

from core.settings import Settings
from khcn.commune import describe_commune


@pytest.mark.parametrize(("code", "province"), [("13891", "Ninh Bình"), ("16972", "Nghệ An")])
def test_commune_code_names_the_commune(code: str, province: str) -> None:
    assert describe_commune(Settings(commune_code=code)) == f"Xã Nghĩa Hưng (mã {code}, {province})"


def test_without_a_code_both_namesakes_are_listed() -> None:
    described = describe_commune(Settings())
    assert "2 xã cùng tên" in described
    assert "13891 (Ninh Bình)" in described and "16972 (Nghệ An)" in described


@pytest.mark.parametrize(
    ("code", "message"),
    [("1", "không có trong danh mục"), ("13894", "là Xã Rạng Đông, không phải")],
)
def test_wrong_code_is_an_error(code: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        describe_commune(Settings(commune_code=code))
