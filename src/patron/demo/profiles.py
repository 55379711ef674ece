"""The demo's customer profiles and the purchase rhythm each one follows."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class Profile(enum.StrEnum):
    loyal = "loyal"
    steady = "steady"
    declining = "declining"
    churned = "churned"
    won_back = "won_back"
    new = "new"


@dataclass(frozen=True)
class Rhythm:
    """How one profile buys: when it starts, how often, how much, and how it changes."""

    share: float
    first_days_ago: tuple[float, float]  # first purchase, uniform in this range of days ago
    gap_days: float  # mean days between purchases while active
    gap_shape: float  # gamma shape: higher means a more regular rhythm
    gap_growth: float  # each gap is this much longer than the one before (declining)
    amount_median: float  # median order amount in the currency's units
    amount_sigma: float  # lognormal spread of order amounts
    interactions: float  # mean interactions per customer
    tickets: float  # mean tickets per customer
    complaint_share: float  # share of tickets that are complaints
    nps_mean: float  # mean NPS answer before complaints pull it down


HISTORY_DAYS = 3 * 365

RHYTHMS: dict[Profile, Rhythm] = {
    Profile.loyal: Rhythm(0.10, (400, HISTORY_DAYS), 21, 3.0, 1.0, 800, 0.5, 6, 0.8, 0.05, 9.0),
    Profile.steady: Rhythm(0.30, (200, HISTORY_DAYS), 45, 2.0, 1.0, 300, 0.6, 4, 0.6, 0.10, 7.8),
    Profile.declining: Rhythm(
        0.15, (400, HISTORY_DAYS), 25, 2.0, 1.18, 350, 0.6, 3, 1.2, 0.40, 5.8
    ),
    Profile.churned: Rhythm(0.25, (420, HISTORY_DAYS), 40, 1.5, 1.0, 250, 0.7, 2, 0.9, 0.45, 5.0),
    Profile.won_back: Rhythm(0.05, (520, HISTORY_DAYS), 30, 2.0, 1.0, 300, 0.6, 4, 1.0, 0.30, 6.8),
    Profile.new: Rhythm(0.15, (0, 60), 18, 2.0, 1.0, 200, 0.6, 2, 0.3, 0.05, 8.0),
}

PROFILES: tuple[Profile, ...] = tuple(RHYTHMS)

# Churned customers stop buying this many days before the end date.
CHURN_STOP_DAYS_AGO = (120.0, 540.0)
# Won-back customers fall silent at the first range and come back at the second.
SILENT_FROM_DAYS_AGO = (230.0, 420.0)
RETURN_DAYS_AGO = (5.0, 60.0)


def column(field: str) -> np.ndarray:
    """One rhythm field for every profile, indexable by a profile code array."""
    return np.array([getattr(RHYTHMS[p], field) for p in PROFILES], dtype=np.float64)


def draw_profiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Profile codes (indexes into PROFILES) drawn by the profiles' shares."""
    shares = column("share")
    return rng.choice(len(PROFILES), size=n, p=shares / shares.sum()).astype(np.int8)
