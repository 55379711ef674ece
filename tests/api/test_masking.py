"""Masking personal data: enough to recognise a record, never enough to contact someone."""

from __future__ import annotations

from datetime import date

from patron.api.masking import mask_address, mask_birthday, mask_email, mask_personal, mask_phone


def test_phones_keep_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone("+14155550123") == "+1 415***0123"
    assert mask_phone("12345") == "****45"
    assert mask_phone(None) is None


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
