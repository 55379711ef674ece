"""Loyalty accounts: balances and tiers of the customers the user may see, one account's tier
progress and points ledger, and adjusting points with a reason (managers and admins)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission, visible_customer
from patron.api.deps import SessionDep, requires
from patron.auth.models import Role
from patron.errors import Forbidden, InvalidInput, PatronError
from patron.loyalty import api as loyalty_api
from patron.loyalty import service
from patron.rules.refresh import request_refresh
from patron.web import member_queries as members
from patron.web.i18n import request_locale
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
PAGE_SIZE = 25
LEDGER_SIZE = 20
ADJUSTERS = (Role.admin, Role.manager)


def _tier_names(session: Session, locale: str) -> dict[str, str]:
    """Each tier id's label in the page's language, lowest tier first."""
    rules = service.loyalty_rules(session)
    return {
        tier.id: tier.label.get(locale) or tier.label.get("en") or tier.id  # type: ignore[call-overload]
        for _, tier in service.ladder(rules)
    }


@router.get("/loyalty")
def loyalty_accounts(
    request: Request,
    session: SessionDep,
    actor: Reader,
    tier: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Accounts of visible customers, largest balance first, by tier or name."""
    rows, next_cursor, names = members.accounts(
        session, actor, tier=tier, q=q.strip(), cursor=cursor, limit=PAGE_SIZE
    )
    chosen = {k: v for k, v in (("tier", tier), ("q", q)) if v}
    return render(
        request, "loyalty.html", actor, accounts=rows, names=names, chosen=chosen,
        tiers=_tier_names(session, request_locale(request)), first_url="?" + urlencode(chosen),
        next_url="?" + urlencode({**chosen, "cursor": next_cursor}) if next_cursor else None,
    )  # fmt: skip


def _may_adjust(session: Session, actor: Actor, customer_id: int) -> bool:
    return (
        actor.role in ADJUSTERS
        and actor.can(Permission.customers_write)
        and members.is_writable(session, actor, customer_id)
    )


def _account(
    request: Request, session: Session, actor: Actor, customer_id: int, cursor: str | None
) -> dict[str, Any]:
    """The account view the API gives (balance, tier, progress, history) and a ledger page."""
    account = loyalty_api.account(session, actor, customer_id)
    ledger = loyalty_api.ledger(
        session, actor, customer_id, kind=None, sort="-id", cursor=cursor, limit=LEDGER_SIZE
    )
    return {
        "account": account,
        "ledger": ledger,
        "tiers": _tier_names(session, request_locale(request)),
        "may_adjust": _may_adjust(session, actor, customer_id),
        "customer_id": customer_id,
    }


@router.get("/loyalty/{customer_id}")
def loyalty_account(
    request: Request,
    session: SessionDep,
    actor: Reader,
    customer_id: int,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """One customer's points, tier, progress to the next tier, tier history and ledger."""
    customer = visible_customer(session, actor, customer_id)
    return render(
        request, "loyalty_account.html", actor, customer=customer,
        **_account(request, session, actor, customer_id, cursor),
    )  # fmt: skip


def _points(text: str) -> int:
    try:
        return int(text.strip().replace(",", ""))
    except ValueError as exc:
        raise InvalidInput(f"'{text}' is not a whole number of points (e.g. 200 or -50)") from exc


@router.post("/loyalty/{customer_id}/adjust")
def adjust_points(
    request: Request,
    session: SessionDep,
    actor: Writer,
    customer_id: int,
    points: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Add or deduct points with a reason (managers and admins); audited like the API's."""
    if actor.role not in ADJUSTERS:
        raise Forbidden(f"a {actor.role.value} may not adjust points: ask a manager")
    visible_customer(session, actor, customer_id)
    if not members.is_writable(session, actor, customer_id):
        raise Forbidden("you may see this customer but not change it (claim it first)")
    try:
        entry = service.adjust(
            session=session, customer_id=customer_id, points=_points(points), reason=reason,
            by_user_id=actor.user_id,
        )  # fmt: skip
    except PatronError as exc:
        # A refused adjustment changes nothing (the account row may have been created).
        session.rollback()
        values = _account(request, session, actor, customer_id, None)
        return render(request, "fragments/loyalty_panel.html", actor, message=exc.message, **values)
    request_refresh(session, customer_id)
    values = _account(request, session, actor, customer_id, None)
    return render(request, "fragments/loyalty_panel.html", actor, adjusted=entry, **values)
