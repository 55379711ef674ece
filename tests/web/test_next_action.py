"""What Customer 360 derives from a snapshot: the expected next purchase, the birthday's
distance, the offers, and the rule that picks the next best action."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from patron.web.customer_360 import (
    BIRTHDAY_WITHIN_DAYS,
    DETRACTOR_WITHIN_DAYS,
    WIN_BACK_AFTER_DAYS,
    ActionKind,
    CustomerState,
    NextAction,
    Offer,
    days_to_birthday,
    expected_next_purchase,
    next_best_action,
    offers,
)

RUN = datetime(2026, 3, 1, 2, 0)
TODAY = date(2026, 3, 11)


def test_nothing_calls_for_no_action() -> None:
    assert next_best_action(CustomerState()) is None


def test_warnings_come_first_and_become_the_tasks_reason() -> None:
    state = CustomerState(
        warnings=("detractor", "overdue"), nps_score=2, nps_days_ago=1,
        birthday_in_days=0, days_late=90,
    )  # fmt: skip
    assert next_best_action(state) == NextAction(ActionKind.follow_up, "detractor;overdue")


@pytest.mark.parametrize(
    ("score", "days_ago", "kind"),
    [
        (6, 0, ActionKind.service_call),
        (0, DETRACTOR_WITHIN_DAYS, ActionKind.service_call),
        (7, 0, None),  # a passive
        (3, DETRACTOR_WITHIN_DAYS + 1, None),  # too long ago
    ],
)
def test_a_recent_detractor_gets_a_service_call(
    score: int, days_ago: int, kind: ActionKind | None
) -> None:
    action = next_best_action(CustomerState(nps_score=score, nps_days_ago=days_ago))
    assert (action.kind if action else None) is kind


def test_a_detractor_comes_before_the_birthday_and_the_birthday_before_a_win_back() -> None:
    both = CustomerState(nps_score=1, nps_days_ago=3, birthday_in_days=1, days_late=60)
    assert next_best_action(both) == NextAction(ActionKind.service_call, "service_call")
    later = CustomerState(birthday_in_days=BIRTHDAY_WITHIN_DAYS, days_late=60)
    assert next_best_action(later) == NextAction(ActionKind.birthday_greeting, "birthday_greeting")
    far = CustomerState(birthday_in_days=BIRTHDAY_WITHIN_DAYS + 1, days_late=60)
    assert next_best_action(far) == NextAction(ActionKind.win_back, "win_back")


def test_a_win_back_waits_until_the_purchase_is_well_overdue() -> None:
    assert next_best_action(CustomerState(days_late=WIN_BACK_AFTER_DAYS)) is None
    action = next_best_action(CustomerState(days_late=WIN_BACK_AFTER_DAYS + 1))
    assert action is not None and action.kind is ActionKind.win_back


def test_the_next_purchase_follows_the_customers_rhythm() -> None:
    features = {"days_to_next_purchase": 5.4, "avg_gap_days": 30.0, "expected_purchases": 2.9}
    purchase = expected_next_purchase(features, RUN, 90)
    assert purchase is not None
    assert (purchase.on, purchase.basis, purchase.usual_gap_days) == (
        date(2026, 3, 6), "rhythm", 30.0,
    )  # fmt: skip
    assert purchase.days_late(TODAY) == 5
    assert purchase.days_late(date(2026, 3, 6)) == 0
    # Overdue already at the run: a negative count.
    overdue = expected_next_purchase({"days_to_next_purchase": -20}, RUN, 90)
    assert overdue is not None and overdue.on == date(2026, 2, 9)
    assert overdue.days_late(TODAY) == 30


def test_without_a_rhythm_the_expected_purchases_give_the_date() -> None:
    purchase = expected_next_purchase({"expected_purchases": 3.0}, RUN, 90)
    assert purchase is not None and (purchase.on, purchase.basis) == (date(2026, 3, 31), "model")
    # Less than one purchase expected over the horizon: none within it.
    rare = expected_next_purchase({"expected_purchases": 0.5}, RUN, 90)
    assert rare is not None and rare.on is None and rare.days_late(TODAY) == 0
    assert expected_next_purchase({"expected_purchases": 0.0}, RUN, 90) is None
    assert expected_next_purchase({}, RUN, 90) is None


def test_the_birthday_count_moves_on_from_the_run() -> None:
    assert days_to_birthday({"days_to_birthday": 12}, RUN, TODAY) == 2
    assert days_to_birthday({"days_to_birthday": 10}, RUN, TODAY) == 0
    # Gone by since the run: unknown until the next run counts to the next one.
    assert days_to_birthday({"days_to_birthday": 9}, RUN, TODAY) is None
    assert days_to_birthday({"days_to_birthday": None}, RUN, TODAY) is None


def test_offers_are_read_from_the_runs_explanation() -> None:
    explain = {"offers": [{"product": "P-1", "name": "茶", "reason": "due", "score": 1.5}]}
    assert offers(explain) == [Offer("P-1", "茶", "due")]
    assert offers({}) == [] and offers({"offers": None}) == []
