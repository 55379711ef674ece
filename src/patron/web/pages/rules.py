"""The rulebook editor: the active YAML, live expression checks, dry-run, backtest, apply
(admins) and the version history (managers and analysts read)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.auth.models import Role
from patron.db import now
from patron.errors import Forbidden, InvalidInput, PatronError
from patron.rules import rulebook as rulebooks
from patron.rules import versions
from patron.rules.backtest import backtest
from patron.rules.dryrun import dry_run
from patron.rules.engine import check_rulebook
from patron.rules.language import check
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RulesReader = Annotated[Actor, requires(Permission.rules_read)]
Document = Annotated[str, Form(max_length=200_000)]
BACKTEST_DAYS = 90


def rules_admin(actor: RulesReader) -> Actor:
    """Only an admin changes the rulebook; the other readers may only look and try."""
    if actor.role is not Role.admin:
        raise Forbidden("only an admin may change the rulebook")
    return actor


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{what} '{text}' is not a date: use YYYY-MM-DD") from exc


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/rules")
def rulebook_page(request: Request, session: SessionDep, actor: RulesReader) -> Response:
    """The active rulebook, tools to try changes, and the version history."""
    connection = session.connection()
    version, document = versions.active_text(connection)
    today = now().date()
    return render(
        request, "rules.html", actor, version=version, document=document,
        history=versions.history(connection), until=today.isoformat(),
        as_of=(today - timedelta(days=BACKTEST_DAYS)).isoformat(),
        may_apply=actor.role is Role.admin,
    )  # fmt: skip


@router.post("/rules/check")
def check_expression(
    request: Request, actor: RulesReader, expression: Annotated[str, Form(max_length=10_000)] = ""
) -> Response:
    """Check one rule expression as it is typed: its canonical form, or what is wrong."""
    try:
        checked = check(expression)
    except PatronError as exc:
        return render(request, "fragments/check.html", actor, ok=False, message=exc.message)
    return render(
        request, "fragments/check.html", actor, ok=True, message=checked.normalised,
        features=sorted(checked.features),
    )  # fmt: skip


@router.post("/rules/dry-run")
def rules_dry_run(request: Request, actor: RulesReader, document: Document = "") -> Response:
    """What the edited rulebook would change against the active one; nothing is stored."""
    try:
        proposed = rulebooks.parse(document)
        check_rulebook(proposed)
        result = dry_run(engine=_engine(request), proposed=proposed)
    except PatronError as exc:
        return render(request, "fragments/error.html", actor, message=exc.message)
    return render(request, "fragments/dry_run.html", actor, result=result)


@router.post("/rules/backtest")
def rules_backtest(
    request: Request,
    actor: RulesReader,
    document: Document = "",
    as_of: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Precision and recall of each warning of the edited rulebook, from AS-OF to UNTIL."""
    try:
        proposed = rulebooks.parse(document)
        check_rulebook(proposed)
        result = backtest(
            engine=_engine(request), rulebook=proposed, as_of=_day(as_of, "as of"),
            until=_day(until, "until"),
        )  # fmt: skip
    except PatronError as exc:
        return render(request, "fragments/error.html", actor, message=exc.message)
    return render(request, "fragments/backtest.html", actor, result=result)


@router.post("/rules/apply")
def apply_rulebook(
    request: Request,
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.rules_read)],
    document: Document = "",
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Make the edited rulebook the new active version (admins only)."""
    rules_admin(actor)
    connection = session.connection()
    try:
        version = versions.apply(connection, document, note=note, user_id=actor.user_id)
    except PatronError as exc:
        active, _ = versions.active_text(connection)
        today = now().date()
        return render(
            request, "rules.html", actor, status=exc.status, version=active, document=document,
            history=versions.history(connection), until=today.isoformat(),
            as_of=(today - timedelta(days=BACKTEST_DAYS)).isoformat(), may_apply=True,
            message=exc.message,
        )  # fmt: skip
    return RedirectResponse(f"/rules?applied={version}", status_code=303)


@router.post("/rules/versions/{version}/activate")
def activate_version(
    session: SessionDep, actor: Annotated[Actor, requires(Permission.rules_read)], version: int
) -> Response:
    """Make a stored version the active one again (admins only)."""
    rules_admin(actor)
    versions.activate(session.connection(), version)
    return RedirectResponse(f"/rules?activated={version}", status_code=303)
