"""Concurrent redemptions against one account never overspend, on SQLite and PostgreSQL:
separate threads, each its own connection and transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.loyalty import service
from patron.loyalty.models import PointsEntry
from tests import builders
from tests.loyalty.racing import Attempt, overlap, race


def _account_with(sessions: sessionmaker[Session], points: int) -> int:
    with sessions.begin() as session:
        customer = builders.customer(session)
        service.earn(session=session, customer_id=customer.id, points=points, reason="start")
        return customer.id


def _redeem(customer_id: int, points: int, key: str | None = None) -> Attempt:
    return lambda session: service.redeem(
        session=session, customer_id=customer_id, points=points, reason="race", idempotency_key=key
    )


def _ledger_matches(sessions: sessionmaker[Session], customer_id: int, balance: int) -> None:
    with sessions() as session:
        assert service.balance_of(session, customer_id) == balance
        total = session.scalar(
            select(func.sum(PointsEntry.points)).where(PointsEntry.customer_id == customer_id)
        )
        last = session.scalar(
            select(PointsEntry.balance_after)
            .where(PointsEntry.customer_id == customer_id)
            .order_by(PointsEntry.id.desc())
            .limit(1)
        )
        assert total == last == balance


def test_two_redemptions_at_once_exactly_one_succeeds(sessions: sessionmaker[Session]) -> None:
    customer_id = _account_with(sessions, 100)
    results = race(sessions, [_redeem(customer_id, 80), _redeem(customer_id, 80)])
    refused = [r for r in results if isinstance(r, service.InsufficientPoints)]
    assert len(refused) == 1, results
    _ledger_matches(sessions, customer_id, 20)


def test_overlapping_redemptions_the_second_sees_the_first(
    sessions: sessionmaker[Session],
) -> None:
    customer_id = _account_with(sessions, 100)
    first, second = overlap(sessions, _redeem(customer_id, 60), _redeem(customer_id, 60))
    assert first.balance_after == 40
    assert isinstance(second, service.InsufficientPoints), second
    assert "40 points" in second.message
    _ledger_matches(sessions, customer_id, 40)


def test_many_redemptions_at_once_spend_at_most_the_balance(
    sessions: sessionmaker[Session],
) -> None:
    customer_id = _account_with(sessions, 100)
    results = race(sessions, [_redeem(customer_id, 30) for _ in range(5)])
    succeeded = [r for r in results if not isinstance(r, Exception)]
    assert len(succeeded) == 3, results
    _ledger_matches(sessions, customer_id, 10)


def test_one_idempotency_key_raced_redeems_once(sessions: sessionmaker[Session]) -> None:
    customer_id = _account_with(sessions, 100)
    results = race(sessions, [_redeem(customer_id, 10, "pos:1"), _redeem(customer_id, 10, "pos:1")])
    assert {r.id for r in results} == {results[0].id}, results
    _ledger_matches(sessions, customer_id, 90)
