"""Tickets on both databases: the state machine, due times, first response, escalation."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role
from patron.engagement.models import Task
from patron.notify.models import OutboxMessage
from patron.service import tickets
from patron.service.models import Priority, SurveyInvitation, TicketKind, TicketStatus
from patron.service.tickets import TRANSITIONS, InvalidTransition, TicketDraft
from tests import builders

FRIDAY = datetime(2026, 11, 20, 17, 0)
S = TicketStatus


def _open(session: Session, **fields: object) -> tickets.Ticket:
    customer = builders.customer(session, grade=fields.pop("grade", None))
    draft = TicketDraft(
        customer_id=customer.id, kind=TicketKind.complaint, subject="broken", **fields
    )  # type: ignore[arg-type]
    return tickets.open_ticket(session=session, draft=draft, moment=FRIDAY)


def test_opening_sets_due_times_from_priority_and_grade(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        plain = _open(session, priority=Priority.high)
        vip = _open(session, priority=Priority.high, grade="A")
        assert plain.status is S.new
        assert plain.response_due_at == datetime(2026, 11, 23, 12, 0)
        assert vip.response_due_at == datetime(2026, 11, 23, 10, 0)
        assert vip.resolution_due_at == datetime(2026, 11, 24, 11, 0)


@pytest.mark.parametrize(
    ("start", "target"),
    [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]],
    ids=lambda s: s.value,
)
def test_every_invalid_transition_is_refused(start: S, target: S) -> None:
    with pytest.raises(InvalidTransition) as refused:
        tickets.check_transition(start, target)
    message = refused.value.message
    assert f"from '{start.value}' to '{target.value}'" in message
    for allowed in TRANSITIONS[start]:
        assert allowed.value in message
    assert refused.value.detail["allowed"] == sorted(s.value for s in TRANSITIONS[start])
    assert refused.value.status == 409


def test_every_valid_transition_is_allowed() -> None:
    for start, targets in TRANSITIONS.items():
        for target in targets:
            tickets.check_transition(start, target)


def test_refused_transition_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        ticket = _open(session)
        with pytest.raises(InvalidTransition, match="may go to: assigned, closed, in_progress"):
            tickets.transition(
                session=session, ticket=ticket, to=S.resolved, moment=FRIDAY, by_user_id=None
            )
        assert ticket.status is S.new and ticket.resolved_at is None


def test_lifecycle_records_response_resolution_and_csat_invitation(
    sessions: sessionmaker[Session],
) -> None:
    later = FRIDAY + timedelta(hours=1)
    with sessions.begin() as session:
        agent = builders.user(session)
        ticket = _open(session)
        tickets.assign(session=session, ticket=ticket, assignee=agent, moment=FRIDAY)
        assert ticket.status is S.assigned and ticket.first_response_at is None
        tickets.transition(
            session=session, ticket=ticket, to=S.in_progress, moment=later, by_user_id=agent.id
        )
        assert ticket.first_response_at == later
        resolved_at = later + timedelta(hours=2)
        tickets.transition(
            session=session, ticket=ticket, to=S.resolved, moment=resolved_at, by_user_id=agent.id
        )
        assert ticket.first_response_at == later and ticket.resolved_at == resolved_at
        invitation = session.scalar(select(SurveyInvitation))
        assert invitation is not None and invitation.ticket_id == ticket.id
        tickets.transition(
            session=session, ticket=ticket, to=S.reopened, moment=resolved_at, by_user_id=agent.id
        )
        assert ticket.resolved_at is None and ticket.resolution_due_at > resolved_at
        tickets.transition(
            session=session, ticket=ticket, to=S.resolved, moment=resolved_at, by_user_id=agent.id
        )
        # Resolving again asks again, about the final outcome; the first link is withdrawn.
        first, second = session.scalars(select(SurveyInvitation).order_by(SurveyInvitation.id))
        assert (first.ticket_resolution, second.ticket_resolution) == (1, 2)
        assert first.expires_at == resolved_at and second.expires_at > resolved_at


def test_marking_assigned_needs_an_assignee(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        ticket = _open(session)
        with pytest.raises(tickets.InvalidInput, match="assign the ticket"):
            tickets.transition(
                session=session, ticket=ticket, to=S.assigned, moment=FRIDAY, by_user_id=None
            )


def test_unknown_channel_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(tickets.InvalidInput, match="not a channel"):
        _open(session, channel="fax")


def test_breach_escalates_once_to_the_team_manager(
    db: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        manager = builders.user(session, role=Role.manager, team="east")
        agent = builders.user(session, team="east")
        breached = _open(session, priority=Priority.urgent, assignee_id=agent.id)
        fine = _open(session, priority=Priority.low)
        ids = breached.id, fine.id
    # urgent: 1 business hour, so due Monday 09:00; low is due much later.
    monday = datetime(2026, 11, 23, 9, 30)
    assert tickets.check_breaches(engine_or_session=db, now=monday) == 1
    assert tickets.check_breaches(engine_or_session=db, now=monday + timedelta(minutes=1)) == 0
    with sessions() as session:
        tasks = session.scalars(select(Task).where(Task.kind == "escalation")).all()
        assert [t.assignee_id for t in tasks] == [manager.id]
        assert f"#{ids[0]}" in tasks[0].title
        assert session.get(tickets.Ticket, ids[0]).escalated_at == monday  # type: ignore[union-attr]
        assert session.get(tickets.Ticket, ids[1]).escalated_at is None  # type: ignore[union-attr]
        # The manager is told in-app, once, through the outbox.
        notices = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "in_app"))
        assert [(n.recipient, n.subject) for n in notices] == [
            (str(manager.id), f"工单 #{ids[0]} 已超时")
        ]


def test_breach_without_a_manager_goes_to_an_admin(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        admin = builders.user(session, role=Role.admin)
        _open(session, priority=Priority.urgent)
        created = tickets.check_breaches(engine_or_session=session, now=datetime(2026, 11, 24))
        assert created == 1
        assert session.scalar(select(Task.assignee_id)) == admin.id


def test_resolved_and_answered_tickets_do_not_escalate(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ticket = _open(session, priority=Priority.urgent)
        tickets.transition(
            session=session, ticket=ticket, to=S.in_progress, moment=FRIDAY, by_user_id=None
        )
        # Responded at once, so only the resolution (8 business hours) can be missed.
        assert (
            tickets.check_breaches(engine_or_session=session, now=datetime(2026, 11, 23, 12)) == 0
        )
        tickets.transition(
            session=session, ticket=ticket, to=S.resolved, moment=FRIDAY, by_user_id=None
        )
        assert tickets.check_breaches(engine_or_session=session, now=datetime(2026, 12, 30)) == 0
