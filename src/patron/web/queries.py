"""What the pages show, read through the same record rules as the API: counts by grade and
stage, the RFM grid, the CLV distribution, valuable customers at risk, a customer's story.

Customer 360's reads each look up one customer's rows by its id through an index, and read a
bounded number of them: the page costs the same at a thousand customers as at a million."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.orm import Session

from patron.analytics.dashboard_summary import (
    AT_RISK_GRADES,
    CLV_BINS,
    clv_axis,
    clv_bin,
    clv_labels,
    combine,
    stored_figures,
)
from patron.analytics.kpi import UNFINISHED_RUN_STATUSES, headline, latest_run_id
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_stored import average_clv_over, every_owner
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.analytics.rfm import SEGMENT_LABELS
from patron.api.access import (
    Actor,
    customer_scope,
    sees_every_customer,
    visible_customers,
    visible_tasks,
    visible_tickets,
)
from patron.auth.models import Role, User
from patron.customers.models import Customer, CustomerScore
from patron.engagement.models import Task, TaskStatus
from patron.engagement.timeline import Entry, timeline
from patron.loyalty import service as loyalty
from patron.loyalty.models import LoyaltyAccount
from patron.orders.models import Order
from patron.rules.rulebook import Tier
from patron.service import tickets
from patron.service.models import SurveyKind, SurveyResponse, Ticket

KPI_KEYS = ("active_customers", "retention_rate", "repurchase_rate", "nps", "csat", "average_clv")


def _live(actor: Actor) -> ColumnElement[bool]:
    return and_(
        visible_customers(actor), Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None)
    )


@dataclass(frozen=True)
class Kpi:
    """One KPI card: this period's value and the change from the period before."""

    key: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        """This period minus the previous one; None when either is unknown."""
        if self.value is None or self.previous is None:
            return None
        return float(self.value) - float(self.previous)


def kpi_cards(session: Session, actor: Actor, period: Period) -> list[Kpi]:
    """The headline KPIs of the period, over the customers the actor may see, against the
    equally long period before it."""
    connection, customers = session.connection(), customer_scope(actor)
    owners = owners_seen(session, actor, every_owner(connection))
    now_values = headline(connection=connection, period=period, customers=customers,
                          clv=lambda: average_clv_over(connection, owners))  # fmt: skip
    # Average CLV comes from the latest scoring run, not the period: it has no earlier value.
    before = headline(connection=connection, period=period.previous(), customers=customers,
                      clv=lambda: None)  # fmt: skip
    return [Kpi(key, now_values.get(key), before.get(key)) for key in KPI_KEYS]


def counts_by(session: Session, actor: Actor, column: Any) -> list[tuple[str, int]]:
    """Visible live customers counted by a column of their scores (grade or stage), unscored
    as ''."""
    rows = session.execute(
        select(column, func.count())
        .select_from(Customer)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(_live(actor))
        .group_by(column)
        .order_by(column)
    )
    return sorted((value or "", int(n)) for value, n in rows)


def _latest_snapshots(session: Session, actor: Actor) -> Select[Any] | None:
    run_id = latest_run_id(session.connection())
    if run_id is None:
        return None
    return (
        select(ScoreSnapshot)
        .join(Customer, Customer.id == ScoreSnapshot.customer_id)
        .where(ScoreSnapshot.run_id == run_id, _live(actor))
    )


def rfm_grid(session: Session, actor: Actor) -> list[list[int]]:
    """Customers per (R score, F score), R and F from 1 to 5, in the latest scoring run."""
    grid = [[0] * 5 for _ in range(5)]
    base = _latest_snapshots(session, actor)
    if base is None:
        return grid
    r, f = ScoreSnapshot.r_score, ScoreSnapshot.f_score
    inner = base.with_only_columns(r.label("r"), f.label("f")).subquery()
    rows = session.execute(
        select(inner.c.r, inner.c.f, func.count()).group_by(inner.c.r, inner.c.f)
    )
    for r_score, f_score, n in rows:
        if r_score and f_score and 1 <= r_score <= 5 and 1 <= f_score <= 5:
            grid[r_score - 1][f_score - 1] = int(n)
    return grid


def clv_histogram(session: Session, actor: Actor) -> dict[str, list[Any]]:
    """The CLV distribution of the latest run: bin labels and visible customers per bin, on
    the run's axis shared by every user."""
    base = _latest_snapshots(session, actor)
    run_id = latest_run_id(session.connection())
    if base is None or run_id is None:
        return {"labels": [], "counts": []}
    top = clv_axis(session.connection(), run_id)
    inner = (
        base.with_only_columns(clv_bin(top).label("bin"))
        .where(ScoreSnapshot.clv.is_not(None))
        .subquery()
    )
    counts = [0] * CLV_BINS
    for bin_index, n in session.execute(select(inner.c.bin, func.count()).group_by(inner.c.bin)):
        counts[int(bin_index)] = int(n)
    if not any(counts):
        return {"labels": [], "counts": []}
    return {"labels": clv_labels(top), "counts": counts}


def owners_seen(session: Session, actor: Actor, owners: Iterable[int | None]) -> list[Any]:
    """Of the owners in a run's figures, those whose customers the actor sees, by the same
    rules as `visible_customers`: all; the pool, the manager's own and the team's; the pool
    and the agent's own."""
    if sees_every_customer(actor):
        return list(owners)
    seen: set[int | None] = {None, actor.user_id}
    if actor.role is Role.manager and actor.team is not None:
        seen |= set(session.scalars(select(User.id).where(User.team == actor.team)))
    return [owner for owner in owners if owner in seen]


def stored_dashboard(session: Session, actor: Actor) -> dict[str, Any] | None:
    """The dashboard's charts and at-risk candidates from the figures the latest run stored
    per owner, added up over the owners the actor sees; None when the run stored none."""
    connection = session.connection()
    run_id = latest_run_id(connection)
    if run_id is None:
        return None
    stored = stored_figures(connection, run_id)
    if not stored:
        return None
    top = next(iter(stored.values()))["clv_top"]
    return combine([stored[owner] for owner in owners_seen(session, actor, stored)], top)


@dataclass(frozen=True)
class AtRisk:
    """A valuable customer (grade A or B) the latest run warned about."""

    customer_id: int
    name: str
    grade: str | None
    owner_id: int | None
    warnings: list[str]
    clv: float | None
    churn_risk: float | None


def valuable_at_risk(
    session: Session, actor: Actor, limit: int = 10, among: list[int] | None = None
) -> list[AtRisk]:
    """Grade A and B customers with warnings in the latest run, the most valuable first
    (only `among` these customers when given: the candidates the run's figures kept)."""
    base = _latest_snapshots(session, actor)
    if base is None:
        return []
    if among is not None:
        base = base.where(Customer.id.in_(among))
    rows = session.execute(
        base.with_only_columns(
            Customer.id, Customer.name, ScoreSnapshot.grade, Customer.owner_id,
            ScoreSnapshot.warnings, ScoreSnapshot.clv, ScoreSnapshot.churn_risk,
        )
        .where(ScoreSnapshot.grade.in_(AT_RISK_GRADES), ScoreSnapshot.warnings != "")
        .order_by(ScoreSnapshot.clv.desc().nulls_last(), Customer.id)
        .limit(limit)
    )  # fmt: skip
    return [
        AtRisk(cid, name, grade, owner, [w for w in warnings.split(";") if w], clv, risk)
        for cid, name, grade, owner, warnings, clv, risk in rows
    ]


def latest_scores(session: Session, customer_id: int) -> tuple[ScoreSnapshot, ScoringRun] | None:
    """The customer's snapshot in the latest finished run that scored them."""
    found = session.execute(
        select(ScoreSnapshot, ScoringRun)
        .join(ScoringRun, ScoringRun.id == ScoreSnapshot.run_id)
        .where(
            ScoreSnapshot.customer_id == customer_id,
            ScoringRun.status.not_in(UNFINISHED_RUN_STATUSES),
        )
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).first()
    return None if found is None else (found[0], found[1])


def open_tasks(session: Session, actor: Actor, customer_id: int) -> list[Task]:
    """The customer's open tasks the actor may see, the soonest due first."""
    return list(
        session.scalars(
            select(Task)
            .where(
                Task.customer_id == customer_id,
                Task.status.in_((TaskStatus.open, TaskStatus.snoozed)),
                visible_tasks(actor),
            )
            .order_by(Task.due_at.nulls_last(), Task.id)
            .limit(20)
        )
    )


def recent_orders(session: Session, customer_id: int, limit: int = 10) -> list[Order]:
    """The customer's latest orders."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.ordered_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )


def customer_tickets(
    session: Session, actor: Actor, customer_id: int, limit: int = 10
) -> list[Ticket]:
    """The customer's tickets the actor may see: the open ones first, then the latest."""
    still_open = case((Ticket.status.in_(tickets.OPEN), 0), else_=1)
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer_id, visible_tickets(actor))
            .order_by(still_open, Ticket.opened_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def latest_nps(session: Session, customer_id: int) -> SurveyResponse | None:
    """The customer's latest scored NPS answer."""
    return session.scalars(
        select(SurveyResponse)
        .where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.kind == SurveyKind.nps,
            SurveyResponse.score.is_not(None),
        )
        .order_by(SurveyResponse.answered_at.desc(), SurveyResponse.id.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Membership:
    """A customer's points balance and member tier (None: no tier yet)."""

    balance: int
    tier: Tier | None


def membership(session: Session, customer_id: int) -> Membership | None:
    """The customer's loyalty account with its tier as the active rulebook names it; None
    for a customer who never had points."""
    account = session.get(LoyaltyAccount, customer_id)
    if account is None:
        return None
    tiers = (tier for _, tier in loyalty.ladder(loyalty.loyalty_rules(session)))
    return Membership(account.balance, next((t for t in tiers if t.id == account.tier), None))


HIDDEN_UNLESS_VISIBLE: dict[str, tuple[Any, Callable[[Actor], ColumnElement[bool]]]] = {
    "task": (Task, visible_tasks),
    "ticket": (Ticket, visible_tickets),
}


def customer_timeline(
    session: Session, actor: Actor, customer_id: int, *, cursor: str | None, limit: int
) -> tuple[list[Entry], str | None]:
    """A page of the customer's timeline, newest first, without the tasks and tickets the
    actor may not see (another agent's work on a pool customer); the cursor of the next."""
    entries, next_cursor = timeline(
        session=session, customer_id=customer_id, limit=limit, cursor=cursor
    )
    hidden: set[tuple[str, int]] = set()
    for kind, (model, rule) in HIDDEN_UNLESS_VISIBLE.items():
        ids = [e.id for e in entries if e.kind == kind]
        if ids and not sees_every_customer(actor):
            seen = set(session.scalars(select(model.id).where(model.id.in_(ids), rule(actor))))
            hidden |= {(kind, i) for i in ids if i not in seen}
    return [e for e in entries if (e.kind, e.id) not in hidden], next_cursor


LIST_COUNT_CAP = 10_000


def capped_count(
    session: Session, query: Select[Any], cap: int = LIST_COUNT_CAP
) -> tuple[int, bool]:
    """How many rows the query finds, counting no further than `cap`, and whether it stopped
    there: counting a million visible customers on every list page costs more than the page."""
    found = session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0
    return min(found, cap), found > cap


def segment_choices() -> list[str]:
    """The RFM segments a customer may be in, for the list's filter: the known ids, not a
    GROUP BY over every customer."""
    return list(SEGMENT_LABELS)
