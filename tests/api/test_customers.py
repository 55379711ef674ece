"""The customer endpoints: filters, search, pagination, masking, unmasking, owners, scores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.pool.models import OwnershipChange
from tests import builders
from tests.api.conftest import World, bearer


def _names(client: TestClient, world: World, role: str, **params: Any) -> list[str]:
    response = client.get("/api/v1/customers", params=params, headers=bearer(world.tokens[role]))
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_each_role_lists_only_what_it_may_see(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        world.customer(session, "own", "甲")
        world.customer(session, "other", "乙")
        world.customer(session, "pool", "丙")
    assert sorted(_names(client, world, "agent")) == ["丙", "甲"]
    assert sorted(_names(client, world, "manager")) == ["丙", "甲"]
    assert sorted(_names(client, world, "analyst")) == ["丙", "乙", "甲"]
    assert sorted(_names(client, world, "admin")) == ["丙", "乙", "甲"]
    assert _names(client, world, "agent", owner="pool") == ["丙"]
    assert _names(client, world, "agent", owner="me") == ["甲"]


def test_filters_narrow_the_list(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        gold = world.customer(
            session, "pool", "金", grade="A", stage="active", rfm_segment="champions",
            city="上海", churn_risk=0.1, clv=Decimal("900.00"),
        )  # fmt: skip
        world.customer(
            session, "pool", "银", grade="B", stage="at_risk", rfm_segment="at_risk",
            city="北京", churn_risk=0.8, clv=Decimal("100.00"),
        )  # fmt: skip
        builders.tag(session, gold, "vip")
        builders.tag(session, gold, "wholesale")
        run = builders.scoring_run(session)
        builders.snapshot(session, run, gold, warnings="silent_90d")
    assert _names(client, world, "admin", grade="A") == ["金"]
    assert sorted(_names(client, world, "admin", grade=["A", "B"])) == ["金", "银"]
    assert _names(client, world, "admin", stage="at_risk") == ["银"]
    assert _names(client, world, "admin", segment="champions") == ["金"]
    assert _names(client, world, "admin", tags=["vip", "wholesale"]) == ["金"]
    assert _names(client, world, "admin", tags=["vip", "other"]) == []
    assert _names(client, world, "admin", city="北京") == ["银"]
    assert _names(client, world, "admin", churn_min=0.5) == ["银"]
    assert _names(client, world, "admin", clv_min=500, clv_max=1000) == ["金"]
    assert _names(client, world, "admin", has_warning=True) == ["金"]
    assert _names(client, world, "admin", has_warning=False) == ["银"]


def test_free_text_finds_names_initials_and_phones(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        world.customer(session, "own", "张三", phone="13800138000")
        world.customer(session, "own", "李四", phone="13900139000")
    assert _names(client, world, "agent", q="zs") == ["张三"]
    assert _names(client, world, "agent", q="ZS") == ["张三"]
    assert _names(client, world, "agent", q="李") == ["李四"]
    assert _names(client, world, "agent", q="0139000") == ["李四"]
    # Analysts never see phones, so a phone search finds nothing for them.
    assert _names(client, world, "analyst", q="0139000") == []
    assert _names(client, world, "agent", q="100%") == []


def test_two_characters_find_every_name_holding_them(
    client: TestClient, world: World, sessions: sessionmaker[Session], db: Engine
) -> None:
    # On PostgreSQL two characters go through the bigram index, not the trigram one.
    with sessions.begin() as session:
        for name in ("张伟明", "伟明", "王伟", "Lily Li", "明伟"):
            world.customer(session, "own", name)
    assert sorted(_names(client, world, "agent", q="伟明")) == ["伟明", "张伟明"]
    assert sorted(_names(client, world, "agent", q="LI")) == ["Lily Li"]
    assert _names(client, world, "agent", q="ly") == ["Lily Li"]
    assert _names(client, world, "agent", q="%明") == []
    if db.dialect.name == "postgresql":
        with db.connect() as connection:
            made = connection.scalar(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_customers_name_bigrams'"
                )
            )
            cost = connection.scalar(
                text("SELECT procost FROM pg_proc WHERE proname = 'patron_bigrams'")
            )
        assert made is not None and "USING gin (patron_bigrams(" in made
        # Priced as what it is, so that a page of two-letter matches by id is looked up in the
        # indexes, not tested name by name along the primary key (customers.bigrams).
        assert cost == 1000


def test_pages_follow_the_cursor_in_sort_order(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    values = [None, Decimal("5.00"), Decimal("5.00"), Decimal("7.50"), None, Decimal("1.00")]
    with sessions.begin() as session:
        for index, clv in enumerate(values):
            world.customer(session, "pool", f"客户{index}", clv=clv)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "-clv", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/customers", params=params, headers=bearer(world.tokens["admin"]))
        body = page.json()
        seen += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["客户3", "客户2", "客户1", "客户5", "客户4", "客户0"]
    refused = client.get(
        "/api/v1/customers", params={"sort": "phone"}, headers=bearer(world.tokens["admin"])
    )
    assert refused.status_code == 422
    damaged = client.get(
        "/api/v1/customers", params={"cursor": "!!"}, headers=bearer(world.tokens["admin"])
    )
    assert damaged.status_code == 422
    assert damaged.json()["error"] == "invalid_input"


def _detail(client: TestClient, world: World, role: str, customer_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/customers/{customer_id}", headers=bearer(world.tokens[role]))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_personal_data_is_masked_for_those_who_may_not_see_it(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(
            session, "own", phone="13800138000", email="zhangsan@example.com",
            address="上海市浦东新区世纪大道100号", birthday=builders.WHEN.date(),
        )  # fmt: skip
        pool = world.customer(session, "pool", "李四", phone="13900139000")
    analyst = _detail(client, world, "analyst", own.id)
    assert analyst["masked"] is True
    assert analyst["phone"] == "138****8000"
    assert analyst["email"] == "z***@example.com"
    assert analyst["address"] == "上海市浦东***"
    assert analyst["birthday"] == "****-06-**"
    listed = client.get("/api/v1/customers", headers=bearer(world.tokens["analyst"])).json()
    assert {item["phone"] for item in listed["items"]} == {"138****8000", "139****9000"}
    agent = _detail(client, world, "agent", own.id)
    assert agent["masked"] is False
    assert agent["phone"] == "+8613800138000"
    assert _detail(client, world, "agent", pool.id)["phone"] == "139****9000"
    assert _detail(client, world, "manager", own.id)["phone"] == "138****8000"


def test_an_owner_without_a_display_name_is_shown_by_user_name(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    admin = bearer(world.tokens["admin"])
    agent = world.users["agent"]
    renamed = client.patch(f"/api/v1/users/{agent.id}", json={"display_name": ""}, headers=admin)
    assert renamed.status_code == 200
    with sessions.begin() as session:
        own = world.customer(session, "own")
    assert _detail(client, world, "admin", own.id)["owner_name"] == agent.username
    listed = client.get("/api/v1/customers", headers=admin).json()["items"]
    assert [item["owner_name"] for item in listed] == [agent.username]


def test_unmasking_is_allowed_to_managers_and_audited(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own", phone="13800138000")
    url = f"/api/v1/customers/{own.id}/unmask"
    shown = client.post(url, headers=bearer(world.tokens["manager"]))
    assert shown.status_code == 200
    assert shown.json()["phone"] == "+8613800138000"
    assert client.post(url, headers=bearer(world.tokens["analyst"])).status_code == 403
    with sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.unmask")
        ).one()
    assert entry.user_id == world.users["manager"].id
    assert entry.entity_id == str(own.id)


def test_create_and_update_go_through_the_duplicate_check(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        world.customer(session, "other", "李四", phone="13900139000")
    agent = bearer(world.tokens["agent"])
    made = client.post(
        "/api/v1/customers", json={"name": "王五", "phone": "139 0013 9000"}, headers=agent
    )
    assert made.status_code == 201
    body = made.json()
    assert body["customer"]["owner_id"] == world.users["agent"].id
    assert body["customer"]["phone"] == "+8613900139000"
    # The duplicate belongs to another agent: the warning says so without naming it.
    assert body["warnings"] == [
        {"key": "phone", "score": 100.0, "ownership": "other", "customer_id": None,
         "external_id": None, "name": None, "owner_name": None}
    ]  # fmt: skip
    customer_id = body["customer"]["id"]
    changed = client.patch(
        f"/api/v1/customers/{customer_id}", json={"tags": ["vip"]}, headers=agent
    )
    assert changed.status_code == 200
    assert changed.json()["customer"]["tags"] == ["vip"]
    bad = client.post("/api/v1/customers", json={"name": "x", "phone": "12"}, headers=agent)
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_input"
    someone_else = {"name": "赵六", "owner_id": world.users["other_agent"].id}
    assert client.post("/api/v1/customers", json=someone_else, headers=agent).status_code == 403


def test_ownership_moves_are_recorded_and_audited(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        pool = world.customer(session, "pool")
    manager = bearer(world.tokens["manager"])
    url = f"/api/v1/customers/{pool.id}/owner"
    moved = client.post(url, json={"owner_id": world.users["agent"].id}, headers=manager)
    assert moved.status_code == 200
    assert moved.json()["owner_id"] == world.users["agent"].id
    outside = client.post(url, json={"owner_id": world.users["other_agent"].id}, headers=manager)
    assert outside.status_code == 403
    with sessions() as session:
        change = session.scalars(select(OwnershipChange)).one()
        audited = session.scalars(select(AuditEntry.action)).all()
    assert (change.from_owner_id, change.to_owner_id) == (None, world.users["agent"].id)
    assert "customer.owner" in audited


def test_scores_come_from_the_latest_finished_run(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own")
        older = builders.scoring_run(session)
        builders.snapshot(session, older, own, grade="C")
        latest = builders.scoring_run(session)
        builders.snapshot(
            session, latest, own, grade="A", warnings="silent_90d;big_drop",
            features={"recency_days": 12}, explain={"grade": "rule a_grade"},
        )  # fmt: skip
        running = builders.scoring_run(session, status="running")
        builders.snapshot(session, running, own, grade="D")
        unscored = world.customer(session, "own", "李四")
    agent = bearer(world.tokens["agent"])
    scores = client.get(f"/api/v1/customers/{own.id}/scores", headers=agent).json()
    assert scores["grade"] == "A"
    assert scores["run"]["id"] == latest.id
    assert scores["warnings"] == ["silent_90d", "big_drop"]
    assert scores["features"] == {"recency_days": 12}
    assert scores["explain"] == {"grade": "rule a_grade"}
    missing = client.get(f"/api/v1/customers/{unscored.id}/scores", headers=agent)
    assert missing.status_code == 404
    assert "patron score" in missing.json()["detail"]
