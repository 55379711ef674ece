"""Two people claiming one pool customer at once: exactly one wins, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.pool import service
from patron.pool.models import OwnershipChange
from tests import builders
from tests.loyalty.racing import Attempt, overlap, race


def _pool_customer_and_agents(
    sessions: sessionmaker[Session], agents: int
) -> tuple[int, list[int]]:
    with sessions.begin() as session:
        customer = builders.customer(session)
        return customer.id, [builders.user(session).id for _ in range(agents)]


def _claim(customer_id: int, user_id: int) -> Attempt:
    return lambda session: service.claim(session=session, customer_id=customer_id, user_id=user_id)


def _one_winner(sessions: sessionmaker[Session], customer_id: int, results: list[object]) -> None:
    winners = [r for r in results if isinstance(r, Customer)]
    assert len(winners) == 1, results
    assert all(isinstance(r, service.ClaimRefused) for r in results if r not in winners), results
    with sessions() as session:
        owner = session.scalar(select(Customer.owner_id).where(Customer.id == customer_id))
        claims = session.scalars(
            select(OwnershipChange.to_owner_id).where(OwnershipChange.customer_id == customer_id)
        ).all()
        assert claims == [owner] and owner == winners[0].owner_id


def test_two_claims_at_once_exactly_one_wins(sessions: sessionmaker[Session]) -> None:
    customer_id, (first, second) = _pool_customer_and_agents(sessions, 2)
    results = race(sessions, [_claim(customer_id, first), _claim(customer_id, second)])
    _one_winner(sessions, customer_id, results)


def test_overlapping_claims_the_second_is_refused(sessions: sessionmaker[Session]) -> None:
    customer_id, (first, second) = _pool_customer_and_agents(sessions, 2)
    results = overlap(sessions, _claim(customer_id, first), _claim(customer_id, second))
    assert isinstance(results[0], Customer) and results[0].owner_id == first
    _one_winner(sessions, customer_id, results)


def test_many_claims_at_once_one_winner(sessions: sessionmaker[Session]) -> None:
    customer_id, agents = _pool_customer_and_agents(sessions, 4)
    results = race(sessions, [_claim(customer_id, agent) for agent in agents])
    _one_winner(sessions, customer_id, results)
