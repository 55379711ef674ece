"""The SLA clock stops while a ticket waits for the customer: the pure business-hour arithmetic,
then tickets on both databases driven by a controlled clock (explicit moments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.rules.rulebook import Service
from patron.service import sla, tickets
from patron.service.models import Priority, Ticket, TicketKind, TicketStatus
from patron.service.tickets import TicketDraft
from tests import builders

S = TicketStatus
CALENDAR = sla.Calendar.of(Service())  # 9-18, Monday to Friday
MONDAY = datetime(2026, 11, 23, 9, 0)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 23 November 2026."""
    return datetime(2026, 11, day, hour, minute)


def test_business_hours_between_counts_only_opening_hours() -> None:
    assert sla.business_hours_between(at(20, 17), at(23, 10), CALENDAR) == 2.0  # Fri 17 - Mon 10
    assert sla.business_hours_between(at(23, 20), at(24, 8), CALENDAR) == 0.0  # overnight
    assert sla.business_hours_between(at(23, 10), at(24, 12), CALENDAR) == 11.0
    assert sla.business_hours_between(at(23, 10, 30), at(23, 11), CALENDAR) == 0.5
    assert sla.business_hours_between(at(24, 12), at(23, 10), CALENDAR) == 0.0


def test_a_due_time_is_pushed_on_in_business_hours() -> None:
    assert sla.pushed_on(at(23, 17), 2, CALENDAR) == at(24, 10)
    assert sla.pushed_on(at(20, 17), 3, CALENDAR) == at(23, 11)  # over the weekend
    # Nothing paused: the due time stays exactly, even at closing time.
    assert sla.pushed_on(at(23, 18), 0, CALENDAR) == at(23, 18)


def _urgent(session: Session) -> Ticket:
    """An urgent ticket opened Monday 09:00: response due 10:00, resolution due 17:00."""
    customer = builders.customer(session)
    draft = TicketDraft(
        customer_id=customer.id, kind=TicketKind.aftersale, subject="no power",
        priority=Priority.urgent,
    )  # fmt: skip
    ticket = tickets.open_ticket(session=session, draft=draft, moment=MONDAY)
    assert (ticket.response_due_at, ticket.resolution_due_at) == (at(23, 10), at(23, 17))
    return ticket


def _move(session: Session, ticket: Ticket, to: S, moment: datetime) -> None:
    tickets.transition(session=session, ticket=ticket, to=to, moment=moment, by_user_id=None)


def _breached_ids(session: Session, moment: datetime) -> list[int]:
    return list(session.scalars(select(Ticket.id).where(tickets.breached(moment))))


def test_waiting_for_the_customer_pauses_the_clock_and_moves_the_due_time(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        ticket = _urgent(session)
        _move(session, ticket, S.in_progress, at(23, 9, 30))
        _move(session, ticket, S.waiting_for_customer, at(23, 10))
        assert ticket.paused_at == at(23, 10)
        # Long past the 17:00 due time, but the customer has the ball: no breach.
        tuesday_noon = at(24, 12)
        assert not tickets.is_breached(ticket, tuesday_noon)
        assert _breached_ids(session, tuesday_noon) == []
        assert tickets.check_breaches(engine_or_session=session, now=tuesday_noon) == 0
        # The customer answers Tuesday 12:00: 8 + 3 business hours paused, so 17:00 Monday
        # plus 11 business hours is Wednesday 10:00.
        _move(session, ticket, S.in_progress, tuesday_noon)
        assert ticket.paused_at is None and ticket.paused_hours == 11.0
        assert ticket.resolution_due_at == at(25, 10)
        assert ticket.response_due_at == at(23, 10)  # answered before the pause: unchanged
        assert tickets.check_breaches(engine_or_session=session, now=at(25, 9, 59)) == 0
        assert tickets.check_breaches(engine_or_session=session, now=at(25, 10, 1)) == 1
        assert ticket.escalated_at == at(25, 10, 1)


def test_pauses_add_up_and_end_with_resolution_or_closing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        ticket = _urgent(session)
        _move(session, ticket, S.in_progress, at(23, 9, 30))
        _move(session, ticket, S.waiting_for_customer, at(23, 11))
        _move(session, ticket, S.in_progress, at(23, 12))  # 1 hour
        assert ticket.resolution_due_at == at(23, 18)
        _move(session, ticket, S.waiting_for_customer, at(23, 16))
        _move(session, ticket, S.resolved, at(23, 17, 30))  # 1.5 hours more
        assert ticket.paused_hours == 2.5 and ticket.paused_at is None
        assert ticket.resolution_due_at == at(24, 10, 30)
        other = _urgent(session)
        _move(session, other, S.in_progress, at(23, 9, 15))
        _move(session, other, S.waiting_for_customer, at(23, 9, 30))
        _move(session, other, S.closed, at(23, 18, 30))  # a pause over closing time: 8.5 hours
        assert other.paused_hours == 8.5 and other.status is S.closed


def test_a_pause_outside_business_hours_moves_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ticket = _urgent(session)
        _move(session, ticket, S.in_progress, at(23, 9, 30))
        _move(session, ticket, S.waiting_for_customer, at(23, 9, 30))
        _move(session, ticket, S.in_progress, at(23, 9, 30))
        assert ticket.paused_hours == 0.0 and ticket.resolution_due_at == at(23, 17)
        _move(session, ticket, S.waiting_for_customer, at(27, 19))  # Friday evening
        _move(session, ticket, S.in_progress, at(28, 12))  # Saturday noon
        assert ticket.paused_hours == 0.0 and ticket.resolution_due_at == at(23, 17)
