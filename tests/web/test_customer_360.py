"""Customer 360's parts through the app, per role, on SQLite and PostgreSQL: the next best
action, the expected next purchase, products to offer, points and tier, tickets with their SLA
and the timeline a page at a time."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.db import now
from patron.engagement.models import Task
from patron.loyalty.models import LoyaltyAccount
from patron.service.models import Ticket, TicketStatus
from tests import builders
from tests.api.conftest import World, build_world
from tests.web.clients import browser_for

MORE = re.compile(r'hx-get="(/customers/\d+/timeline\?cursor=[^"]+)"')
ACTION = re.compile(r"hx-vals='(\{[^']*\})'")


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)


def part(page: str, element_id: str) -> str:
    """The HTML of a Customer 360 card: from its id to the next card or page section."""
    start = page.index(f' id="{element_id}"')
    ends = [page.find(mark, start + 1) for mark in ('<article class="card"', "<section")]
    return page[start : min([end for end in ends if end != -1], default=len(page))]


def _scored(
    session: Session, customer: Customer, *, days_ago: int, features: dict[str, object],
    warnings: str = "", offers: list[dict[str, object]] | None = None,
) -> None:  # fmt: skip
    """A finished run `days_ago` days back that scored the customer with these features."""
    run = builders.scoring_run(session, as_of=now() - timedelta(days=days_ago))
    builders.snapshot(
        session, run, customer, grade="A", stage="active", clv=5000.0, p_alive=0.8,
        churn_risk=0.2, warnings=warnings, features=features,
        explain={"offers": offers or []},
    )  # fmt: skip


def _full_customer(session: Session, world: World) -> Customer:
    """The agent's customer with something in every part of the page."""
    customer = builders.customer(session, "张三", owner_id=world.users["agent"].id)
    _scored(
        session, customer, days_ago=10,
        features={"days_to_next_purchase": 4, "avg_gap_days": 30.0, "expected_purchases": 2.5},
        offers=[
            {"product": "P-7", "name": "绿茶礼盒", "reason": "due", "score": 1.2},
            {"product": "P-9", "name": "紫砂壶", "reason": "co_purchase", "score": 0.4},
        ],
    )  # fmt: skip
    builders.survey_response(session, customer, score=3, answered_at=now() - timedelta(days=5))
    builders.ticket(
        session, customer, "快递破损", status=TicketStatus.in_progress,
        first_response_at=now() - timedelta(hours=3),
        resolution_due_at=now() - timedelta(hours=2),
    )  # fmt: skip
    builders.ticket(
        session, customer, "发票问题", status=TicketStatus.closed,
        opened_at=now() - timedelta(days=30), closed_at=now() - timedelta(days=29),
    )  # fmt: skip
    builders.points(session, customer, 1200, reason="消费积分", occurred_at=now())
    account = session.get(LoyaltyAccount, customer.id)
    assert account is not None
    account.tier = "gold"
    return customer


def test_every_part_shows_with_known_data(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        customer_id = _full_customer(session, world).id
    page = browser_for(app, sessions, world.users["agent"]).get(f"/customers/{customer_id}")
    assert page.status_code == 200
    html = page.text
    # Ran 10 days ago, 4 days to go then: expected 6 days ago, too soon to win back.
    expected = (now() - timedelta(days=10)).date() + timedelta(days=4)
    purchase = part(html, "next-purchase")
    assert str(expected) in purchase and "6 days late" in purchase
    assert "30 days" in purchase and "2.5" in purchase and "in the next 90 days" in purchase
    offers = part(html, "offers")
    assert "绿茶礼盒" in offers and "due to buy again" in offers
    assert "紫砂壶" in offers and "often bought together" in offers
    membership = part(html, "membership")
    assert "1,200" in membership and "Gold" in membership
    tickets = part(html, "tickets")
    # The open ticket first, late against its resolution time; the closed one after it.
    assert tickets.index("快递破损") < tickets.index("发票问题")
    assert "Resolution due" in tickets and "late" in tickets and "In progress" in tickets
    assert "Closed" in tickets
    # The detractor's answer five days ago calls for a service call, in one click.
    action = part(html, "next-action")
    assert 'data-action="service_call"' in action
    assert "latest NPS answer was 3, 5 days ago" in action
    assert "Create the task" in action
    # An analyst reads the same suggestion but only reads: no button.
    analyst = browser_for(app, sessions, world.users["analyst"]).get(f"/customers/{customer_id}")
    action = part(analyst.text, "next-action")
    assert 'data-action="service_call"' in action and "Create the task" not in action


def test_the_one_click_action_creates_a_follow_up_task(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session, "李雷", owner_id=world.users["agent"].id)
        # Expected 40 days ago: overdue against the rhythm.
        _scored(session, customer, days_ago=60, features={"days_to_next_purchase": 20})
        customer_id = customer.id
    agent = browser_for(app, sessions, world.users["agent"])
    action = part(agent.get(f"/customers/{customer_id}").text, "next-action")
    assert 'data-action="win_back"' in action and "40 days past" in action
    found = ACTION.search(action)
    assert found is not None
    answer = agent.post(f"/customers/{customer_id}/follow-up", json.loads(found.group(1)))
    assert "Follow-up created" in answer.text
    with sessions() as session:
        task = session.scalars(select(Task).where(Task.customer_id == customer_id)).one()
    assert task.source_rule == "win_back" and task.assignee_id == world.users["agent"].id
    # Without the page's CSRF token nothing is created.
    path, reason = f"/customers/{customer_id}/follow-up", {"reason": "win_back"}
    assert agent.post(path, reason, csrf=False, htmx=False).status_code == 403
    with sessions() as session:
        assert len(session.scalars(select(Task).where(Task.customer_id == customer_id)).all()) == 1


def test_a_customer_with_nothing_shows_each_empty_state(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        customer_id = builders.customer(session, "韩梅梅", owner_id=world.users["agent"].id).id
    html = browser_for(app, sessions, world.users["agent"]).get(f"/customers/{customer_id}").text
    assert "Not scored yet." in html
    assert "No purchase to expect yet." in part(html, "next-purchase")
    assert "No product to offer." in part(html, "offers")
    assert "No points yet." in part(html, "membership")
    assert "No ticket." in part(html, "tickets")
    assert "Nothing has happened yet." in part(html, "timeline")
    action = part(html, "next-action")
    assert 'data-action="none"' in action and "Nothing to do now." in action
    assert "Create the task" not in action


def test_the_timeline_pages_on_with_more(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    start = datetime(2025, 3, 1, 9, 0)
    with sessions.begin() as session:
        customer = builders.customer(session, "王芳", owner_id=world.users["agent"].id)
        for day in range(12):
            builders.order(session, customer, Decimal(100 + day), start + timedelta(days=day))
        builders.state_change(session, customer, "A")  # 2024-06-01, the oldest entry
        customer_id = customer.id
    agent = browser_for(app, sessions, world.users["agent"])
    first = part(agent.get(f"/customers/{customer_id}").text, "timeline")
    assert first.count('data-kind="order"') == 10
    assert "¥111.00" in first and "¥102.00" in first and "¥101.00" not in first
    more = MORE.search(first)
    assert more is not None
    rest = agent.get(more.group(1).replace("&amp;", "&")).text
    assert rest.count('data-kind="order"') == 2 and "¥100.00" in rest
    assert "Grade: — → A" in rest and "More" not in rest
    damaged = agent.get(f"/customers/{customer_id}/timeline?cursor=oops")
    assert damaged.status_code == 422 and "the cursor is damaged" in damaged.text


def test_an_agent_opens_neither_the_page_nor_the_timeline_of_anothers_customer(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        theirs = builders.customer(session, "赵敏", owner_id=world.users["other_agent"].id)
        builders.order(session, theirs)
        customer_id = theirs.id
    agent = browser_for(app, sessions, world.users["agent"])
    for path in (f"/customers/{customer_id}", f"/customers/{customer_id}/timeline"):
        answer = agent.get(path)
        assert answer.status_code == 404 and "no customer with id" in answer.text


def test_a_pool_customer_shows_the_agent_only_the_work_they_may_see(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    agent, other = world.users["agent"], world.users["other_agent"]
    with sessions.begin() as session:
        pooled = builders.customer(session, "周杰")
        builders.task(session, pooled, "my call", assignee_id=agent.id)
        builders.task(session, pooled, "their secret plan", assignee_id=other.id)
        builders.ticket(session, pooled, "my ticket", assignee_id=agent.id)
        builders.ticket(session, pooled, "their ticket", assignee_id=other.id)
        customer_id = pooled.id
    html = browser_for(app, sessions, agent).get(f"/customers/{customer_id}").text
    assert "my call" in part(html, "timeline") and "my ticket" in part(html, "timeline")
    assert "my ticket" in part(html, "tickets")
    assert "their secret plan" not in html and "their ticket" not in html
    # An admin sees all of it.
    admin = browser_for(app, sessions, world.users["admin"]).get(f"/customers/{customer_id}").text
    assert "their secret plan" in part(admin, "timeline") and "their ticket" in part(
        admin, "tickets"
    )


def test_masked_viewers_get_no_birthday_hint(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        customer = builders.customer(
            session, "刘洋", phone="13800138000", owner_id=world.users["agent"].id
        )
        # As of yesterday the birthday was three days away: two days from today.
        _scored(session, customer, days_ago=1, features={"days_to_birthday": 3})
        customer_id = customer.id
    path = f"/customers/{customer_id}"
    # Only the owning agent sees personal data, and so only she is told the birthday is near.
    owner = browser_for(app, sessions, world.users["agent"]).get(path).text
    action = part(owner, "next-action")
    assert 'data-action="birthday_greeting"' in action and "birthday is in 2 days" in action
    for role in ("analyst", "admin"):
        html = browser_for(app, sessions, world.users[role]).get(path).text
        assert "138****8000" in html and "13800138000" not in html
        action = part(html, "next-action")
        assert 'data-action="none"' in action, role


def test_the_page_speaks_chinese(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    with sessions.begin() as session:
        customer_id = _full_customer(session, world).id
    agent = browser_for(app, sessions, world.users["agent"])
    html = agent.client.get(f"/customers/{customer_id}", headers={"Accept-Language": "zh-CN"})
    for text in ("下一步最佳行动", "服务回访：最近一次 NPS 打分为 3", "预计下次购买", "推荐商品",
                 "该复购了", "金卡会员", "工单", "时间线"):  # fmt: skip
        assert text in html.text, text
    with sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.subject == "快递破损")).one()
    assert f"#{ticket.id} 快递破损" in html.text
