"""The public pool, survey results and loyalty accounts through the app, per role, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.customers.models import Customer
from patron.db import now
from patron.loyalty.models import LoyaltyAccount
from patron.rules import versions
from patron.service.models import SurveyKind
from tests import builders
from tests.api.conftest import World, build_world
from tests.web.clients import browser_for


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)


def _pool(sessions: sessionmaker[Session], world: World) -> list[int]:
    with sessions.begin() as session:
        free = [
            builders.customer(session, f"公海客户{n}", city="杭州", grade="B").id for n in (1, 2)
        ]
        builders.customer(session, "有主客户", owner_id=world.users["other_agent"].id)
        return free


def _limit_claims_to_one(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _, text = versions.active_text(session.connection())
        limited = text.replace("max_claims_per_day: 20", "max_claims_per_day: 1")
        assert limited != text, "the default rulebook's claim limit changed shape"
        versions.apply(session.connection(), limited, note="one claim a day")


def test_the_pool_lists_only_customers_nobody_owns(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _pool(sessions, world)
    page = browser_for(app, sessions, world.users["agent"]).get("/pool").text
    assert "公海客户1" in page and "公海客户2" in page and "有主客户" not in page
    assert "Claim</button>" in page and "claimed today" in page
    analyst = browser_for(app, sessions, world.users["analyst"]).get("/pool?city=杭州").text
    assert "公海客户1" in analyst and "Claim</button>" not in analyst


def test_a_claim_takes_the_customer_and_a_limit_refuses_plainly(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    first, second = _pool(sessions, world)
    _limit_claims_to_one(sessions)
    agent = browser_for(app, sessions, world.users["agent"])
    claimed = agent.post(f"/pool/{first}/claim")
    assert "Claimed: this customer is now yours." in claimed.text
    assert 'hx-swap-oob="true"' in claimed.text  # the standing above the list follows
    refused = agent.post(f"/pool/{second}/claim")
    assert "you have claimed 1 customers today, the most allowed" in refused.text
    assert "max_claims_per_day: 1" in refused.text
    with sessions() as session:
        owners = dict(session.execute(select(Customer.id, Customer.owner_id)).all())
    assert owners[first] == world.users["agent"].id and owners[second] is None
    again = agent.post(f"/pool/{first}/claim")
    assert "this customer is already yours" in again.text


def _answers(sessions: sessionmaker[Session], world: World) -> None:
    moment = now() - timedelta(days=2)
    with sessions.begin() as session:
        mine = builders.customer(session, "张三", owner_id=world.users["agent"].id)
        theirs = builders.customer(session, "赵敏", owner_id=world.users["other_agent"].id)
        for score in (10, 9, 3):
            builders.survey_response(
                session, mine, score, answered_at=moment, comment=f"打分{score}"
            )
        builders.survey_response(session, mine, 5, kind=SurveyKind.csat, answered_at=moment)
        builders.survey_response(session, mine, 2, kind=SurveyKind.csat, answered_at=moment)
        builders.survey_response(session, theirs, 0, answered_at=moment, comment="别人的差评")


def test_survey_results_count_only_visible_customers(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _answers(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"]).get("/surveys").text
    # NPS over 10, 9, 3: (2 promoters - 1 detractor) / 3 = 33.3; CSAT 1 of 2 satisfied.
    assert '<p class="value">33.3</p>' in agent
    assert '<p class="value">50.0%</p>' in agent
    assert "打分3" in agent and "别人的差评" not in agent
    analyst = browser_for(app, sessions, world.users["analyst"]).get("/surveys").text
    # With the other agent's 0: (2 - 2) / 4 = 0.
    assert '<p class="value">0.0</p>' in analyst and "别人的差评" in analyst
    csat_only = browser_for(app, sessions, world.users["analyst"]).get("/surveys?kind=csat").text
    assert "打分3" not in csat_only
    assert 'id="chart-nps"' in analyst and '"months":' in analyst


def test_a_bad_period_is_refused_plainly(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    page = browser_for(app, sessions, world.users["admin"]).get("/surveys?from=yesterday")
    assert page.status_code == 422
    assert "is not a date" in page.text


def _account(sessions: sessionmaker[Session], world: World, owner: str) -> int:
    with sessions.begin() as session:
        customer = builders.customer(session, "积分客户", owner_id=world.users[owner].id)
        builders.points(session, customer, 300, reason="order 1")
        return customer.id


def test_accounts_list_by_balance_under_the_record_rules(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _account(sessions, world, "agent")
    theirs = _account(sessions, world, "other_agent")
    agent = browser_for(app, sessions, world.users["agent"])
    listing = agent.get("/loyalty").text
    assert listing.count("积分客户") == 1 and f'data-customer="{theirs}"' not in listing
    assert agent.get(f"/loyalty/{theirs}").status_code == 404
    assert (
        browser_for(app, sessions, world.users["analyst"]).get("/loyalty").text.count("积分客户")
        == 2
    )


def test_a_manager_adjusts_points_with_a_reason(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    customer_id = _account(sessions, world, "agent")
    manager = browser_for(app, sessions, world.users["manager"])
    page = manager.get(f"/loyalty/{customer_id}").text
    assert "300" in page and "Adjust</button>" in page
    path = f"/loyalty/{customer_id}/adjust"
    assert "an adjustment needs a reason" in manager.post(path, {"points": "50"}).text
    assert "is not a whole number of points" in manager.post(path, {"points": "lots"}).text
    too_much = manager.post(path, {"points": "-500", "reason": "typo"})
    assert "the balance is 300 points: deducting 500 would make it negative" in too_much.text
    done = manager.post(path, {"points": "-100", "reason": "duplicate order"})
    assert "Adjusted by -100" in done.text
    with sessions() as session:
        account = session.get(LoyaltyAccount, customer_id)
        assert account is not None and account.balance == 200
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "loyalty.adjust"))
        assert len(audit.all()) == 1


def test_agents_and_analysts_cannot_adjust_points(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    customer_id = _account(sessions, world, "agent")
    for role, status in (("agent", 403), ("analyst", 403)):
        reader = browser_for(app, sessions, world.users[role])
        assert "Adjust</button>" not in reader.get(f"/loyalty/{customer_id}").text
        answer = reader.post(
            f"/loyalty/{customer_id}/adjust", {"points": "5", "reason": "gift"}, htmx=False
        )
        assert answer.status_code == status
    with sessions() as session:
        assert session.get(LoyaltyAccount, customer_id).balance == 300  # type: ignore[union-attr]
