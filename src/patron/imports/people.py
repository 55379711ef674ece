"""Values particular to customers: gender, lunar birthdays and unified social credit codes."""

from __future__ import annotations

import re

from patron.imports.values import Cell, text

GENDERS = {
    "male": "male",
    "m": "male",
    "man": "male",
    "男": "male",
    "先生": "male",
    "female": "female",
    "f": "female",
    "woman": "female",
    "女": "female",
    "女士": "female",
    "other": "other",
    "其他": "other",
    "unknown": "other",
    "未知": "other",
}
_LUNAR_MONTHS = {
    "正": 1,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "冬": 11,
    "十一": 11,
    "腊": 12,
    "十二": 12,
}
_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_LUNAR_CHINESE = re.compile(r"^(闰)?(正|十一|十二|冬|腊|[一二三四五六七八九十])月(.{2})$")
_LUNAR_NUMERIC = re.compile(r"^(闰|L)?(\d{1,2})[-/.月](\d{1,2})日?$", re.IGNORECASE)
# GB 32100-2015: 18 characters from this alphabet, the last one a weighted check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def lunar_birthday(raw: Cell) -> str:
    """A lunar month and day as `MM-DD` (`L04-08` for a leap month): `腊月初八`, `12-08`."""
    value = text(raw, limit=16).replace(" ", "")
    numeric = _LUNAR_NUMERIC.match(value)
    if numeric:
        leap, month, day_of_month = numeric.group(1), int(numeric.group(2)), int(numeric.group(3))
    else:
        chinese = _LUNAR_CHINESE.match(value)
        if not chinese:
            raise ValueError(f"'{value}' is not a lunar birthday (like 腊月初八 or 12-08)")
        leap, month = chinese.group(1), _LUNAR_MONTHS[chinese.group(2)]
        day_of_month = _lunar_day(chinese.group(3), value)
    if not (1 <= month <= 12 and 1 <= day_of_month <= 30):
        raise ValueError(f"'{value}' is not a lunar month and day")
    return f"{'L' if leap else ''}{month:02d}-{day_of_month:02d}"


def _lunar_day(name: str, original: str) -> int:
    first, second = name[0], name[1]
    if first == "初":
        number = 10 if second == "十" else _DIGITS.get(second, 0)
    elif first == "十":
        number = 10 + _DIGITS.get(second, -10)
    elif first in "廿二" and (second == "十" or first == "廿"):
        number = 20 if second == "十" else 20 + _DIGITS.get(second, -20)
    elif name == "三十":
        number = 30
    else:
        number = 0
    if number <= 0:
        raise ValueError(f"'{original}' is not a lunar birthday (like 腊月初八 or 12-08)")
    return number


def credit_code(raw: Cell) -> str:
    """An 18-character unified social credit code (统一社会信用代码) whose check digit holds."""
    value = text(raw, limit=32).upper().replace(" ", "")
    if len(value) != 18 or any(ch not in _CREDIT_ALPHABET for ch in value):
        raise ValueError(f"'{value}' is not a unified social credit code (18 characters)")
    total = sum(
        _CREDIT_ALPHABET.index(ch) * weight
        for ch, weight in zip(value[:17], _CREDIT_WEIGHTS, strict=True)
    )
    expected = _CREDIT_ALPHABET[(31 - total % 31) % 31]
    if value[17] != expected:
        raise ValueError(f"'{value}' has a wrong check character (expected {expected})")
    return value
