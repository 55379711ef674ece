"""/api/v1/webhooks: admins manage outgoing webhook subscriptions (URL, secret, event types).

The secret is shown once, when the subscription is created (or the secret replaced); a
receiver checks `X-Patron-Signature` with it. Deleting a subscription stops the messages it
still had waiting, in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.audit.service import record
from patron.errors import NotFound
from patron.notify.models import OutboxMessage, OutboxStatus
from patron.notify.webhooks import PREFIX, EventType
from patron.notify.webhooks_models import WebhookSubscription
from patron.wire import LocalDateTime

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=responses(401, 403, 422))
Admin = Annotated[Actor, requires(Permission.webhooks_admin)]
Secret = Annotated[str, Field(min_length=16, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionIn(_In):
    """A new subscription; without a `secret` Patron makes one (shown in the answer, once)."""

    url: HttpUrl = Field(description="Where to POST the events (http or https)")
    events: list[EventType] = Field(min_length=1)
    secret: Secret | None = None
    description: str = Field(default="", max_length=200)
    active: bool = True


class SubscriptionPatch(_In):
    """The fields to change; a new `secret` replaces the old one at once."""

    url: HttpUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1)
    secret: Secret | None = None
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class SubscriptionView(BaseModel):
    """A subscription; `secret` only in the answer that set it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: LocalDateTime
    updated_at: LocalDateTime
    secret: str | None = None


def _find(session: Session, subscription_id: int) -> WebhookSubscription:
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise NotFound(f"no webhook subscription with id {subscription_id}")
    return found


def _view(found: WebhookSubscription, *, secret: str | None = None) -> SubscriptionView:
    view = SubscriptionView.model_validate(found)
    view.secret = secret
    return view


def _audit(session: Session, actor: Actor, action: str, found: WebhookSubscription) -> None:
    record(
        session=session, action=f"webhook.{action}", entity="webhook_subscription",
        entity_id=found.id, user_id=actor.user_id, url=found.url, events=list(found.events),
    )  # fmt: skip


@router.get("/events", summary="The event types a webhook can subscribe to")
def event_types(actor: Admin) -> list[str]:
    """Every event type Patron sends."""
    return [event.value for event in EventType]


@router.get("", summary="List webhook subscriptions")
def list_subscriptions(session: SessionDep, actor: Admin) -> list[SubscriptionView]:
    """Every subscription, oldest first; secrets are never listed."""
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [_view(row) for row in rows]


@router.post("", status_code=201, summary="Create a webhook subscription")
def create_subscription(
    session: SessionDep, actor: Admin, data: SubscriptionIn
) -> SubscriptionView:
    """Subscribe a URL to event types; the answer holds the signing secret, shown this once."""
    secret = data.secret or secrets.token_urlsafe(32)
    found = WebhookSubscription(
        url=str(data.url), secret=secret, events=sorted({e.value for e in data.events}),
        description=data.description, active=data.active, created_by_id=actor.user_id,
    )  # fmt: skip
    session.add(found)
    session.flush()
    _audit(session, actor, "create", found)
    return _view(found, secret=secret)


@router.get("/{subscription_id}", summary="One webhook subscription", responses=responses(404))
def get_subscription(session: SessionDep, actor: Admin, subscription_id: int) -> SubscriptionView:
    """A subscription without its secret."""
    return _view(_find(session, subscription_id))


@router.patch(
    "/{subscription_id}", summary="Change a webhook subscription", responses=responses(404)
)
def update_subscription(
    session: SessionDep, actor: Admin, subscription_id: int, changes: SubscriptionPatch
) -> SubscriptionView:
    """Change the URL, events, description, pause (`active` false) or replace the secret."""
    found = _find(session, subscription_id)
    values = changes.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None:
            continue
        if name == "url":
            value = str(value)
        elif name == "events":
            value = sorted({EventType(e).value for e in value})
        setattr(found, name, value)
    session.flush()
    _audit(session, actor, "update", found)
    return _view(found, secret=changes.secret)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a webhook subscription",
    responses=responses(404),
)
def delete_subscription(session: SessionDep, actor: Admin, subscription_id: int) -> Response:
    """Remove it; its messages still waiting are marked dead, so nothing more is sent."""
    found = _find(session, subscription_id)
    _audit(session, actor, "delete", found)
    waiting = (OutboxStatus.pending, OutboxStatus.failed, OutboxStatus.sending)
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.dedupe_key.startswith(f"{PREFIX}:{found.id}:", autoescape=True),
            OutboxMessage.status.in_(waiting),
        )
        .values(status=OutboxStatus.dead, last_error="the webhook subscription was deleted")
    )
    session.delete(found)
    return Response(status_code=204)
