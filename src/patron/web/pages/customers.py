"""The customer list (the API's filters and record rules, masked by role) and Customer 360
(its reads in `patron.web.queries`, what it derives in `patron.web.customer_360`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.api.access import Actor, Permission, visible_customer
from patron.api.customer_search import SORT_KEYS, CustomerFilters, customer_query
from patron.api.deps import SessionDep, requires
from patron.api.pagination import paginate
from patron.auth.models import Role, User
from patron.customers.api import CustomerView, present
from patron.customers.models import Customer
from patron.db import now
from patron.errors import PatronError
from patron.web import customer_360 as c360
from patron.web import queries
from patron.web import views as saved
from patron.web.customer_bulk import BulkAction, run_bulk
from patron.web.pages.base import PageRoute, render
from patron.web.work_queries import cards

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]
PAGE_SIZE = 25
TIMELINE_SIZE = 10
GRADES = ("A", "B", "C", "D")
STAGES = ("new", "active", "at_risk", "dormant", "churned", "won_back")
LIST_PAGE = "/customers"
FILTER_NAMES = ("grade", "stage", "segment", "city", "owner", "has_warning", "q", "sort")


def _owners(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """Owner filter choices: everyone for those who see every team, else oneself and the pool."""
    choices = [("me", "me"), ("pool", "pool")]
    if actor.role in (Role.admin, Role.analyst, Role.manager):
        query = select(User.id, User.display_name).where(User.role == Role.agent)
        if actor.role is Role.manager:
            query = query.where(User.team == actor.team)
        choices += [(str(uid), name) for uid, name in session.execute(query.order_by(User.id))]
    return choices


def _assignees(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Whom the user may give customers to: anyone (admins), the team (managers), nobody else."""
    if not actor.can(Permission.customers_assign) or actor.role not in (Role.admin, Role.manager):
        return []
    query = select(User.id, User.display_name).where(User.active.is_(True))
    if actor.role is Role.manager:
        query = query.where(User.team == actor.team)
    return [(uid, name) for uid, name in session.execute(query.order_by(User.display_name))]


def _warning_filter(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _export_query(chosen: dict[str, str]) -> str:
    """The list's filters as the export API spells them, so an export holds what the list
    shows (the page's has_warning=yes/no is the API's true/false; the sort does not matter)."""
    wanted = {name: value for name, value in chosen.items() if value and name != "sort"}
    if "has_warning" in wanted:
        warned = _warning_filter(wanted.pop("has_warning"))
        if warned is not None:
            wanted["has_warning"] = str(warned).lower()
    return urlencode(wanted)


@router.get("/customers")
def customer_list(
    request: Request,
    session: SessionDep,
    actor: Reader,
    grade: Annotated[str, Query(max_length=8)] = "",
    stage: Annotated[str, Query(max_length=32)] = "",
    segment: Annotated[str, Query(max_length=32)] = "",
    city: Annotated[str, Query(max_length=64)] = "",
    owner: Annotated[str, Query(max_length=32)] = "",
    has_warning: Annotated[str, Query(max_length=3)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    sort: Annotated[str, Query(max_length=32)] = "id",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Visible customers, filtered, a page at a time; personal data masked by role."""
    filters = CustomerFilters(
        grade=[grade] if grade else [], stage=[stage] if stage else [],
        segment=[segment] if segment else [], city=city or None, owner=owner or None,
        has_warning=_warning_filter(has_warning), q=q or None,
    )  # fmt: skip
    query = customer_query(session, actor, filters)
    total, more = queries.capped_count(session, query)
    rows, next_cursor = paginate(
        session, query, sort=sort if sort.lstrip("-") in SORT_KEYS else "id", keys=SORT_KEYS,
        id_column=Customer.id, cursor=cursor, limit=PAGE_SIZE,
    )  # fmt: skip
    chosen = {name: value for name, value in request.query_params.items() if name in FILTER_NAMES}
    next_url = "?" + urlencode({**chosen, "cursor": next_cursor}) if next_cursor else None
    return render(
        request, "customers.html", actor, customers=present(session, actor, list(rows)),
        total=total, more=more, next_url=next_url, first_url="?" + urlencode(chosen),
        chosen=chosen, query=urlencode(chosen), export_query=_export_query(chosen),
        views=saved.views_of(session, actor.user_id, LIST_PAGE),
        writable=actor.can(Permission.customers_write), assignees=_assignees(session, actor),
        grades=GRADES, stages=STAGES, owners=_owners(session, actor),
        segments=queries.segment_choices(),
    )  # fmt: skip


def _why(explain: dict[str, Any]) -> dict[str, Any]:
    """The rule and feature values behind grade, stage and each warning."""
    return {
        "grade": explain.get("grade") or {},
        "stage": explain.get("stage") or {},
        "segments": explain.get("segments") or {},
        "warnings": explain.get("warnings") or {},
        "drivers": [d for d in str(explain.get("churn_drivers") or "").split(";") if d],
    }


def _outlook(
    session: Session, view: CustomerView, found: tuple[ScoreSnapshot, ScoringRun] | None
) -> dict[str, Any]:
    """The expected next purchase, the products to offer and the next best action."""
    today = now().date()
    purchase, offers, birthday = None, [], None
    warnings: tuple[str, ...] = ()
    if found:
        snapshot, run = found
        features = snapshot.features or {}
        purchase = c360.expected_next_purchase(features, run.as_of, run.horizon_days)
        offers = c360.offers(snapshot.explain or {})
        # Whoever may not see the birthday is not told that it is near either.
        birthday = None if view.masked else c360.days_to_birthday(features, run.as_of, today)
        warnings = tuple(w for w in snapshot.warnings.split(";") if w)
    nps = queries.latest_nps(session, view.id)
    state = c360.CustomerState(
        warnings=warnings,
        nps_score=nps.score if nps else None,
        nps_days_ago=(today - nps.answered_at.date()).days if nps else None,
        birthday_in_days=birthday,
        days_late=purchase.days_late(today) if purchase else 0,
    )
    return {
        "next_purchase": purchase, "offers": offers, "state": state,
        "action": c360.next_best_action(state), "today": today,
    }  # fmt: skip


def _timeline(
    session: Session, actor: Actor, customer_id: int, cursor: str | None
) -> dict[str, Any]:
    entries, next_cursor = queries.customer_timeline(
        session, actor, customer_id, cursor=cursor, limit=TIMELINE_SIZE
    )
    return {"entries": entries, "next_cursor": next_cursor, "customer_id": customer_id}


@router.get("/customers/{customer_id}")
def customer_360(
    request: Request, session: SessionDep, actor: Reader, customer_id: int
) -> Response:
    """One customer: profile (masked by role), scores and why, the expected next purchase,
    products to offer and the next best action, tasks, tickets, points and tier, orders and
    the timeline."""
    customer = visible_customer(session, actor, customer_id)
    view = present(session, actor, [customer])[0]
    found = queries.latest_scores(session, customer.id)
    snapshot = found[0] if found else None
    return render(
        request, "customer.html", actor, customer=view, snapshot=snapshot,
        run=found[1] if found else None,
        why=_why(snapshot.explain or {}) if snapshot else None,
        warnings=[w for w in snapshot.warnings.split(";") if w] if snapshot else [],
        tasks=queries.open_tasks(session, actor, customer.id),
        tickets=cards(session, queries.customer_tickets(session, actor, customer.id), now()),
        membership=queries.membership(session, customer.id),
        orders=queries.recent_orders(session, customer.id),
        timeline=_timeline(session, actor, customer.id, None),
        writable=actor.can(Permission.customers_write),
        **_outlook(session, view, found),
    )  # fmt: skip


@router.get("/customers/{customer_id}/timeline")
def customer_timeline(
    request: Request,
    session: SessionDep,
    actor: Reader,
    customer_id: int,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The timeline's next entries after the cursor, for its "more" button."""
    visible_customer(session, actor, customer_id)
    return render(
        request, "fragments/customer_timeline.html", actor,
        timeline=_timeline(session, actor, customer_id, cursor),
    )  # fmt: skip


@router.post("/customers/bulk")
def bulk_action(
    request: Request,
    session: SessionDep,
    actor: Writer,
    action: Annotated[BulkAction, Form()],
    ids: Annotated[list[int], Form()] = [],  # noqa: B006
    owner_id: Annotated[int | None, Form()] = None,
    tag: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Assign, tag, untag or release the selected customers, each checked on its own; the
    answer is one line: how many were done and why the others were refused."""
    try:
        result = run_bulk(
            session=session, actor=actor, action=action, customer_ids=ids,
            owner_id=owner_id, tag=tag, reason=reason,
        )  # fmt: skip
    except PatronError as exc:
        return render(request, "fragments/customer_bulk.html", actor, message=exc.message)
    return render(request, "fragments/customer_bulk.html", actor, result=result)


@router.post("/customers/views")
def save_view(
    session: SessionDep,
    actor: Reader,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save the list's current filters under a name, then open that view."""
    view = saved.save_view(
        session=session, user_id=actor.user_id, page=LIST_PAGE, name=name,
        query=saved.clean_query(query, FILTER_NAMES),
    )  # fmt: skip
    return RedirectResponse(f"{LIST_PAGE}?{view.query}", status_code=303)


@router.post("/customers/views/{view_id}/delete")
def delete_view(session: SessionDep, actor: Reader, view_id: int) -> Response:
    """Delete one of the user's saved views."""
    saved.delete_view(session=session, user_id=actor.user_id, view_id=view_id)
    return RedirectResponse(LIST_PAGE, status_code=303)
