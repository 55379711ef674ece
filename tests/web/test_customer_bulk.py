"""Bulk actions, saved views and export on the customer list, per role, on both databases."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.auth.models import Role
from patron.customers.models import Customer, CustomerTag
from patron.pool.models import OwnershipChange
from patron.web.views import SavedView
from tests import builders
from tests.api.conftest import World, build_world
from tests.web.clients import browser_for


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)


def _customers(sessions: sessionmaker[Session], world: World) -> dict[str, int]:
    """One customer of the east agent, one of the west agent; and a second east agent."""
    with sessions.begin() as session:
        builders.user(session, "east2", role=Role.agent, team="east")
        mine = builders.customer(
            session, "张三", owner_id=world.users["agent"].id, phone="13800138000"
        )
        theirs = builders.customer(
            session, "赵敏", owner_id=world.users["other_agent"].id, phone="13900139000"
        )
        return {"mine": mine.id, "theirs": theirs.id}  # fmt: skip


def _owner(sessions: sessionmaker[Session], customer_id: int) -> int | None:
    with sessions.begin() as session:
        return session.get_one(Customer, customer_id).owner_id


def _user_id(sessions: sessionmaker[Session], username: str) -> int:
    with sessions.begin() as session:
        from patron.auth.models import User

        return session.scalars(select(User.id).where(User.username == username)).one()


def test_an_agent_cannot_bulk_assign_a_colleagues_customer(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    page = agent.get("/customers").text
    assert 'name="ids"' in page and "assign to" not in page
    answer = agent.post(
        "/customers/bulk",
        {"action": "assign", "ids": [ids["theirs"]], "owner_id": world.users["agent"].id},
    )
    assert answer.status_code == 200
    assert "may not" in answer.text
    assert _owner(sessions, ids["theirs"]) == world.users["other_agent"].id


def test_a_manager_assigns_only_within_the_team(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    east2 = _user_id(sessions, "east2")
    manager = browser_for(app, sessions, world.users["manager"])
    both = {"action": "assign", "ids": [ids["mine"], ids["theirs"]], "owner_id": east2}
    answer = manager.post("/customers/bulk", both).text
    # The west customer is not the manager's to see: refused as if it did not exist.
    assert "1 done, 1 refused" in answer and "no customer with id" in answer
    assert _owner(sessions, ids["mine"]) == east2
    assert _owner(sessions, ids["theirs"]) == world.users["other_agent"].id
    outside = manager.post(
        "/customers/bulk",
        {"action": "assign", "ids": [ids["mine"]], "owner_id": world.users["other_agent"].id},
    ).text
    assert "outside your team" in outside
    assert _owner(sessions, ids["mine"]) == east2
    with sessions.begin() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.owner")
        ).all()
        assert [a.entity_id for a in audited] == [str(ids["mine"])]


def test_an_admin_assigns_to_anyone_and_an_analyst_may_not_act(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    admin = browser_for(app, sessions, world.users["admin"])
    answer = admin.post(
        "/customers/bulk",
        {"action": "assign", "ids": [ids["mine"]], "owner_id": world.users["other_agent"].id},
    ).text
    assert "1 done, 0 refused" in answer
    assert _owner(sessions, ids["mine"]) == world.users["other_agent"].id
    analyst = browser_for(app, sessions, world.users["analyst"])
    assert 'name="ids"' not in analyst.get("/customers").text
    refused = analyst.post(
        "/customers/bulk", {"action": "release", "ids": [ids["theirs"]]}, htmx=False
    )
    assert refused.status_code == 403
    assert _owner(sessions, ids["theirs"]) == world.users["other_agent"].id


def test_tags_are_added_and_removed_only_on_writable_customers(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    both = [ids["mine"], ids["theirs"]]
    answer = agent.post("/customers/bulk", {"action": "tag", "ids": both, "tag": "vip"}).text
    assert "1 done, 1 refused" in answer

    def tags() -> set[tuple[int, str]]:
        with sessions.begin() as session:
            rows = session.execute(select(CustomerTag.customer_id, CustomerTag.tag)).all()
            return {(row[0], row[1]) for row in rows}

    assert tags() == {(ids["mine"], "vip")}
    assert "vip" in agent.get("/customers").text
    agent.post("/customers/bulk", {"action": "untag", "ids": [ids["mine"]], "tag": "vip"})
    assert tags() == set()
    empty = agent.post("/customers/bulk", {"action": "tag", "ids": [ids["mine"]], "tag": " "})
    assert "give a tag" in empty.text
    with sessions.begin() as session:
        updates = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "customer.update")
        ).all()
        assert len(updates) == 2 and all(d["fields"] == ["tags"] for d in updates)


def test_release_puts_customers_in_the_pool_with_an_audit_entry(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    answer = agent.post(
        "/customers/bulk",
        {"action": "release", "ids": [ids["mine"], ids["theirs"]], "reason": "moved away"},
    ).text
    assert "1 done, 1 refused" in answer
    assert _owner(sessions, ids["mine"]) is None
    assert _owner(sessions, ids["theirs"]) == world.users["other_agent"].id
    again = agent.post("/customers/bulk", {"action": "release", "ids": [ids["mine"]]}).text
    assert "0 done, 1 refused" in again
    with sessions.begin() as session:
        change = session.scalars(select(OwnershipChange)).one()
        assert (change.customer_id, change.reason) == (ids["mine"], "release")
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "pool.release"))
        assert entry.one().entity_id == str(ids["mine"])


def test_a_bulk_post_without_the_csrf_token_is_refused(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    ids = _customers(sessions, world)
    agent = browser_for(app, sessions, world.users["agent"])
    answer = agent.post(
        "/customers/bulk", {"action": "release", "ids": [ids["mine"]]}, csrf=False, htmx=False
    )
    assert answer.status_code == 403
    assert _owner(sessions, ids["mine"]) == world.users["agent"].id


def test_a_saved_view_round_trip_stays_with_its_user(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _customers(sessions, world)
    manager = browser_for(app, sessions, world.users["manager"])
    saved = manager.post(
        "/customers/views",
        {"name": "A in 上海", "query": "grade=A&city=上海&cursor=abc&evil=1"},
        htmx=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/customers?grade=A&city=%E4%B8%8A%E6%B5%B7"
    page = manager.get("/customers").text
    assert "A in 上海" in page and "grade=A&amp;city=%E4%B8%8A%E6%B5%B7" in page
    # Saving the same name again replaces the filters.
    manager.post("/customers/views", {"name": "A in 上海", "query": "grade=B"}, htmx=False)
    with sessions.begin() as session:
        view = session.scalars(select(SavedView)).one()
        assert (view.query, view.page) == ("grade=B", "/customers")
    assert (
        "A in 上海" not in browser_for(app, sessions, world.users["agent"]).get("/customers").text
    )
    # Another user cannot delete it; its owner can.
    other = browser_for(app, sessions, world.users["agent"])
    assert other.post(f"/customers/views/{view.id}/delete", htmx=False).status_code == 404
    unnamed = manager.post("/customers/views", {"name": " ", "query": ""}, htmx=False)
    assert unnamed.status_code == 422
    gone = manager.post(f"/customers/views/{view.id}/delete", htmx=False)
    assert gone.status_code == 303
    assert "A in 上海" not in manager.get("/customers").text


def test_the_export_link_respects_masking_and_visibility(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _customers(sessions, world)
    manager = browser_for(app, sessions, world.users["manager"])
    page = manager.get("/customers").text
    assert "/api/v1/exports/customers?format=csv" in page
    exported = manager.get("/api/v1/exports/customers?format=csv&locale=en")
    assert exported.status_code == 200
    assert "张三" in exported.text and "赵敏" not in exported.text
    assert "13800138000" not in exported.text
    agent_file = browser_for(app, sessions, world.users["agent"]).get(
        "/api/v1/exports/customers?format=csv&locale=en"
    )
    assert "13800138000" in agent_file.text and "赵敏" not in agent_file.text


def _export_href(page: str) -> str:
    link = re.search(r'id="export-csv" href="([^"]+)"', page)
    assert link is not None, "the list has no CSV export link"
    return html.unescape(link.group(1))


def test_the_export_link_carries_the_lists_filters(
    app: FastAPI, sessions: sessionmaker[Session], world: World
) -> None:
    _customers(sessions, world)
    with sessions.begin() as session:
        builders.customer(session, "张伟", owner_id=world.users["agent"].id, city="上海")
        builders.customer(session, "李四", owner_id=world.users["agent"].id, city="北京")
    admin = browser_for(app, sessions, world.users["admin"])
    href = _export_href(admin.get("/customers", params={"city": "上海", "has_warning": "no"}).text)
    assert "city=%E4%B8%8A%E6%B5%B7" in href and "has_warning=false" in href
    exported = admin.get(href).text
    assert "张伟" in exported and "李四" not in exported and "张三" not in exported
    # Without filters the link exports every customer the user may see.
    assert "city=" not in _export_href(admin.get("/customers").text)
    # The filters narrow orders and scores too; tasks and tickets refuse them.
    orders = admin.get("/api/v1/exports/orders", params={"format": "csv", "city": "上海"})
    assert orders.status_code == 200
    refused = admin.get("/api/v1/exports/tasks", params={"format": "csv", "city": "上海"})
    assert refused.status_code == 422 and "customer filters" in refused.text
