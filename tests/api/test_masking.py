"""Masking personal data: enough to recognise a record, never enough to contact someone."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from patron.api.masking import (
    _mask_parsed,
    mask_address,
    mask_birthday,
    mask_email,
    mask_personal,
    mask_phone,
)


def test_phones_keep_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone("+14155550123") == "+1 415***0123"
    assert mask_phone("12345") == "****45"
    assert mask_phone(None) is None


mobiles = st.builds(
    lambda second, rest, plus: ("+86" if plus else "") + "1" + second + rest,
    st.sampled_from("0123456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.booleans(),
)


@settings(max_examples=3000)
@given(mobiles)
def test_mainland_mobiles_mask_as_their_parse_does(value: str) -> None:
    # The shortcut for mainland mobile numbers gives exactly what parsing the number gives,
    # 179xx included (the parser reads it as a prefix for calls abroad).
    assert mask_phone(value) == _mask_parsed(value, "CN")


def test_179_numbers_are_masked_by_their_parse() -> None:
    assert mask_phone("17942009332") == _mask_parsed("17942009332", "CN") == "+93 ****32"
    assert mask_phone("+8617942009332") == "179****9332"


def test_emails_keep_the_first_letter_and_the_domain() -> None:
    assert mask_email("zhangsan@example.com") == "z***@example.com"
    assert mask_email("not-an-address") == "n***"


def test_addresses_and_birthdays_lose_the_identifying_part() -> None:
    assert mask_address("上海市浦东新区世纪大道100号") == "上海市浦东***"
    assert mask_address("短") == "***"
    assert mask_birthday(date(1990, 6, 15)) == "****-06-**"
    assert mask_birthday("1990-06-15") == "****-06-**"
    assert mask_birthday(None) is None


def test_mask_personal_masks_only_personal_fields() -> None:
    record = {"name": "张三", "phone": "+8613800138000", "city": "上海"}
    assert mask_personal(record) == {"name": "张三", "phone": "138****8000", "city": "上海"}
    assert record["phone"] == "+8613800138000"
