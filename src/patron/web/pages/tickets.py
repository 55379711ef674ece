"""The ticket board: the tickets the user may see by status, each with its SLA time left;
moving a ticket follows the state machine, and a refused move says which moves it allows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.db import now
from patron.engagement.api import assignee_for
from patron.errors import InvalidInput, NotFound, PatronError
from patron.service import tickets
from patron.service.models import Ticket, TicketStatus
from patron.web import work_queries as work
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
Mine = Annotated[str, Form(max_length=1)]


def _board(
    request: Request, session: Session, actor: Actor, *, mine: bool, template: str,
    focus: int | None = None, message: str = "", done: str = "",
) -> Response:  # fmt: skip
    return render(
        request, template, actor, columns=work.board(session, actor, mine=mine, moment=now()),
        mine=mine, writable=actor.can(Permission.customers_write), focus=focus,
        message=message, done=done,
    )  # fmt: skip


@router.get("/tickets")
def ticket_board(
    request: Request,
    session: SessionDep,
    actor: Reader,
    mine: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """Every status's tickets, soonest due first, with their SLA countdowns."""
    return _board(request, session, actor, mine=mine == "1", template="tickets.html")


def _ticket(session: Session, actor: Actor, ticket_id: int) -> Ticket:
    ticket = work.visible_ticket(session, actor, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


def _status(text: str) -> TicketStatus:
    try:
        return TicketStatus(text)
    except ValueError as exc:
        names = ", ".join(s.value for s in TicketStatus)
        raise InvalidInput(f"'{text}' is not a ticket status: use one of {names}") from exc


def _answer(
    request: Request, session: Session, actor: Actor, ticket_id: int, mine: str, done: str,
    error: PatronError | None,
) -> Response:  # fmt: skip
    if error is not None:
        # A refused move changes nothing: start over and show the board as stored.
        session.rollback()
    return _board(
        request, session, actor, mine=mine == "1", template="fragments/ticket_board.html",
        focus=ticket_id, message=error.message if error else "", done="" if error else done,
    )  # fmt: skip


@router.post("/tickets/{ticket_id}/move")
def move_ticket(
    request: Request,
    session: SessionDep,
    actor: Writer,
    ticket_id: int,
    to: Annotated[str, Form(max_length=32)] = "",
    mine: Mine = "",
) -> Response:
    """Move the ticket to another status; the board comes back with the result on its card."""
    ticket = _ticket(session, actor, ticket_id)
    try:
        tickets.transition(
            session=session, ticket=ticket, to=_status(to), moment=now(), by_user_id=actor.user_id
        )
    except PatronError as exc:
        return _answer(request, session, actor, ticket_id, mine, "", exc)
    return _answer(request, session, actor, ticket_id, mine, "moved", None)


@router.post("/tickets/{ticket_id}/take")
def take_ticket(
    request: Request, session: SessionDep, actor: Writer, ticket_id: int, mine: Mine = ""
) -> Response:
    """Assign the ticket to oneself (a new or reopened one becomes `assigned`)."""
    ticket = _ticket(session, actor, ticket_id)
    try:
        assignee = assignee_for(session, actor, actor.user_id)
        tickets.assign(session=session, ticket=ticket, assignee=assignee, moment=now())
    except PatronError as exc:
        return _answer(request, session, actor, ticket_id, mine, "", exc)
    return _answer(request, session, actor, ticket_id, mine, "taken", None)
