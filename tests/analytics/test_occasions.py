"""Birthdays, anniversaries and festivals against published calendar dates."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from patron.analytics.occasions import (
    EPOCH,
    festival_days_until,
    lunar_birthdays_until,
    lunar_to_solar,
    parse_lunar,
    solar_days_until,
)
from patron.errors import InvalidInput

TODAY = date(2026, 11, 23)


def test_lunar_festivals_fall_on_their_published_days() -> None:
    # Spring Festival 2027 is 6 February; Mid-Autumn 2027 is 15 September; New Year is solar.
    assert festival_days_until("spring_festival", TODAY) == (date(2027, 2, 6) - TODAY).days
    assert festival_days_until("mid_autumn", TODAY) == (date(2027, 9, 15) - TODAY).days
    assert festival_days_until("new_year", TODAY) == 39
    with pytest.raises(InvalidInput, match="unknown festival 'easter'"):
        festival_days_until("easter", TODAY)


def test_leap_months_and_short_months() -> None:
    assert lunar_to_solar(2025, 6, 1, leap=True) == date(2025, 7, 25)  # 闰六月初一
    assert lunar_to_solar(2025, 6, 1) == date(2025, 6, 25)
    assert lunar_to_solar(2026, 2, 30) == lunar_to_solar(2026, 2, 29)  # a 29-day month
    assert parse_lunar("闰04-10") == (4, 10, True)
    assert parse_lunar("1990-08-15") == (8, 15, False)


def test_days_until_birthdays_solar_and_lunar() -> None:
    days = np.array([(date(1990, 11, 23) - EPOCH).days, (date(2000, 2, 29) - EPOCH).days, np.nan])
    assert solar_days_until(days, TODAY)[:2].tolist() == [0.0, 97.0]  # 29 Feb -> 28 Feb 2027
    lunar = lunar_birthdays_until(np.array(["08-15", None, "not a date"], dtype=object), TODAY)
    assert lunar[0] == (date(2027, 9, 15) - TODAY).days
    assert np.isnan(lunar[1:]).all()
