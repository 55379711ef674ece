import pytest

from patron.customers import normalise
from patron.errors import InvalidInput


@pytest.mark.parametrize(
    "raw",
    ["138-0013-8000", "+86 13800138000", "0086 138 0013 8000", "13800138000", "(+86)138 0013 8000"],
)
def test_phones_written_many_ways_are_one_number(raw: str) -> None:
    assert normalise.phone(raw) == "+8613800138000"


def test_invalid_phone_is_refused_with_its_text() -> None:
    with pytest.raises(InvalidInput, match="'12345'"):
        normalise.phone("12345")


def test_initials_of_chinese_and_latin_names() -> None:
    assert normalise.initials("张三") == "zs"
    assert normalise.initials("Apple 张三 Ltd") == "azsl"


def test_company_key_ignores_width_case_and_punctuation() -> None:
    assert normalise.company_key("ＡＢＣ 科技（上海）有限公司") == normalise.company_key(
        "abc科技(上海)有限公司"
    )
