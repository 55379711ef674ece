"""Orders drawn from each customer's purchase rhythm, all customers at once (no Python loops)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo import profiles as pf
from patron.demo.profiles import Profile

SECONDS_PER_DAY = 86_400
OPEN_SECONDS = 9 * 3600  # orders fall in business hours, 09:00 to 22:00
OPEN_LENGTH = 13 * 3600
STATUSES = ("paid", "refunded", "cancelled")  # orders hold an index into this
STATUS_PAID = 0
STATUS_SHARES = (0.95, 0.03, 0.02)


@dataclass(frozen=True)
class Timeline:
    """Where each customer's buying starts, stops and pauses, in days before the end date."""

    first_ago: np.ndarray
    stop_ago: np.ndarray  # no orders more recent than this (0 for customers still buying)
    silent_from_ago: np.ndarray  # won-back customers: silent from here ...
    return_ago: np.ndarray  # ... until here (both 0 for every other profile)


def position_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... restarting for each group of a repeated index with these group sizes."""
    starts = np.cumsum(counts) - counts
    return np.asarray(np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts))


def group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A running total of values that restarts with each group."""
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.concatenate(([0.0], total))[starts]
    return np.asarray(total - np.repeat(before, counts))


def draw_timeline(rng: np.random.Generator, codes: np.ndarray) -> Timeline:
    """First purchase, churn stop and won-back pause for each customer, by profile."""
    n = codes.size
    low = np.array([pf.RHYTHMS[p].first_days_ago[0] for p in pf.PROFILES])[codes]
    high = np.array([pf.RHYTHMS[p].first_days_ago[1] for p in pf.PROFILES])[codes]
    first_ago = rng.uniform(low, high)
    churned = codes == pf.PROFILES.index(Profile.churned)
    stop = rng.uniform(*pf.CHURN_STOP_DAYS_AGO, size=n)
    # A churned customer bought for at least a couple of months before stopping.
    stop = np.minimum(stop, first_ago - 60.0)
    stop_ago = np.where(churned, stop, 0.0)
    won_back = codes == pf.PROFILES.index(Profile.won_back)
    silent = np.where(won_back, rng.uniform(*pf.SILENT_FROM_DAYS_AGO, size=n), 0.0)
    back = np.where(won_back, rng.uniform(*pf.RETURN_DAYS_AGO, size=n), 0.0)
    return Timeline(first_ago, stop_ago, silent, back)


def expected_orders(codes: np.ndarray, timeline: Timeline, gap_mean: np.ndarray) -> np.ndarray:
    """How many orders each customer's rhythm gives on average over their active time."""
    active = (
        timeline.first_ago - timeline.stop_ago - (timeline.silent_from_ago - timeline.return_ago)
    )
    growth = pf.column("gap_growth")[codes]
    grows = growth > 1.0
    expected = np.where(
        grows,
        np.log1p((growth - 1.0) * active / gap_mean) / np.log(np.where(grows, growth, 2.0)),
        active / gap_mean,
    )
    return np.asarray(np.maximum(expected, 0.0) + 1.0)


def _order_budget(codes: np.ndarray, timeline: Timeline, gap_mean: np.ndarray) -> np.ndarray:
    """A generous upper bound on each customer's orders, so the rhythm is never cut short."""
    expected = expected_orders(codes, timeline, gap_mean)
    return np.asarray(np.ceil(1.3 * expected + 4.0 * np.sqrt(expected) + 4.0).astype(np.int64))


def draw_days_ago(
    rng: np.random.Generator, codes: np.ndarray, timeline: Timeline, pace: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each order's customer (local index) and its time in days before the end date."""
    gap_mean = pf.column("gap_days")[codes] / pace
    budget = _order_budget(codes, timeline, gap_mean)
    owner = np.repeat(np.arange(codes.size, dtype=np.int64), budget)
    step = position_in_group(budget)
    shape = pf.column("gap_shape")[codes][owner]
    gaps = rng.gamma(shape, gap_mean[owner] / shape)
    gaps *= pf.column("gap_growth")[codes][owner] ** np.minimum(step, 60)
    gaps[step == 0] = 0.0
    ago = timeline.first_ago[owner] - group_cumsum(gaps, budget)
    ago = _pause_won_back(owner, ago, timeline)
    keep = ago >= np.maximum(timeline.stop_ago[owner], 0.0)
    return owner[keep], ago[keep]


def _pause_won_back(owner: np.ndarray, ago: np.ndarray, timeline: Timeline) -> np.ndarray:
    """Push a won-back customer's orders after the silence so the first lands on the return."""
    silent_from = timeline.silent_from_ago[owner]
    after = (ago < silent_from) & (silent_from > 0.0)
    first_after = np.full(timeline.first_ago.size, -np.inf)
    np.maximum.at(first_after, owner[after], ago[after])
    pause = np.where(np.isfinite(first_after), first_after - timeline.return_ago, 0.0)
    return np.where(after, ago - pause[owner], ago)


def to_datetimes(rng: np.random.Generator, ago: np.ndarray, end: np.datetime64) -> np.ndarray:
    """Days-ago values as business-hours datetimes, never later than the end moment."""
    end_s = end.astype("datetime64[s]")
    day = end_s.astype("datetime64[D]") - np.floor(ago).astype("timedelta64[D]")
    seconds = OPEN_SECONDS + rng.integers(0, OPEN_LENGTH, size=ago.size)
    moment = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    # Today's orders cannot be later than the end moment itself.
    return np.asarray(
        np.minimum(moment, end_s - rng.integers(0, 3600, size=ago.size).astype("timedelta64[s]"))
    )


def draw_amount_cents(
    rng: np.random.Generator, codes: np.ndarray, owner: np.ndarray, spend_level: np.ndarray
) -> np.ndarray:
    """Order amounts in cents: lognormal around the profile's median times the customer's level."""
    median = pf.column("amount_median")[codes][owner] * spend_level[owner]
    sigma = pf.column("amount_sigma")[codes][owner]
    amount = rng.lognormal(np.log(median), sigma)
    # Prices end in .00 or .90 most of the time, as shop prices do.
    yuan = np.maximum(np.round(amount), 1.0)
    cents = np.where(rng.random(amount.size) < 0.4, -10, 0)
    return np.asarray((yuan * 100 + cents).astype(np.int64))


def draw_statuses(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mostly paid, a few refunded or cancelled."""
    return rng.choice(3, size=n, p=STATUS_SHARES).astype(np.int8)
