"""The timeline's paging on both databases: entries at the same moment are neither lost nor
repeated across pages."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from patron.engagement.timeline import timeline
from tests import builders


def test_ties_page_one_by_one_without_loss_or_repeats(sessions: sessionmaker[Session]) -> None:
    at = builders.WHEN
    with sessions.begin() as session:
        customer = builders.customer(session)
        orders = [builders.order(session, customer, ordered_at=at).id for _ in range(3)]
        builders.interaction(session, customer, occurred_at=at)
        builders.ticket(session, customer, opened_at=at)
    seen = []
    cursor = None
    with sessions() as session:
        while True:
            page, cursor = timeline(
                session=session, customer_id=customer.id, limit=1, cursor=cursor
            )
            seen += [(e.kind, e.id) for e in page]
            if cursor is None:
                break
    assert [kind for kind, _ in seen] == ["interaction", "order", "order", "order", "ticket"]
    assert [ref for kind, ref in seen if kind == "order"] == sorted(orders, reverse=True)
