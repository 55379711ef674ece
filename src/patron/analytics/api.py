"""/api/v1/customers/{id}/scores (the latest scores and why) and /api/v1/kpi."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from patron.analytics.kpi import UNFINISHED_RUN_STATUSES, headline
from patron.analytics.kpi_period import parse_period
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.api.access import Actor, Permission, customer_scope, visible_customer
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.db import now
from patron.errors import NotFound
from patron.wire import LocalDateTime

router = APIRouter(tags=["analytics"], responses=responses(401, 403, 422))


class RunView(BaseModel):
    """The scoring run a snapshot came from."""

    id: int
    as_of: LocalDateTime
    horizon_days: int
    rulebook_version: int | None
    purchase_model: str | None
    finished_at: LocalDateTime | None


class Scores(BaseModel):
    """A customer's scores from the latest finished run, with the features and explanation."""

    customer_id: int
    run: RunView
    grade: str | None
    stage: str | None
    rfm_segment: str | None
    value_class: str | None
    clv: float | None
    p_alive: float | None
    churn_risk: float | None
    warnings: list[str]
    features: dict[str, Any]
    explain: dict[str, Any]


@router.get(
    "/customers/{customer_id}/scores",
    summary="A customer's latest scores and explanation",
    responses=responses(404),
)
def customer_scores(
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.scores_read)],
    customer_id: int,
) -> Scores:
    """The snapshot of the customer in the latest finished scoring run that scored them."""
    customer = visible_customer(session, actor, customer_id)
    found = session.execute(
        select(ScoreSnapshot, ScoringRun)
        .join(ScoringRun, ScoringRun.id == ScoreSnapshot.run_id)
        .where(
            ScoreSnapshot.customer_id == customer.id,
            ScoringRun.status.not_in(UNFINISHED_RUN_STATUSES),
        )
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).first()
    if found is None:
        raise NotFound(f"customer {customer_id} has no scores yet: run `patron score` first")
    snapshot, run = found
    return Scores(
        customer_id=customer.id,
        run=RunView.model_validate(run, from_attributes=True),
        grade=snapshot.grade,
        stage=snapshot.stage,
        rfm_segment=snapshot.rfm_segment,
        value_class=snapshot.value_class,
        clv=snapshot.clv,
        p_alive=snapshot.p_alive,
        churn_risk=snapshot.churn_risk,
        warnings=[w for w in snapshot.warnings.split(";") if w],
        features=snapshot.features or {},
        explain=snapshot.explain or {},
    )


@router.get("/kpi", summary="Headline KPIs of a period")
def kpi(
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.kpi_read)],
    date_from: Annotated[
        str | None, Query(alias="from", description="First day, YYYY-MM-DD (default 30 days ago)")
    ] = None,
    date_to: Annotated[
        str | None, Query(alias="to", description="Last day, included (default today)")
    ] = None,
) -> dict[str, Any]:
    """Retention, churn, repurchase rate, NPS, CSAT, active customers and average CLV, over
    the customers the caller may see (a manager's team and the pool, an agent's own and
    the pool; everyone for admins and analysts)."""
    period = parse_period(date_from, date_to, today=now().date())
    return headline(connection=session.connection(), period=period, customers=customer_scope(actor))
