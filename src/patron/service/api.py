"""/api/v1/tickets (service and complaint tickets), /api/v1/surveys, survey invitations, and
the public /api/v1/public/surveys/{token} a customer answers without signing in.

Record rules as for tasks (`patron.api.access.visible_tickets`): an agent sees the tickets
assigned to them and those about their own customers, a manager their team's and their
customers', admins and analysts all; analysts only read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from patron.api.access import (
    Actor,
    Permission,
    visible_customer,
    visible_ticket,
    visible_tickets,
)
from patron.api.deps import CurrentActor, SessionDep, SettingsDep, requires
from patron.api.errors import responses
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, SortKey, as_datetime, paginate
from patron.auth.models import Role
from patron.db import now
from patron.engagement.api import assignee_for
from patron.errors import Forbidden, NotFound
from patron.rules.refresh import request_refresh
from patron.service import surveys, tickets
from patron.service.models import (
    Priority,
    Survey,
    SurveyInvitation,
    Ticket,
    TicketKind,
    TicketStatus,
)
from patron.service.schemas import (
    AnswerIn,
    AnswerOut,
    AssignIn,
    InvitationIn,
    InvitationView,
    PublicSurvey,
    SurveyIn,
    SurveyView,
    TicketIn,
    TicketPatch,
    TicketView,
    TransitionIn,
)

router = APIRouter(tags=["tickets"], responses=responses(401, 403, 422))
public = APIRouter(prefix="/public/surveys", tags=["surveys"], responses=responses(400, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
SORT_KEYS = {
    "opened_at": SortKey(Ticket.opened_at, as_datetime),
    "resolution_due_at": SortKey(Ticket.resolution_due_at, as_datetime),
    "id": SortKey(Ticket.id, int),
}


def ticket_scope(actor: Actor) -> ColumnElement[bool]:
    """The tickets the actor may see: the record rule `patron.api.access.visible_tickets`."""
    return visible_tickets(actor)


def _view(ticket: Ticket) -> TicketView:
    view = TicketView.model_validate(ticket)
    view.allowed_transitions = sorted(tickets.TRANSITIONS[ticket.status])
    view.breached = tickets.is_breached(ticket, now())
    return view


def _ticket(session: Session, actor: Actor, ticket_id: int, *, lock: bool = True) -> Ticket:
    # Changes lock the row, so two concurrent transitions cannot both pass the state check.
    return visible_ticket(session, actor, ticket_id, for_update=lock)


@router.get("/tickets", summary="List tickets")
def list_tickets(
    session: SessionDep,
    actor: Reader,
    status: Annotated[list[TicketStatus], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    kind: Annotated[list[TicketKind], Query()] = [],  # noqa: B006
    priority: Annotated[list[Priority], Query()] = [],  # noqa: B006
    customer_id: int | None = None,
    mine: bool = False,
    breached: bool = False,
    sort: Annotated[str, Query(description="opened_at, resolution_due_at or id")] = "-opened_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[TicketView]:
    """The tickets the caller may see, filtered; `breached` keeps open ones past a due time."""
    query = select(Ticket).where(visible_tickets(actor))
    for column, chosen in (
        (Ticket.status, status),
        (Ticket.kind, kind),
        (Ticket.priority, priority),
    ):
        if chosen:
            query = query.where(column.in_(chosen))
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    if mine:
        query = query.where(Ticket.assignee_id == actor.user_id)
    if breached:
        query = query.where(Ticket.status.in_(tickets.OPEN), tickets.breached(now()))
    rows, next_cursor = paginate(
        session, query, sort=sort, keys=SORT_KEYS, id_column=Ticket.id, cursor=cursor, limit=limit
    )
    return Page(items=[_view(t) for t in rows], next_cursor=next_cursor, limit=limit)


@router.post("/customers/{customer_id}/tickets", status_code=201, summary="Open a ticket",
             responses=responses(404))  # fmt: skip
def open_ticket(session: SessionDep, actor: Writer, customer_id: int, data: TicketIn) -> TicketView:
    """A ticket about a customer the caller sees, with SLA due times from the rulebook; the
    worker re-evaluates the customer's warnings after the commit."""
    visible_customer(session, actor, customer_id)
    assignee = assignee_for(session, actor, data.assignee_id) if data.assignee_id else None
    draft = tickets.TicketDraft(
        customer_id=customer_id, kind=data.kind, subject=data.subject, channel=data.channel,
        priority=data.priority, description=data.description, category=data.category,
        root_causes=tuple(data.root_causes), assignee_id=assignee.id if assignee else None,
    )  # fmt: skip
    ticket = tickets.open_ticket(session=session, draft=draft, moment=now())
    request_refresh(session, customer_id)
    return _view(ticket)


@router.get("/tickets/{ticket_id}", summary="One ticket", responses=responses(404))
def get_ticket(session: SessionDep, actor: Reader, ticket_id: int) -> TicketView:
    """A ticket the caller may see, with the statuses it may move to."""
    return _view(_ticket(session, actor, ticket_id, lock=False))


@router.patch("/tickets/{ticket_id}", summary="Classify a ticket", responses=responses(404))
def classify_ticket(
    session: SessionDep, actor: Writer, ticket_id: int, data: TicketPatch
) -> TicketView:
    """Change the description, complaint category or root-cause tags."""
    ticket = _ticket(session, actor, ticket_id)
    tickets.classify(session=session, ticket=ticket, **data.model_dump(exclude_unset=True))
    return _view(ticket)


@router.post("/tickets/{ticket_id}/transitions", summary="Change a ticket's status",
             responses=responses(404, 409))  # fmt: skip
def transition_ticket(
    session: SessionDep, actor: Writer, ticket_id: int, data: TransitionIn
) -> TicketView:
    """Move the ticket along its state machine; a refused move names the allowed ones (409)."""
    ticket = _ticket(session, actor, ticket_id)
    tickets.transition(
        session=session, ticket=ticket, to=data.to, moment=now(), by_user_id=actor.user_id
    )
    return _view(ticket)


@router.post("/tickets/{ticket_id}/assign", summary="Assign a ticket",
             responses=responses(404, 409))  # fmt: skip
def assign_ticket(session: SessionDep, actor: Writer, ticket_id: int, data: AssignIn) -> TicketView:
    """Give the ticket to a user (managers within their team, admins anyone, agents themselves)."""
    ticket = _ticket(session, actor, ticket_id)
    assignee = assignee_for(session, actor, data.assignee_id)
    return _view(tickets.assign(session=session, ticket=ticket, assignee=assignee, moment=now()))


def _survey_admin(actor: CurrentActor) -> Actor:
    actor.require(Permission.customers_write)
    if actor.role not in (Role.admin, Role.manager):
        raise Forbidden(f"a {actor.role.value} may use surveys but not define them")
    return actor


@router.get("/surveys", summary="List surveys", tags=["surveys"])
def list_surveys(session: SessionDep, actor: Reader) -> list[SurveyView]:
    """Every survey, newest first."""
    rows = session.scalars(select(Survey).order_by(Survey.id.desc()))
    return [SurveyView.model_validate(s) for s in rows]


@router.post("/surveys", status_code=201, summary="Define a survey", tags=["surveys"])
def create_survey(
    session: SessionDep, actor: Annotated[Actor, Depends(_survey_admin)], data: SurveyIn
) -> SurveyView:
    """A CSAT, NPS or custom survey (admins and managers)."""
    survey = surveys.create_survey(
        session=session, kind=data.kind, name=data.name, questions=data.questions
    )
    return SurveyView.model_validate(survey)


def _invitation_view(invitation: SurveyInvitation, secret: str) -> InvitationView:
    token = surveys.token_for(invitation, secret=secret)
    fields = {
        name: getattr(invitation, name) for name in InvitationView.model_fields if name != "token"
    }
    return InvitationView(token=token, **fields)


@router.post("/customers/{customer_id}/survey-invitations", status_code=201, tags=["surveys"],
             summary="Invite a customer to a survey", responses=responses(404))  # fmt: skip
def invite_customer(
    session: SessionDep, settings: SettingsDep, actor: Writer, customer_id: int, data: InvitationIn
) -> InvitationView:
    """A signed, single-use, expiring invitation for a customer the caller sees."""
    visible_customer(session, actor, customer_id)
    if data.survey_id is not None:
        survey = session.get(Survey, data.survey_id)
        if survey is None:
            raise NotFound(f"no survey with id {data.survey_id}")
    else:
        survey = surveys.standard_survey(session=session, kind=data.kind)
    invitation = surveys.invite(
        session=session, survey=survey, customer_id=customer_id, moment=now(),
        valid_days=data.valid_days, by=actor.user_id,
    )  # fmt: skip
    return _invitation_view(invitation, settings.secret_key)


@router.get("/customers/{customer_id}/survey-invitations", tags=["surveys"],
            summary="A customer's survey invitations", responses=responses(404))  # fmt: skip
def customer_invitations(
    session: SessionDep, settings: SettingsDep, actor: Reader, customer_id: int
) -> list[InvitationView]:
    """The customer's invitations, newest first, with the tokens to send."""
    visible_customer(session, actor, customer_id)
    rows = session.scalars(
        select(SurveyInvitation)
        .where(SurveyInvitation.customer_id == customer_id)
        .order_by(SurveyInvitation.id.desc())
    )
    return [_invitation_view(i, settings.secret_key) for i in rows]


@public.get("/{token}", summary="A survey to answer (no sign-in)", responses=responses(400))
def read_survey(session: SessionDep, settings: SettingsDep, token: str) -> PublicSurvey:
    """The questions of the survey a token invites to; 410 once used or expired."""
    invitation, survey = surveys.open_invitation(
        session=session, token=token, secret=settings.secret_key, moment=now()
    )
    return PublicSurvey(kind=survey.kind, name=survey.name, questions=survey.questions,
                        expires_at=invitation.expires_at)  # fmt: skip


@public.post("/{token}", status_code=201, summary="Answer a survey (no sign-in)")
def answer_survey(
    session: SessionDep, settings: SettingsDep, token: str, data: AnswerIn
) -> AnswerOut:
    """Store the answer once; the link stops working. The worker re-evaluates the customer's
    warnings afterwards."""
    response = surveys.answer(
        session=session, token=token, secret=settings.secret_key, moment=now(),
        reply=surveys.Answer(score=data.score, answers=data.answers, comment=data.comment),
    )  # fmt: skip
    # The worker re-evaluates the warnings after the commit (a detractor raises its warning).
    request_refresh(session, response.customer_id)
    return AnswerOut(id=response.id, kind=response.kind, score=response.score,
                     answered_at=response.answered_at)  # fmt: skip
