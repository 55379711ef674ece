"""The satisfaction survey a resolution sends: consent, once per resolution, and end to end
through the REST API, the outbox, a real SMTP server and the public link in the email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.campaigns.models import OptOut
from patron.notify.models import OutboxMessage
from patron.notify.settings import NotifySettings, get_notify_settings
from patron.notify.worker import drain
from patron.service import tickets
from patron.service.models import SurveyInvitation, SurveyResponse, Ticket, TicketKind
from patron.service.tickets import TicketDraft
from tests import builders
from tests.api.conftest import World, app, bearer, client, world
from tests.notify.receivers import smtp_server

__all__ = ["app", "client", "world"]
S = tickets.TicketStatus
MONDAY = datetime(2026, 11, 23, 10, 0)
PUBLIC = "https://crm.example.com/"


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Survey links point at PUBLIC for the test."""
    monkeypatch.setenv("PATRON_PUBLIC_URL", PUBLIC)
    get_notify_settings.cache_clear()
    yield PUBLIC
    get_notify_settings.cache_clear()


def _resolve(session: Session, ticket: Ticket, moment: datetime) -> SurveyInvitation:
    if ticket.status in (S.new, S.reopened):
        tickets.transition(
            session=session, ticket=ticket, to=S.in_progress, moment=moment, by_user_id=None
        )
    tickets.transition(
        session=session, ticket=ticket, to=S.resolved, moment=moment, by_user_id=None
    )
    return session.scalars(
        select(SurveyInvitation).order_by(SurveyInvitation.id.desc()).limit(1)
    ).one()


def _ticket(session: Session, **customer: object) -> Ticket:
    owner = builders.customer(session, **customer)
    draft = TicketDraft(customer_id=owner.id, kind=TicketKind.inquiry, subject="发票")
    return tickets.open_ticket(session=session, draft=draft, moment=MONDAY)


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        ({"email": "li@example.com"}, "no_consent"),
        ({"email": "li@example.com", "consent": {"email": False}}, "no_consent"),
        ({"consent": {"email": True}}, "no_address"),
        ({"email": "li@example.com", "consent": {"sms": True}}, "no_consent"),
        ({"email": "li@example.com", "consent": {"email": True}, "opt_out": "*"}, "opted_out"),
        ({"email": "li@example.com", "consent": {"email": True}, "opt_out": "email"}, "opted_out"),
    ],
    ids=["no-consent", "consent-refused", "no-email", "sms-only", "opted-out", "email-opt-out"],
)
def test_without_consent_or_an_address_nothing_is_sent(
    sessions: sessionmaker[Session], customer: dict[str, object], reason: str
) -> None:
    with sessions.begin() as session:
        fields = dict(customer)  # the parameters are shared by both databases' runs
        opt_out = fields.pop("opt_out", None)
        ticket = _ticket(session, **fields)
        if opt_out:
            session.add(OptOut(customer_id=ticket.customer_id, channel=opt_out))
        invitation = _resolve(session, ticket, MONDAY)
        assert (invitation.not_sent_reason, invitation.outbox_id) == (reason, None)
        assert session.scalars(select(OutboxMessage)).all() == []


def test_each_resolution_sends_one_survey_and_withdraws_the_unanswered_one(
    sessions: sessionmaker[Session], public_url: str
) -> None:
    with sessions.begin() as session:
        ticket = _ticket(session, email="li@example.com", consent={"email": True})
        first = _resolve(session, ticket, MONDAY)
        later = MONDAY + timedelta(days=1)
        tickets.transition(
            session=session, ticket=ticket, to=S.reopened, moment=later, by_user_id=None
        )
        second = _resolve(session, ticket, later + timedelta(hours=2))
        assert (first.ticket_resolution, second.ticket_resolution) == (1, 2)
        assert first.expires_at == later + timedelta(hours=2) and first.used_at is None
        messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [m.id for m in messages] == [first.outbox_id, second.outbox_id]
        assert [m.dedupe_key for m in messages] == [
            f"survey-invitation:{first.id}", f"survey-invitation:{second.id}",
        ]  # fmt: skip
        assert all(m.channel == "email" and m.recipient == "li@example.com" for m in messages)
        assert f"#{ticket.id}" in messages[1].body and public_url in messages[1].body


def test_a_failed_resolution_sends_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ticket_id = _ticket(session, email="li@example.com", consent={"email": True}).id
    with pytest.raises(RuntimeError), sessions.begin() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        _resolve(session, ticket, MONDAY)
        raise RuntimeError("the request failed after resolving")
    with sessions() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.scalars(select(SurveyInvitation)).all() == []


def test_resolving_emails_a_link_the_customer_answers_once(
    db: Engine,
    client: TestClient,
    world: World,
    sessions: sessionmaker[Session],
    public_url: str,
) -> None:
    with sessions.begin() as session:
        customer = world.customer(
            session, "own", "李四", email="li.si@example.com", consent={"email": True},
            custom_fields={"locale": "en"},
        )  # fmt: skip
    agent = bearer(world.tokens["agent"])
    opened = client.post(
        f"/api/v1/customers/{customer.id}/tickets",
        json={"kind": "aftersale", "subject": "broken kettle"},
        headers=agent,
    ).json()
    url = f"/api/v1/tickets/{opened['id']}/transitions"
    for to in ("in_progress", "resolved"):
        assert client.post(url, json={"to": to}, headers=agent).status_code == 200
    with smtp_server() as (mailbox, port):
        report = drain(db, settings=NotifySettings(smtp_host="127.0.0.1", smtp_port=port))
    assert report.sent == 1 and mailbox.recipients == [["li.si@example.com"]]
    mail = mailbox.messages[0]
    assert mail["Subject"] == "How did we do? broken kettle"
    found = re.search(r"https://\S+", mail.get_content())
    assert found is not None and found.group(0).startswith(public_url + "s/")
    page = urlsplit(found.group(0)).path
    assert client.get(page).status_code == 200  # the page itself: tests/web/test_public_survey.py
    link = page.replace("/s/", "/api/v1/public/surveys/", 1)
    survey = client.get(link)
    assert survey.status_code == 200 and survey.json()["kind"] == "csat"
    assert client.post(link, json={"score": 5, "comment": "quick"}).status_code == 201
    again = client.post(link, json={"score": 1})
    assert again.status_code == 410 and again.json()["error"] == "survey_used"
    with sessions() as session:
        answer = session.scalars(select(SurveyResponse)).one()
        assert (answer.ticket_id, answer.score, answer.customer_id) == (
            opened["id"], 5, customer.id,
        )  # fmt: skip
