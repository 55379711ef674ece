"""Campaign use cases: save segments, create, preview, launch once, measure against the holdout.

Messages go only through the notification outbox, in the launch's transaction; services never
commit, the caller's unit of work does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from patron.campaigns import targeting
from patron.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    OptOut,
    RecipientGroup,
    Segment,
)
from patron.campaigns.schemas import (
    AudienceView,
    CampaignIn,
    GroupResult,
    LaunchView,
    ResultsView,
    SegmentIn,
)
from patron.customers.models import Customer
from patron.db import now
from patron.errors import Conflict, InvalidInput, NotFound
from patron.notify.models import Channel
from patron.notify.outbox import Outgoing, enqueue_many
from patron.orders.models import Order, OrderStatus

LOCALES = ("zh_CN", "en")
FIELDS = ("name", "city", "grade", "company", "external_id")
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
CENT = Decimal("0.01")


def locale_of(text: str) -> str:
    """A locale as Patron names it (`zh-CN` is read as `zh_CN`); refused if unknown."""
    locale = text.strip().replace("-", "_")
    if locale.lower() == "zh_cn":
        return "zh_CN"
    if locale.lower() == "en":
        return "en"
    raise InvalidInput(f"'{text}' is not a message locale; use zh_CN or en")


def check_template(text: str) -> None:
    """Refuse a placeholder other than FIELDS and a lone brace, naming them."""
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name is not None and name not in FIELDS:
            raise InvalidInput(f"'{{{name}}}' is not a placeholder; use {', '.join(FIELDS)}")
    if "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
        raise InvalidInput("a template has a lone brace: write {{ or }} for a brace itself")


def fill(text: str, values: dict[str, str]) -> str:
    """The template with each `{field}` replaced by plain text (never evaluated)."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), "")

    return PLACEHOLDER.sub(one, text)


def create_segment(*, session: Session, segment_in: SegmentIn, by: int | None) -> Segment:
    """Save a segment after checking its expression like any rule."""
    checked = targeting.check_segment(segment_in.expression)
    name = segment_in.name.strip()
    if session.scalar(select(Segment.id).where(Segment.name == name)) is not None:
        raise Conflict(f"a segment named '{name}' exists already")
    segment = Segment(
        name=name,
        expression=checked.source,
        description=segment_in.description,
        created_by_id=by,
    )
    session.add(segment)
    session.flush()
    return segment


def create_campaign(*, session: Session, campaign_in: CampaignIn, by: int | None) -> Campaign:
    """Store a draft campaign after checking its channel, locales and templates."""
    if session.get(Segment, campaign_in.segment_id) is None:
        raise NotFound(f"no segment with id {campaign_in.segment_id}")
    if campaign_in.channel not in {c.value for c in Channel}:
        raise InvalidInput(f"'{campaign_in.channel}' is not a channel")
    targeting.address_column(campaign_in.channel)
    templates = {}
    for locale, message in campaign_in.templates.items():
        check_template(message.subject)
        check_template(message.body)
        templates[locale_of(locale)] = message.model_dump()
    default = locale_of(campaign_in.default_locale)
    if default not in templates:
        raise InvalidInput(f"the default locale {default} has no template")
    campaign = Campaign(
        **campaign_in.model_dump(exclude={"templates", "default_locale"}),
        templates=templates, default_locale=default, created_by_id=by,
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(*, session: Session, campaign_id: int, creator: int | None = None) -> Campaign:
    """One campaign (only `creator`'s when given), or NotFound."""
    query = select(Campaign).where(Campaign.id == campaign_id)
    if creator is not None:
        query = query.where(Campaign.created_by_id == creator)
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


def _audience(
    session: Session, campaign: Campaign, visible: ColumnElement[bool], moment: datetime
) -> targeting.Audience:
    segment = session.get(Segment, campaign.segment_id)
    if segment is None:
        raise NotFound(f"the campaign's segment {campaign.segment_id} no longer exists")
    return targeting.audience(
        session,
        checked=targeting.check_segment(segment.expression),
        visible=visible,
        channel=campaign.channel,
        cap=targeting.Cap(campaign.cap_messages, campaign.cap_days),
        campaign_id=campaign.id,
        holdout_share=campaign.holdout_share,
        moment=moment,
    )


def preview(*, session: Session, campaign: Campaign, visible: ColumnElement[bool]) -> AudienceView:
    """The audience if the campaign launched now; nothing is written or sent."""
    return AudienceView(**_audience(session, campaign, visible, now()).counts())


def _messages(campaign: Campaign, members: targeting.Audience) -> list[Outgoing]:
    """One personalised message per treated customer, in their locale if the campaign has it."""
    treated = np.flatnonzero(members.groups == RecipientGroup.treated.value)
    personal = {name: values[treated] for name, values in members.personal.items()}
    ids = members.customer_ids[treated].tolist()
    messages = []
    for row, customer_id in enumerate(ids):
        values = {field: str(personal[field][row] or "") for field in FIELDS}
        wanted = personal["locale"][row]
        locale = wanted if wanted in campaign.templates else campaign.default_locale
        template = campaign.templates[locale]
        messages.append(
            Outgoing(
                channel=campaign.channel,
                recipient=str(personal["address"][row]),
                subject=fill(template["subject"], values),
                body=fill(template["body"], values),
                dedupe_key=f"campaign:{campaign.id}:customer:{customer_id}",
                customer_id=customer_id,
                payload={"campaign_id": campaign.id, "locale": locale},
            )
        )
    return messages


def _send(session: Session, campaign: Campaign, members: targeting.Audience) -> dict[int, int]:
    """Enqueue the treated group's messages in bulk (one INSERT per 1,000); their outbox ids."""
    messages = _messages(campaign, members)
    queued = enqueue_many(session=session, messages=messages)
    return {
        message.customer_id: queued[message.dedupe_key]
        for message in messages
        if message.customer_id is not None and message.dedupe_key in queued
    }


def launch(
    *,
    session: Session,
    campaign_id: int,
    visible: ColumnElement[bool],
    moment: datetime | None = None,
) -> LaunchView:
    """Send to the treated group once; launching again sends nothing and reports the first."""
    moment = moment or now()
    claimed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.draft)
        .values(status=CampaignStatus.launched, launched_at=moment)
    )
    campaign = get_campaign(session=session, campaign_id=campaign_id)
    session.refresh(campaign)
    if not getattr(claimed, "rowcount", 0):
        first = campaign.launched_at or moment
        return LaunchView(
            **campaign.summary, campaign_id=campaign.id, launched_at=first, already_launched=True
        )
    members = _audience(session, campaign, visible, moment)
    sent = _send(session, campaign, members)
    rows = [
        {"campaign_id": campaign.id, "customer_id": int(customer_id), "group": group,
         "reason": reason, "outbox_id": sent.get(int(customer_id)), "decided_at": moment}
        for customer_id, group, reason in zip(
            members.customer_ids, members.groups, members.reasons, strict=True
        )
    ]  # fmt: skip
    if rows:
        # Core, not the ORM bulk path: that splits the rows into batches by which values are
        # None (outbox_id, reason), one round trip each.
        session.connection().execute(insert(CampaignRecipient), rows)
    campaign.summary = members.counts()
    session.flush()
    return LaunchView(**campaign.summary, campaign_id=campaign.id, launched_at=moment,
                      already_launched=False)  # fmt: skip


def _group(customers: int, buyers: int, orders: int, revenue: Any) -> GroupResult:
    total = Decimal(str(revenue or 0)).quantize(CENT)
    return GroupResult(
        customers=customers, buyers=buyers, orders=orders, revenue=total,
        conversion_rate=buyers / customers if customers else None,
        revenue_per_customer=(total / customers).quantize(CENT) if customers else None,
    )  # fmt: skip


def results(*, session: Session, campaign: Campaign) -> ResultsView:
    """Paid orders and revenue within `measure_days` after the launch, treated vs held out."""
    if campaign.launched_at is None:
        raise InvalidInput("the campaign has not been launched: there is nothing to measure yet")
    start = campaign.launched_at
    end = start + timedelta(days=campaign.measure_days)
    members = select(CampaignRecipient.customer_id).where(
        CampaignRecipient.campaign_id == campaign.id
    )
    revenue = func.sum(Order.amount).label("revenue")
    bought = (
        select(Order.customer_id, func.count().label("orders"), revenue)
        .where(
            Order.status == OrderStatus.paid,
            Order.ordered_at >= start,
            Order.ordered_at < end,
            Order.customer_id.in_(members),
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(CampaignRecipient.group, func.count(), func.count(bought.c.customer_id),
               func.coalesce(func.sum(bought.c.orders), 0), func.sum(bought.c.revenue))
        .outerjoin(bought, bought.c.customer_id == CampaignRecipient.customer_id)
        .where(CampaignRecipient.campaign_id == campaign.id,
               CampaignRecipient.group.in_([RecipientGroup.treated, RecipientGroup.holdout]))
        .group_by(CampaignRecipient.group)
    ).all()  # fmt: skip
    found = {
        RecipientGroup(row[0]): _group(int(row[1]), int(row[2]), int(row[3]), row[4])
        for row in rows
    }
    treated = found.get(RecipientGroup.treated, _group(0, 0, 0, 0))
    holdout = found.get(RecipientGroup.holdout, _group(0, 0, 0, 0))
    return ResultsView(
        campaign_id=campaign.id, window_start=start, window_end=end, complete=end <= now(),
        treated=treated, holdout=holdout,
        conversion_difference=_difference(treated.conversion_rate, holdout.conversion_rate),
        revenue_per_customer_difference=_difference(
            treated.revenue_per_customer, holdout.revenue_per_customer
        ),
    )  # fmt: skip


def _difference(treated: Any, holdout: Any) -> Any:
    return None if treated is None or holdout is None else treated - holdout


def opt_out(*, session: Session, customer: Customer, channel: str, reason: str) -> OptOut:
    """Record that the customer wants no campaign messages on the channel (`*`: any)."""
    if channel != "*" and channel not in {c.value for c in Channel}:
        raise InvalidInput(f"'{channel}' is not a channel; use * for every channel")
    found = session.get(OptOut, (customer.id, channel))
    if found is None:
        found = OptOut(customer_id=customer.id, channel=channel, reason=reason)
        session.add(found)
        session.flush()
    return found
