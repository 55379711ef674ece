"""Days until each customer's next birthday (solar or lunar) and anniversary, and festivals.

Solar dates are computed on whole arrays; lunar birthdays are converted once per distinct
lunar month and day, so the cost does not grow with the number of customers.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from lunar_python import Lunar, LunarYear

from patron.errors import InvalidInput

EPOCH = date(1970, 1, 1)

# Festival ids -> (calendar, month, day).
FESTIVALS: dict[str, tuple[str, int, int]] = {
    "spring_festival": ("lunar", 1, 1),
    "lantern": ("lunar", 1, 15),
    "dragon_boat": ("lunar", 5, 5),
    "qixi": ("lunar", 7, 7),
    "mid_autumn": ("lunar", 8, 15),
    "double_ninth": ("lunar", 9, 9),
    "new_year": ("solar", 1, 1),
    "valentines": ("solar", 2, 14),
    "womens_day": ("solar", 3, 8),
    "labour_day": ("solar", 5, 1),
    "national_day": ("solar", 10, 1),
    "christmas": ("solar", 12, 25),
}

_LUNAR = re.compile(r"^(?:(\d{4})-)?(闰|L)?(\d{1,2})-(\d{1,2})$")


def _solar_next(
    month: np.ndarray[Any, Any], day: np.ndarray[Any, Any], today: date
) -> np.ndarray[Any, Any]:
    """Days from today to the next (month, day), Feb 29 falling on Feb 28 in common years."""
    result = np.full(month.shape, np.nan)
    for offset in (0, 1):
        year = today.year + offset
        starts = np.array(
            [np.datetime64(f"{year}-{m:02d}-01") for m in range(1, 13)]
            + [np.datetime64(f"{year + 1}-01-01")]
        )
        lengths = (starts[1:] - starts[:-1]).astype(np.int64)
        valid = ~np.isnan(month)
        m = month[valid].astype(np.int64)
        d = np.minimum(day[valid].astype(np.int64), lengths[m - 1])
        when = starts[m - 1] + (d - 1).astype("timedelta64[D]")
        days = (when - np.datetime64(today)).astype(np.int64).astype(np.float64)
        current = result[valid]
        result[valid] = np.where(np.isnan(current) & (days >= 0), days, current)
    return result


def solar_days_until(epoch_days: np.ndarray[Any, Any], today: date) -> np.ndarray[Any, Any]:
    """For each date (as days since 1970-01-01, NaN when unknown), days to its next anniversary."""
    values = np.asarray(epoch_days, dtype=np.float64)
    month = np.full(values.shape, np.nan)
    day = np.full(values.shape, np.nan)
    known = ~np.isnan(values)
    dates = values[known].astype(np.int64).astype("datetime64[D]")
    month[known] = (dates.astype("datetime64[M]").astype(np.int64) % 12) + 1
    day[known] = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    return _solar_next(month, day, today)


def parse_lunar(text: str) -> tuple[int, int, bool]:
    """A lunar birthday as (month, day, leap month): `08-15`, `1990-08-15`, `闰04-10`."""
    found = _LUNAR.match(text.strip())
    if not found:
        raise InvalidInput(f"'{text}' is not a lunar date (write it as MM-DD or YYYY-MM-DD)")
    month, day = int(found.group(3)), int(found.group(4))
    if not (1 <= month <= 12 and 1 <= day <= 30):
        raise InvalidInput(f"'{text}' is not a lunar date: month 1-12, day 1-30")
    return month, day, bool(found.group(2))


@lru_cache(maxsize=64)
def _lunar_year(lunar_year: int) -> dict[int, tuple[date, int]]:
    """Each month of a lunar year (leap months negative): its first solar day and length."""
    months = {}
    for month in LunarYear.fromYear(lunar_year).getMonths():
        if month.getYear() == lunar_year:
            solar = Lunar.fromYmd(lunar_year, month.getMonth(), 1).getSolar()
            first = date(solar.getYear(), solar.getMonth(), solar.getDay())
            months[month.getMonth()] = (first, month.getDayCount())
    return months


def lunar_to_solar(lunar_year: int, month: int, day: int, leap: bool = False) -> date:
    """The solar date of a lunar month and day in a lunar year (a missing day 30: the 29th)."""
    months = _lunar_year(lunar_year)
    # No such leap month this year: keep the ordinary month.
    first, length = months.get(-month if leap else month) or months[month]
    return first + timedelta(days=min(day, length) - 1)


@lru_cache(maxsize=4096)
def lunar_days_until(month: int, day: int, today: date, leap: bool = False) -> int:
    """Days to the next time a lunar month and day falls, on or after today."""
    for lunar_year in (today.year - 1, today.year, today.year + 1):
        when = lunar_to_solar(lunar_year, month, day, leap)
        if when >= today:
            return (when - today).days
    raise InvalidInput(f"no lunar {month}-{day} found within a year of {today}")


def lunar_birthdays_until(texts: np.ndarray[Any, Any], today: date) -> np.ndarray[Any, Any]:
    """Days to each next lunar birthday; NaN where none is given or it cannot be read.

    Each distinct text is converted once and the answers are gathered back, so a million
    customers cost a sort of their texts, not a million calendar conversions.
    """
    values = np.asarray(texts, dtype=object)
    result = np.full(len(values), np.nan)
    # The truth of each element, as `bool(text)`: None and "" are no birthday.
    given = np.flatnonzero(values.astype(bool))
    if not len(given):
        return result
    distinct, index = np.unique(values[given].astype(str), return_inverse=True)
    days = np.array([_lunar_days_or_nan(str(text), today) for text in distinct])
    result[given] = days[index.ravel()]
    return result


def _lunar_days_or_nan(text: str, today: date) -> float:
    try:
        month, day, leap = parse_lunar(text)
        return float(lunar_days_until(month, day, today, leap))
    except InvalidInput:
        return np.nan


@lru_cache(maxsize=1024)
def festival_days_until(festival: str, today: date) -> int:
    """Days from today to the festival's next occurrence."""
    if festival not in FESTIVALS:
        known = ", ".join(sorted(FESTIVALS))
        raise InvalidInput(f"unknown festival '{festival}'; known festivals: {known}")
    calendar, month, day = FESTIVALS[festival]
    if calendar == "lunar":
        return lunar_days_until(month, day, today)
    days = _solar_next(np.array([month], dtype=float), np.array([day], dtype=float), today)[0]
    return int(days)


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def day_of(epoch_day: int) -> date:
    """A date from days since 1970-01-01."""
    return EPOCH + timedelta(days=int(epoch_day))
