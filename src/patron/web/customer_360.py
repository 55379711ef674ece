"""What Customer 360 reads out of the latest scoring snapshot, and the next best action.

The snapshot holds the model outputs as of its run (docs/features.md): the expected days to
the next purchase from the customer's own rhythm (else the last product's repurchase cycle),
the expected purchases over the run's horizon, the days to the birthday, and the products the
run chose to offer (`explain.offers`, analytics/recommend.py). Counts of days are moved on from
the run's date to today, so an older run still gives today's answer.

The next best action is one suggestion, the first of these that holds:

1. the latest run warned about the customer: follow up on the warnings;
2. the latest NPS answer, in the last `DETRACTOR_WITHIN_DAYS` days, is a detractor's (0-6):
   a service call;
3. the birthday is within `BIRTHDAY_WITHIN_DAYS` days (only for those who may see it): a
   greeting;
4. the expected next purchase is more than `WIN_BACK_AFTER_DAYS` days late: a win-back offer;
5. otherwise nothing.

Each becomes a follow-up task in one click; the task's reason is the warnings, else the
action's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

DETRACTOR_WITHIN_DAYS = 90
DETRACTOR_MAX_SCORE = 6
BIRTHDAY_WITHIN_DAYS = 7
WIN_BACK_AFTER_DAYS = 14


@dataclass(frozen=True)
class NextPurchase:
    """When the customer is expected to buy next, and on what basis."""

    on: date | None
    """The expected day; None when the models expect no purchase within the horizon."""
    basis: str
    """`rhythm`: the usual gap between purchases (or the product's cycle); `model`: the
    horizon over the expected purchases."""
    expected_purchases: float | None
    horizon_days: int
    usual_gap_days: float | None

    def days_late(self, today: date) -> int:
        """Days since the expected day went by without a purchase; 0 when not yet due."""
        return max((today - self.on).days, 0) if self.on else 0


def _number(features: dict[str, Any], name: str) -> float | None:
    value = features.get(name)
    return float(value) if isinstance(value, int | float) else None


def expected_next_purchase(
    features: dict[str, Any], as_of: datetime, horizon_days: int
) -> NextPurchase | None:
    """The expected next purchase from a snapshot's features; None for a customer the models
    know nothing about (no purchase and no expected purchases)."""
    run_day = as_of.date()
    gap = _number(features, "avg_gap_days")
    purchases = _number(features, "expected_purchases")
    days = _number(features, "days_to_next_purchase")
    if days is not None:
        on = run_day + timedelta(days=round(days))
        return NextPurchase(on, "rhythm", purchases, horizon_days, gap)
    if purchases is None or purchases <= 0:
        return None
    # One purchase at the rate the model expects: on average horizon / expected purchases.
    wait = horizon_days / purchases
    within = run_day + timedelta(days=round(wait)) if wait <= horizon_days else None
    return NextPurchase(within, "model", purchases, horizon_days, gap)


def days_to_birthday(features: dict[str, Any], as_of: datetime, today: date) -> int | None:
    """Days from today to the birthday the run counted to; None when unknown or gone by."""
    days = _number(features, "days_to_birthday")
    if days is None:
        return None
    left = round(days) - (today - as_of.date()).days
    return left if left >= 0 else None


@dataclass(frozen=True)
class Offer:
    """A product the scoring run suggests offering: due again, or often bought with theirs."""

    product: str
    name: str
    reason: str


def offers(explain: dict[str, Any]) -> list[Offer]:
    """The products the run chose for the customer, best first."""
    return [
        Offer(str(o.get("product") or ""), str(o.get("name") or ""), str(o.get("reason") or ""))
        for o in explain.get("offers") or []
        if isinstance(o, dict)
    ]


class ActionKind(enum.StrEnum):
    follow_up = "follow_up"
    service_call = "service_call"
    birthday_greeting = "birthday_greeting"
    win_back = "win_back"


@dataclass(frozen=True)
class CustomerState:
    """What the next best action looks at."""

    warnings: tuple[str, ...] = ()
    nps_score: int | None = None
    nps_days_ago: int | None = None
    birthday_in_days: int | None = None
    days_late: int = 0


@dataclass(frozen=True)
class NextAction:
    """The suggestion and the reason its follow-up task carries."""

    kind: ActionKind
    reason: str


def next_best_action(state: CustomerState) -> NextAction | None:
    """The first action of the module's list that the state calls for, else None."""
    if state.warnings:
        return NextAction(ActionKind.follow_up, ";".join(state.warnings))
    if (
        state.nps_score is not None
        and state.nps_score <= DETRACTOR_MAX_SCORE
        and state.nps_days_ago is not None
        and state.nps_days_ago <= DETRACTOR_WITHIN_DAYS
    ):
        return NextAction(ActionKind.service_call, ActionKind.service_call.value)
    if state.birthday_in_days is not None and state.birthday_in_days <= BIRTHDAY_WITHIN_DAYS:
        return NextAction(ActionKind.birthday_greeting, ActionKind.birthday_greeting.value)
    if state.days_late > WIN_BACK_AFTER_DAYS:
        return NextAction(ActionKind.win_back, ActionKind.win_back.value)
    return None
