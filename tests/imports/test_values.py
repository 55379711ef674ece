from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from patron.imports import people, values

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5)),
        ("2024-03-05 09:30:15", datetime(2024, 3, 5, 9, 30, 15)),
        ("2024-03-05T09:30", datetime(2024, 3, 5, 9, 30)),
        ("20240305", datetime(2024, 3, 5)),
        ("2024/3/5", datetime(2024, 3, 5)),
        ("2024/3/5 9:30", datetime(2024, 3, 5, 9, 30)),
        ("2024/03/05 09:30:15", datetime(2024, 3, 5, 9, 30, 15)),
        ("2024-3-5", datetime(2024, 3, 5)),
        ("2024年3月5日", datetime(2024, 3, 5)),
        ("2024-03-05T01:30:00+00:00", datetime(2024, 3, 5, 9, 30)),
        (datetime(2024, 3, 5, 9, 30), datetime(2024, 3, 5, 9, 30)),
        (date(2024, 3, 5), datetime(2024, 3, 5)),
        (45356.5, datetime(2024, 3, 5, 12, 0)),
    ],
)
def test_dates_in_every_accepted_form(raw: values.Cell, expected: datetime) -> None:
    assert values.moment(raw, zone=ZONE) == expected


@pytest.mark.parametrize("raw", ["2024-02-30", "2024/13/1", "yesterday", "5/3/2024", "12"])
def test_dates_that_are_not_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="date"):
        values.moment(raw, zone=ZONE)


@pytest.mark.parametrize(
    ("raw", "expected", "currency"),
    [
        ("1234.5", Decimal("1234.50"), None),
        ("¥1,234.50", Decimal("1234.50"), "CNY"),
        ("￥66.60", Decimal("66.60"), "CNY"),
        ("$12", Decimal("12.00"), "USD"),
        ("1 234,00", None, None),
        ("66.6元", Decimal("66.60"), None),
        (12.345, Decimal("12.35"), None),
        (7, Decimal("7.00"), None),
    ],
)
def test_amounts(raw: values.Cell, expected: Decimal | None, currency: str | None) -> None:
    if expected is None:
        # A comma as decimal mark reads as a thousands separator: 1 234,00 is 123400.
        assert values.amount(raw)[0] == Decimal("123400.00")
        return
    assert values.amount(raw) == (expected, currency)


@pytest.mark.parametrize("raw", ["abc", "¥", "1e400", "NaN", "--5"])
def test_bad_amounts(raw: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        values.amount(raw)


def test_whole_numbers_flags_and_choices() -> None:
    assert values.whole("3") == 3
    assert values.whole(3.0) == 3
    with pytest.raises(ValueError, match="whole"):
        values.whole("2.5")
    with pytest.raises(ValueError, match="outside"):
        values.whole("11", low=0, high=10)
    assert values.flag("是") is True
    assert values.flag("no") is False
    with pytest.raises(ValueError, match="yes or no"):
        values.flag("maybe")
    parse = values.choice_parser({"paid": "paid", "已支付": "paid"}, "status")
    assert parse("已支付") == "paid"
    assert parse("PAID") == "paid"
    with pytest.raises(ValueError, match="use one of: paid"):
        parse("gone")
    assert values.currency("人民币") == "CNY"
    with pytest.raises(ValueError, match="currency"):
        values.currency("dollars")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("腊月初八", "12-08"),
        ("正月十五", "01-15"),
        ("闰四月廿一", "L04-21"),
        ("八月三十", "08-30"),
        ("12-08", "12-08"),
        ("3/5", "03-05"),
        ("冬月二十", "11-20"),
    ],
)
def test_lunar_birthdays(raw: str, expected: str) -> None:
    assert people.lunar_birthday(raw) == expected


@pytest.mark.parametrize("raw", ["十三月初一", "腊月四十", "13-01", "someday"])
def test_bad_lunar_birthdays(raw: str) -> None:
    with pytest.raises(ValueError, match="lunar"):
        people.lunar_birthday(raw)


def test_credit_codes_check_their_last_character() -> None:
    assert people.credit_code("91350100m000100y43") == "91350100M000100Y43"
    with pytest.raises(ValueError, match="check character"):
        people.credit_code("91350100M000100Y44")
    with pytest.raises(ValueError, match="18 characters"):
        people.credit_code("9135")
