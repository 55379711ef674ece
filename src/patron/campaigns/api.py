"""/api/v1/campaigns: segments, campaigns, audience preview, launch and results;
/api/v1/customers/{id}/opt-outs: a customer's wish to receive no campaign messages.

Admins and managers create and launch; analysts read campaigns and results; agents record
opt-outs for their customers. A campaign reaches only the customers its launcher may see,
and a manager reads only their own campaigns. Tokens need `customers:write` to change and
`customers:read` to read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.api.access import (
    Actor,
    Permission,
    require_writable,
    visible_customer,
    visible_customers,
)
from patron.api.deps import CurrentActor, SessionDep, requires
from patron.api.errors import responses
from patron.auth.models import Role
from patron.campaigns import service, targeting
from patron.campaigns.models import Campaign, OptOut, Segment
from patron.campaigns.schemas import (
    AudienceView,
    CampaignIn,
    CampaignView,
    LaunchView,
    OptOutIn,
    ResultsView,
    SegmentIn,
    SegmentView,
)
from patron.errors import Forbidden

router = APIRouter(tags=["campaigns"], responses=responses(401, 403, 422))
WRITERS = frozenset({Role.admin, Role.manager})
READERS = WRITERS | {Role.analyst}


def _role(actor: Actor, permission: Permission, roles: frozenset[Role]) -> Actor:
    actor.require(permission)
    if actor.role not in roles:
        raise Forbidden(f"a {actor.role.value} may not do this with campaigns")
    return actor


def _writer(actor: CurrentActor) -> Actor:
    return _role(actor, Permission.customers_write, WRITERS)


def _reader(actor: CurrentActor) -> Actor:
    return _role(actor, Permission.customers_read, READERS)


Writer = Annotated[Actor, Depends(_writer)]
Reader = Annotated[Actor, Depends(_reader)]
CustomerWriter = Annotated[Actor, requires(Permission.customers_write)]


def _campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    creator = actor.user_id if actor.role is Role.manager else None
    return service.get_campaign(session=session, campaign_id=campaign_id, creator=creator)


def _segment_view(segment: Segment) -> SegmentView:
    features = sorted(targeting.check_segment(segment.expression).features)
    return SegmentView(
        id=segment.id, name=segment.name, expression=segment.expression,
        description=segment.description, features=features, created_at=segment.created_at,
    )  # fmt: skip


def _campaign_view(campaign: Campaign) -> CampaignView:
    return CampaignView.model_validate(campaign, from_attributes=True)


@router.post("/campaigns/segments", status_code=201, summary="Save a segment")
def create_segment(session: SessionDep, actor: Writer, body: SegmentIn) -> SegmentView:
    """A named rule expression; 422 `invalid_rule` names what is wrong with it."""
    segment = service.create_segment(session=session, segment_in=body, by=actor.user_id)
    return _segment_view(segment)


@router.get("/campaigns/segments", summary="List segments")
def list_segments(session: SessionDep, actor: Reader) -> list[SegmentView]:
    """Every saved segment, by name."""
    return [_segment_view(s) for s in session.scalars(select(Segment).order_by(Segment.name))]


@router.post("/campaigns", status_code=201, summary="Create a campaign", responses=responses(404))
def create_campaign(session: SessionDep, actor: Writer, body: CampaignIn) -> CampaignView:
    """A draft campaign to a saved segment; nothing is sent until it is launched."""
    campaign = service.create_campaign(session=session, campaign_in=body, by=actor.user_id)
    return _campaign_view(campaign)


@router.get("/campaigns", summary="List campaigns")
def list_campaigns(session: SessionDep, actor: Reader) -> list[CampaignView]:
    """Campaigns, newest first (a manager's own only)."""
    query = select(Campaign).order_by(Campaign.id.desc())
    if actor.role is Role.manager:
        query = query.where(Campaign.created_by_id == actor.user_id)
    return [_campaign_view(c) for c in session.scalars(query)]


@router.get("/campaigns/{campaign_id}", summary="One campaign", responses=responses(404))
def get_campaign(session: SessionDep, actor: Reader, campaign_id: int) -> CampaignView:
    """One campaign and, once launched, its launch counts."""
    return _campaign_view(_campaign(session, actor, campaign_id))


@router.get(
    "/campaigns/{campaign_id}/audience", summary="Preview the audience", responses=responses(404)
)
def preview_audience(session: SessionDep, actor: Reader, campaign_id: int) -> AudienceView:
    """How many customers the segment holds now among those the caller sees, and how they would
    split into treated, held out and suppressed (by reason). Nothing is sent."""
    campaign = _campaign(session, actor, campaign_id)
    return service.preview(session=session, campaign=campaign, visible=visible_customers(actor))


@router.post(
    "/campaigns/{campaign_id}/launch", summary="Launch a campaign", responses=responses(404)
)
def launch_campaign(session: SessionDep, actor: Writer, campaign_id: int) -> LaunchView:
    """Queue the treated group's messages in the outbox; a second launch sends nothing."""
    _campaign(session, actor, campaign_id)
    return service.launch(
        session=session, campaign_id=campaign_id, visible=visible_customers(actor)
    )


@router.get(
    "/campaigns/{campaign_id}/results", summary="Campaign results", responses=responses(404)
)
def campaign_results(session: SessionDep, actor: Reader, campaign_id: int) -> ResultsView:
    """Conversion and revenue per customer, treated against held out, and their difference."""
    return service.results(session=session, campaign=_campaign(session, actor, campaign_id))


@router.post(
    "/customers/{customer_id}/opt-outs",
    status_code=201,
    summary="Record a campaign opt-out",
    responses=responses(404),
)
def opt_out(
    session: SessionDep, actor: CustomerWriter, customer_id: int, body: OptOutIn
) -> OptOutIn:
    """The customer receives no more campaign messages on the channel (`*`: on any)."""
    customer = visible_customer(session, actor, customer_id)
    require_writable(session, actor, customer)
    row: OptOut = service.opt_out(
        session=session, customer=customer, channel=body.channel, reason=body.reason
    )
    return OptOutIn(channel=row.channel, reason=row.reason)
