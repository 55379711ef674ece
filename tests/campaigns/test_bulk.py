"""A launch to a few thousand customers on both databases: the outbox is written in a handful
of bulk statements, and consent, opt-outs, bad addresses, the frequency cap and the holdout
still decide who gets a message."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, select, true
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.models import ScoreSnapshot
from patron.campaigns import service
from patron.campaigns.models import CampaignRecipient, OptOut, RecipientGroup
from patron.customers.models import Customer
from patron.notify.models import OutboxMessage
from tests import builders
from tests.campaigns.world import campaign, segment

CUSTOMERS = 3_000
LAUNCH = datetime(2024, 6, 1, 12, 0)


def _reason(n: int) -> str | None:
    """Who cannot be sent to, by construction, in the order the launch checks."""
    if n % 15 == 0:
        return "opted_out"
    if n % 10 == 0:
        return "no_consent"
    if n % 20 == 7:
        return "no_address"
    if n % 25 == 3:
        return "frequency_cap"
    return None


def _customer(n: int) -> dict[str, Any]:
    email = "broken-address" if n % 40 == 7 else None if n % 40 == 27 else f"c{n}@example.com"
    return {
        "external_id": f"B{n:05d}", "name": f"客户{n}", "city": "杭州", "email": email,
        "consent": {"email": n % 10 != 0}, "custom_fields": {"locale": "en" if n % 2 else "zh_CN"},
    }  # fmt: skip


def _world(sessions: sessionmaker[Session]) -> tuple[int, dict[str, int]]:
    """The customers, their snapshots, opt-outs and last week's messages, in bulk."""
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        ids = session.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [_customer(n) for n in range(CUSTOMERS)],
        ).all()
        session.execute(
            insert(ScoreSnapshot),
            [{"run_id": run.id, "customer_id": i, "features": {"recency_days": 120}} for i in ids],
        )
        session.execute(
            insert(OptOut),
            [{"customer_id": ids[n], "channel": "*"} for n in range(0, CUSTOMERS, 15)],
        )
        earlier = campaign(session, segment(session))
        session.execute(
            insert(CampaignRecipient),
            [
                {"campaign_id": earlier.id, "customer_id": ids[n], "group": "treated",
                 "decided_at": LAUNCH - timedelta(days=2)}
                for n in range(CUSTOMERS) if n % 25 == 3
            ],
        )  # fmt: skip
        target = campaign(session, segment(session), holdout_share=0.1, cap_messages=1)
        return target.id, {f"B{n:05d}": n for n in range(CUSTOMERS)}


@contextmanager
def _outbox_inserts(db: Engine) -> Iterator[list[str]]:
    """The INSERT statements into the outbox the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_MESSAGES"):
            seen.append(statement)

    event.listen(db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db, "before_cursor_execute", record)


def test_a_launch_to_thousands_enqueues_in_bulk_and_keeps_every_rule(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    campaign_id, numbers = _world(sessions)
    with _outbox_inserts(db) as statements, sessions.begin() as session:
        launched = service.launch(
            session=session, campaign_id=campaign_id, visible=true(), moment=LAUNCH
        )
    expected = {n: _reason(n) for n in range(CUSTOMERS)}
    eligible = sum(reason is None for reason in expected.values())
    assert launched.segment == CUSTOMERS
    assert (
        launched.holdout == round(0.1 * eligible)
        and launched.treated == eligible - launched.holdout
    )
    assert launched.suppressed == {
        reason: sum(r == reason for r in expected.values())
        for reason in ("opted_out", "no_consent", "no_address", "frequency_cap")
    }
    # One INSERT per 1,000 messages, where a per-message enqueue would run one each.
    assert 1 <= len(statements) <= math.ceil(launched.treated / 1_000)
    with sessions() as session:
        rows = session.execute(
            select(Customer.external_id, CampaignRecipient.group, CampaignRecipient.reason,
                   CampaignRecipient.outbox_id, OutboxMessage.recipient, OutboxMessage.subject)
            .join(Customer, Customer.id == CampaignRecipient.customer_id)
            .outerjoin(OutboxMessage, OutboxMessage.id == CampaignRecipient.outbox_id)
            .where(CampaignRecipient.campaign_id == campaign_id)
        ).all()  # fmt: skip
        messages = session.scalars(
            select(OutboxMessage.customer_id).where(
                OutboxMessage.dedupe_key.like(f"campaign:{campaign_id}:%")
            )
        ).all()
    assert len(rows) == CUSTOMERS and len(messages) == launched.treated
    for external_id, group, reason, outbox_id, recipient, subject in rows:
        n = numbers[external_id]
        assert reason == expected[n]
        if group == RecipientGroup.treated:
            assert recipient == f"c{n}@example.com"
            assert subject == (f"We miss you, 客户{n}" if n % 2 else f"客户{n}，好久不见")
        else:
            assert outbox_id is None
            assert (group == RecipientGroup.holdout) == (expected[n] is None)
    with sessions.begin() as session:
        again = service.launch(session=session, campaign_id=campaign_id, visible=true())
    assert again.already_launched and again.treated == launched.treated
