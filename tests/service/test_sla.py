"""Business-hours arithmetic with fixed datetimes: weekends, after hours, grade factors."""

from __future__ import annotations

from datetime import datetime

import pytest

from patron.errors import ConfigError
from patron.rules.rulebook import Service, SlaTarget, default
from patron.service.sla import Calendar, add_business_hours, due_times

WEEKDAYS = Calendar(9, 18, frozenset({1, 2, 3, 4, 5}))
FRIDAY = datetime(2026, 11, 20, 17, 0)  # 2026-11-20 is a Friday


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    assert add_business_hours(FRIDAY, 4, WEEKDAYS) == datetime(2026, 11, 23, 12, 0)


def test_within_one_day() -> None:
    assert add_business_hours(datetime(2026, 11, 23, 10, 0), 3, WEEKDAYS) == datetime(
        2026, 11, 23, 13, 0
    )


def test_ending_exactly_at_closing_time_stays_that_day() -> None:
    assert add_business_hours(datetime(2026, 11, 23, 14, 0), 4, WEEKDAYS) == datetime(
        2026, 11, 23, 18, 0
    )


def test_after_hours_and_weekend_starts_count_from_next_opening() -> None:
    evening = datetime(2026, 11, 23, 20, 30)
    saturday = datetime(2026, 11, 21, 11, 0)
    early = datetime(2026, 11, 24, 6, 0)
    assert add_business_hours(evening, 1, WEEKDAYS) == datetime(2026, 11, 24, 10, 0)
    assert add_business_hours(saturday, 2, WEEKDAYS) == datetime(2026, 11, 23, 11, 0)
    assert add_business_hours(early, 0.5, WEEKDAYS) == datetime(2026, 11, 24, 9, 30)


def test_many_hours_span_several_weeks() -> None:
    # 120 business hours of 9 a day: 13 days and 3 hours, skipping two weekends.
    assert add_business_hours(datetime(2026, 11, 23, 9, 0), 120, WEEKDAYS) == datetime(
        2026, 12, 10, 12, 0
    )


def test_a_six_day_week() -> None:
    six = Calendar(8, 20, frozenset({1, 2, 3, 4, 5, 6}))
    assert add_business_hours(FRIDAY, 4, six) == datetime(2026, 11, 21, 9, 0)


def test_grade_factor_shortens_the_targets() -> None:
    service = default().service
    plain = due_times(service, priority="high", grade=None, opened_at=FRIDAY)
    graded_a = due_times(service, priority="high", grade="A", opened_at=FRIDAY)
    graded_c = due_times(service, priority="high", grade="C", opened_at=FRIDAY)
    # high: response 4h, resolution 24h; A halves them.
    assert plain.response_due_at == datetime(2026, 11, 23, 12, 0)
    assert graded_a.response_due_at == datetime(2026, 11, 23, 10, 0)
    assert plain.resolution_due_at == datetime(2026, 11, 25, 14, 0)
    assert graded_a.resolution_due_at == datetime(2026, 11, 24, 11, 0)
    assert graded_c == plain


def test_unusable_calendars_are_refused() -> None:
    with pytest.raises(ConfigError, match="business_hours"):
        Calendar.of(Service(business_hours=(18, 9)))
    with pytest.raises(ConfigError, match="business_days"):
        Calendar.of(Service(business_days=[]))
    with pytest.raises(ConfigError, match="no SLA target for priority urgent"):
        due_times(
            Service(targets=[SlaTarget(priority="low", response_hours=1, resolution_hours=2)]),
            priority="urgent",
            grade=None,
            opened_at=FRIDAY,
        )
