"""Schedules: parsing, when a job is next due, and settings overrides."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from patron.errors import InvalidInput
from patron.worker.schedule import DailyAt, Every, WorkerSettings, parse_timing, timings


@pytest.mark.parametrize(
    ("text", "timing"),
    [
        ("every 30s", Every(30)),
        ("every 5m", Every(300)),
        ("Every 2h", Every(7200)),
        ("daily 02:00", DailyAt(time(2, 0))),
        ("daily 23:59", DailyAt(time(23, 59))),
        ("off", None),
    ],
)
def test_schedules_are_read(text: str, timing: Every | DailyAt | None) -> None:
    assert parse_timing(text) == timing


@pytest.mark.parametrize("text", ["hourly", "every 5 days", "daily 24:00", "daily 2", "every -1s"])
def test_bad_schedules_are_refused_plainly(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a schedule"):
        parse_timing(text)


def test_a_daily_job_is_due_at_its_next_time() -> None:
    nightly = DailyAt(time(2, 0))
    assert nightly.first_due(datetime(2024, 5, 1, 1, 0)) == datetime(2024, 5, 1, 2, 0)
    assert nightly.first_due(datetime(2024, 5, 1, 2, 0)) == datetime(2024, 5, 1, 2, 0)
    assert nightly.first_due(datetime(2024, 5, 1, 9, 0)) == datetime(2024, 5, 2, 2, 0)
    assert nightly.next_due(datetime(2024, 5, 1, 2, 0)) == datetime(2024, 5, 2, 2, 0)


def test_an_interval_job_is_due_at_once_then_after_its_interval() -> None:
    minutely = Every(60)
    start = datetime(2024, 5, 1, 9, 0)
    assert minutely.first_due(start) == start
    assert minutely.next_due(start) == datetime(2024, 5, 1, 9, 1)


def test_settings_override_and_switch_off_jobs() -> None:
    settings = WorkerSettings(schedule={"scoring": "daily 01:30", "points_expiry": "off"})
    chosen = timings(settings, ["scoring", "points_expiry", "sla"])
    assert chosen == {"scoring": DailyAt(time(1, 30)), "sla": Every(60)}


def test_the_schedule_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRON_WORKER_SCHEDULE", '{"sla": "every 2m"}')
    assert timings(WorkerSettings(), ["sla"]) == {"sla": Every(120)}


def test_an_unknown_job_in_the_schedule_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown jobs"):
        timings(WorkerSettings(schedule={"sccoring": "daily 01:00"}), ["scoring"])
