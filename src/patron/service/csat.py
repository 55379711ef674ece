"""The satisfaction (CSAT) survey after a resolved ticket: one invitation per resolution, its
signed single-use link sent to the customer by email through the outbox, with their consent.

It runs in the resolving transaction, so the invitation and its message exist exactly when
the resolution does. A ticket resolved again after a reopening asks again, about the final
outcome, and withdraws the earlier link if it is still unanswered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.campaigns.models import OptOut
from patron.config import get_settings
from patron.customers.models import Customer
from patron.notify.outbox import enqueue_template
from patron.notify.settings import get_notify_settings
from patron.service import surveys
from patron.service.models import SurveyInvitation, SurveyKind, Ticket

CHANNEL = "email"
PUBLIC_PATH = "/s/"  # the public survey page (patron.web.pages.survey)


def survey_link(invitation: SurveyInvitation) -> str:
    """The public address a customer opens to answer, carrying the signed token."""
    token = surveys.token_for(invitation, secret=get_settings().secret_key)
    return get_notify_settings().public_url.rstrip("/") + PUBLIC_PATH + token


def unreachable_reason(session: Session, customer: Customer) -> str | None:
    """Why the customer cannot be sent the survey by email, or None if they can."""
    opted = session.scalar(
        select(OptOut.channel).where(
            OptOut.customer_id == customer.id, OptOut.channel.in_([CHANNEL, "*"])
        )
    )
    if opted is not None:
        return "opted_out"
    if (customer.consent or {}).get(CHANNEL) is not True:
        return "no_consent"
    if "@" not in (customer.email or ""):
        return "no_address"
    return None


def _withdraw_unanswered(session: Session, ticket: Ticket, moment: datetime) -> None:
    # An earlier resolution's link would rate an outcome the customer has since reopened.
    live = select(SurveyInvitation).where(
        SurveyInvitation.ticket_id == ticket.id,
        SurveyInvitation.used_at.is_(None),
        SurveyInvitation.expires_at > moment,
    )
    for invitation in session.scalars(live):
        invitation.expires_at = moment


def _locale(customer: Customer) -> str:
    wanted = str((customer.custom_fields or {}).get("locale", "")).replace("-", "_").lower()
    return {"en": "en", "zh_cn": "zh_CN"}.get(wanted, get_settings().locale)


def invite_after_resolution(
    *, session: Session, ticket: Ticket, moment: datetime, by: int | None
) -> SurveyInvitation:
    """The CSAT invitation of this resolution, its link enqueued by email when allowed."""
    _withdraw_unanswered(session, ticket, moment)
    survey = surveys.standard_survey(session=session, kind=SurveyKind.csat)
    invitation = surveys.invite(
        session=session, survey=survey, customer_id=ticket.customer_id, moment=moment,
        ticket_id=ticket.id, by=by,
    )  # fmt: skip
    invitation.ticket_resolution = ticket.resolutions
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None  # surveys.invite checked it
    reason = unreachable_reason(session, customer)
    if reason is not None:
        invitation.not_sent_reason = reason
        session.flush()
        return invitation
    values = {
        "customer": customer.name, "ticket": ticket.id, "subject": ticket.subject,
        "link": survey_link(invitation), "expires": invitation.expires_at.strftime("%Y-%m-%d"),
    }  # fmt: skip
    message = enqueue_template(
        session=session, channel=CHANNEL, recipient=customer.email or "",
        template="csat_invitation", locale=_locale(customer), values=values,
        dedupe_key=f"survey-invitation:{invitation.id}", customer_id=customer.id,
    )  # fmt: skip
    invitation.outbox_id = message.id if message is not None else None
    session.flush()
    return invitation
