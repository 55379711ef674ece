"""Launching once through the outbox, personalised messages, the frequency cap and results."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, sessionmaker

from patron.campaigns import service
from patron.campaigns.models import CampaignRecipient, RecipientGroup
from patron.campaigns.schemas import CampaignIn, MessageIn, SegmentIn
from patron.errors import Conflict, InvalidInput, NotFound, RuleError
from patron.notify.models import OutboxMessage
from patron.orders.models import OrderStatus
from tests import builders
from tests.campaigns.world import campaign, scored, segment

LAUNCH = datetime(2024, 6, 1, 12, 0)


def _outbox(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.customer_id)))


def test_launch_sends_personalised_messages_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        wang = scored(session, run, "王芳", city="上海", email="wang@example.com")
        smith = scored(session, run, "Ann Smith", city="London", email="ann@example.com",
                       custom_fields={"locale": "en"})  # fmt: skip
        target = campaign(session, segment(session))
    with sessions.begin() as session:
        first = service.launch(session=session, campaign_id=target.id, visible=true())
    with sessions.begin() as session:
        again = service.launch(session=session, campaign_id=target.id, visible=true())
        messages = _outbox(session)
    assert (first.treated, first.already_launched) == (2, False)
    assert (again.treated, again.already_launched, again.launched_at) == (
        2,
        True,
        first.launched_at,
    )
    assert [(m.customer_id, m.recipient, m.subject, m.body) for m in messages] == [
        (wang.id, "wang@example.com", "王芳，好久不见", "王芳（上海）：送您一张优惠券。"),
        (
            smith.id,
            "ann@example.com",
            "We miss you, Ann Smith",
            "Dear Ann Smith in London: a voucher.",
        ),
    ]
    assert messages[0].dedupe_key == f"campaign:{target.id}:customer:{wang.id}"


def test_the_holdout_receives_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        for n in range(20):
            scored(session, run, f"客户{n}", email=f"c{n}@example.com")
        target = campaign(session, segment(session), holdout_share=0.25)
        launched = service.launch(session=session, campaign_id=target.id, visible=true())
        held = set(session.scalars(select(CampaignRecipient.customer_id).where(
            CampaignRecipient.group == RecipientGroup.holdout)))  # fmt: skip
        sent_to = {m.customer_id for m in _outbox(session)}
    assert (launched.treated, launched.holdout) == (15, 5)
    assert len(sent_to) == 15 and not held & sent_to


def test_frequency_cap_counts_messages_across_campaigns(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        first_customer = scored(session, run, "甲")
        first = campaign(session, segment(session), cap_messages=1, cap_days=7)
        service.launch(session=session, campaign_id=first.id, visible=true(), moment=LAUNCH)
        scored(session, run, "乙")
        second = campaign(session, segment(session), cap_messages=1, cap_days=7)
        soon = service.launch(session=session, campaign_id=second.id, visible=true(),
                              moment=LAUNCH + timedelta(days=3))  # fmt: skip
        third = campaign(session, segment(session), cap_messages=1, cap_days=7)
        later = service.launch(session=session, campaign_id=third.id, visible=true(),
                               moment=LAUNCH + timedelta(days=8))  # fmt: skip
        capped = session.scalar(
            select(CampaignRecipient.customer_id).where(
                CampaignRecipient.campaign_id == second.id,
                CampaignRecipient.reason == "frequency_cap",
            )
        )
    assert (soon.treated, soon.suppressed["frequency_cap"]) == (1, 1)
    assert capped == first_customer.id
    # After a week the first customer may hear again; the second's message was 5 days ago.
    assert (later.treated, later.suppressed["frequency_cap"]) == (1, 1)


def test_results_compare_treated_with_holdout(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run = builders.scoring_run(session)
        people = [scored(session, run, f"客户{n}", email=f"r{n}@example.com") for n in range(10)]
        target = campaign(session, segment(session), holdout_share=0.5, measure_days=30)
        service.launch(session=session, campaign_id=target.id, visible=true(), moment=LAUNCH)
        rows = session.execute(select(CampaignRecipient.customer_id, CampaignRecipient.group))
        groups: dict[int, RecipientGroup] = {int(row[0]): row[1] for row in rows}
        treated = [c for c in people if groups[c.id] == RecipientGroup.treated]
        held = [c for c in people if groups[c.id] == RecipientGroup.holdout]
        builders.order(session, treated[0], "300.00", LAUNCH + timedelta(days=1))
        builders.order(session, treated[0], "100.00", LAUNCH + timedelta(days=29))
        builders.order(session, treated[1], "50.00", LAUNCH + timedelta(days=2))
        builders.order(session, held[0], "80.00", LAUNCH + timedelta(days=5))
        # Outside the window, before the launch, or refunded: none counts.
        builders.order(session, treated[2], "999.00", LAUNCH + timedelta(days=30))
        builders.order(session, treated[3], "999.00", LAUNCH - timedelta(days=1))
        builders.order(
            session, held[1], "999.00", LAUNCH + timedelta(days=1), status=OrderStatus.refunded
        )
        outcome = service.results(session=session, campaign=target)
    assert (outcome.treated.customers, outcome.treated.buyers, outcome.treated.orders) == (5, 2, 3)
    assert outcome.treated.revenue == Decimal("450.00")
    assert outcome.treated.revenue_per_customer == Decimal("90.00")
    assert (outcome.holdout.customers, outcome.holdout.buyers, outcome.holdout.revenue) == (
        5,
        1,
        Decimal("80.00"),
    )
    assert outcome.conversion_difference == pytest.approx(0.4 - 0.2)
    assert outcome.revenue_per_customer_difference == Decimal("74.00")
    assert outcome.window_end == LAUNCH + timedelta(days=30) and outcome.complete


def test_results_before_launch_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        target = campaign(session, segment(session))
        with pytest.raises(InvalidInput, match="not been launched"):
            service.results(session=session, campaign=target)


@pytest.mark.parametrize(
    ("templates", "problem"),
    [
        ({"zh_CN": MessageIn(subject="{phone}", body="x")}, "not a placeholder"),
        ({"zh_CN": MessageIn(subject="{name", body="x")}, "lone brace"),
        ({"zh_CN": MessageIn(subject="{name.__class__}", body="x")}, "not a placeholder"),
        ({"fr": MessageIn(subject="x", body="x")}, "not a message locale"),
        ({"en": MessageIn(subject="x", body="x")}, "default locale zh_CN has no template"),
    ],
)
def test_bad_templates_are_refused(
    sessions: sessionmaker[Session], templates: dict[str, MessageIn], problem: str
) -> None:
    with sessions.begin() as session:
        target = segment(session)
        with pytest.raises(InvalidInput, match=problem):
            campaign(session, target, templates=templates)


def test_braces_and_locale_aliases(sessions: sessionmaker[Session]) -> None:
    assert service.fill("{{{name}}} {city}", {"name": "王芳"}) == "{王芳} "
    with sessions.begin() as session:
        target = campaign(
            session, segment(session), templates={"zh-CN": MessageIn(subject="s", body="b")}
        )
        assert set(target.templates) == {"zh_CN"}


def test_segments_and_campaigns_are_checked(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        with pytest.raises(RuleError, match="recency_dayz"):
            segment(session, "recency_dayz > 90")
        saved = segment(session)
        with pytest.raises(Conflict):
            service.create_segment(
                session=session,
                segment_in=SegmentIn(name=saved.name, expression="frequency > 1"),
                by=None,
            )
        with pytest.raises(NotFound):
            service.create_campaign(
                session=session,
                campaign_in=CampaignIn(
                    name="x",
                    segment_id=999_999,
                    templates={"zh_CN": MessageIn(subject="s", body="b")},
                ),
                by=None,
            )
        with pytest.raises(InvalidInput, match="does not reach"):
            campaign(session, saved, channel="wecom")
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
