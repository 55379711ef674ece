"""Releases, claims and their limits, transfers and locks; every move recorded and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.auth.models import Role, User
from patron.db import now
from patron.errors import Conflict, InvalidInput
from patron.pool import service
from patron.pool.models import OwnershipChange
from tests import builders
from tests.loyalty.conftest import UseRules


def _moves(session: Session, customer_id: int) -> list[tuple[int | None, int | None, str]]:
    rows = session.scalars(
        select(OwnershipChange)
        .where(OwnershipChange.customer_id == customer_id)
        .order_by(OwnershipChange.id)
    )
    return [(row.from_owner_id, row.to_owner_id, row.reason) for row in rows]


def _audited(session: Session, customer_id: int) -> list[str]:
    query = select(AuditEntry.action).where(AuditEntry.entity_id == str(customer_id))
    return list(session.scalars(query.order_by(AuditEntry.id)))


def test_release_claim_transfer_are_recorded_and_audited(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        other = builders.user(session, "a2")
        manager = builders.user(session, "m1", role=Role.manager)
        customer = builders.customer(session, owner_id=agent.id, locked=True)
        service.release(session=session, customer_id=customer.id, by_user_id=agent.id)
        assert (customer.owner_id, customer.locked) == (None, False)
        service.claim(session=session, customer_id=customer.id, user_id=other.id)
        assert customer.owner_id == other.id and customer.owned_since is not None
        service.transfer(
            session=session, customer_id=customer.id, to_owner_id=agent.id, by_user_id=manager.id
        )
    with sessions() as session:
        assert _moves(session, customer.id) == [
            (agent.id, None, "release"),
            (None, other.id, "claim"),
            (other.id, agent.id, "transfer"),
        ]  # fmt: skip
        assert _audited(session, customer.id) == ["pool.release", "pool.claim", "pool.transfer"]


def test_claims_are_refused_with_the_reason(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        owned = builders.customer(session, owner_id=agent.id)
        mine = builders.customer(session, "李四", owner_id=agent.id)
        outsider = builders.user(session, "a2")
        retired = builders.user(session, "a3", active=False)
        pooled = builders.customer(session, "王五")
    with sessions() as session:
        with pytest.raises(service.ClaimRefused, match="not in the public pool"):
            service.claim(session=session, customer_id=owned.id, user_id=outsider.id)
        with pytest.raises(service.ClaimRefused, match="already yours"):
            service.claim(session=session, customer_id=mine.id, user_id=agent.id)
        with pytest.raises(InvalidInput, match="no active user"):
            service.claim(session=session, customer_id=pooled.id, user_id=retired.id)
        with pytest.raises(Conflict, match="already in the public pool"):
            service.release(session=session, customer_id=pooled.id, by_user_id=agent.id)
        with pytest.raises(Conflict, match="claim or assign"):
            service.transfer(
                session=session, customer_id=pooled.id, to_owner_id=agent.id, by_user_id=agent.id
            )


def test_a_former_owner_waits(use_rules: UseRules, sessions: sessionmaker[Session]) -> None:
    use_rules("pool", former_owner_wait_days=30)
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        customer = builders.customer(session, owner_id=agent.id)
        service.release(session=session, customer_id=customer.id, by_user_id=agent.id)
    with sessions() as session, pytest.raises(service.ClaimRefused, match="former_owner_wait_days"):
        service.claim(session=session, customer_id=customer.id, user_id=agent.id)
    with sessions.begin() as session:
        session.execute(update(OwnershipChange).values(changed_at=now() - timedelta(days=31)))
        claimed = service.claim(session=session, customer_id=customer.id, user_id=agent.id)
        assert claimed.owner_id == agent.id


def test_claims_per_day_are_limited(use_rules: UseRules, sessions: sessionmaker[Session]) -> None:
    use_rules("pool", max_claims_per_day=2)
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        pooled = [builders.customer(session, f"客户{i}") for i in range(3)]
        for customer in pooled[:2]:
            service.claim(session=session, customer_id=customer.id, user_id=agent.id)
    with sessions() as session, pytest.raises(service.ClaimRefused, match="max_claims_per_day: 2"):
        service.claim(session=session, customer_id=pooled[2].id, user_id=agent.id)


@pytest.mark.parametrize("count_won", [False, True])
def test_the_ownership_limit_may_leave_out_won_customers(
    use_rules: UseRules, sessions: sessionmaker[Session], count_won: bool
) -> None:
    use_rules("pool", max_customers_per_owner=2, count_won_customers=count_won)
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        buyer = builders.customer(session, owner_id=agent.id)
        builders.order(session, buyer)
        builders.customer(session, "李四", owner_id=agent.id)
        pooled = builders.customer(session, "王五")
    with sessions() as session:
        if count_won:
            with pytest.raises(service.ClaimRefused, match="max_customers_per_owner: 2"):
                service.claim(session=session, customer_id=pooled.id, user_id=agent.id)
        else:
            service.claim(session=session, customer_id=pooled.id, user_id=agent.id)
            assert service.owned_count(session, agent.id, count_won=False) == 2


def test_locks_are_idempotent_and_audited(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        customer = builders.customer(session, owner_id=agent.id)
        pooled = builders.customer(session, "李四")
        for locked in (True, True, False):
            service.set_locked(
                session=session, customer_id=customer.id, locked=locked, by_user_id=agent.id
            )
        with pytest.raises(Conflict, match="cannot be locked"):
            service.set_locked(
                session=session, customer_id=pooled.id, locked=True, by_user_id=agent.id
            )
        assert _audited(session, customer.id) == ["pool.lock", "pool.unlock"]


def test_the_last_release_says_when_and_by_whom(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        agent = builders.user(session, "a1")
        customer = builders.customer(session, owner_id=agent.id)
        never_owned = builders.customer(session, "李四")
        service.release(session=session, customer_id=customer.id, by_user_id=agent.id)
        releases = service.last_releases(session, [customer.id, never_owned.id])
        assert list(releases) == [customer.id]
        assert (releases[customer.id].from_owner_id, releases[customer.id].by_user_id) == (
            agent.id, agent.id,
        )  # fmt: skip
        assert session.get(User, agent.id) is not None
