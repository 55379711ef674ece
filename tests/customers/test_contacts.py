"""Contacts of company customers through the API: record rules, masking, one primary."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import CustomerKind
from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]
PERSON = {
    "name": "王经理",
    "title": "采购经理",
    "phone": "138 0013 8000",
    "email": "Wang@Example.com",
}


def _company(sessions: sessionmaker[Session], world: World, record: str) -> int:
    with sessions.begin() as session:
        customer = world.customer(session, record, "某某公司", kind=CustomerKind.company)
        return customer.id


def _url(customer_id: int, rest: str = "") -> str:
    return f"/api/v1/customers/{customer_id}/contacts{rest}"


def test_the_owner_adds_changes_and_removes_contacts_seeing_them_plainly(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    own = _company(sessions, world, "own")
    agent = bearer(world.tokens["agent"])
    made = client.post(_url(own), json=PERSON | {"is_primary": True}, headers=agent)
    assert made.status_code == 201, made.text
    first = made.json()
    assert (first["phone"], first["email"], first["masked"]) == (
        "+8613800138000", "wang@example.com", False,
    )  # fmt: skip
    second = client.post(
        _url(own), json={"name": "李助理", "is_primary": True}, headers=agent
    ).json()
    listed = client.get(_url(own), headers=agent).json()
    assert [(c["name"], c["is_primary"]) for c in listed] == [("李助理", True), ("王经理", False)]
    changed = client.patch(_url(own, f"/{first['id']}"), json={"title": None}, headers=agent)
    assert (changed.status_code, changed.json()["title"]) == (200, None)
    assert client.delete(_url(own, f"/{second['id']}"), headers=agent).status_code == 204
    assert [c["name"] for c in client.get(_url(own), headers=agent).json()] == ["王经理"]
    assert client.delete(_url(own, f"/{second['id']}"), headers=agent).status_code == 404


def test_others_see_masked_contacts_or_none_at_all(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    own = _company(sessions, world, "own")
    client.post(_url(own), json=PERSON, headers=bearer(world.tokens["agent"]))
    for role in ("admin", "manager", "analyst"):
        (seen,) = client.get(_url(own), headers=bearer(world.tokens[role])).json()
        assert (seen["phone"], seen["email"], seen["masked"]) == (
            "138****8000", "w***@example.com", True,
        ), role  # fmt: skip
    west = bearer(world.tokens["other_agent"])
    hidden = client.get(_url(own), headers=west)
    assert (hidden.status_code, hidden.json()["error"]) == (404, "not_found")
    assert client.post(_url(own), json=PERSON, headers=west).status_code == 404
    refused = client.post(_url(own), json=PERSON, headers=bearer(world.tokens["analyst"]))
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")


def test_only_companies_have_contacts_and_bad_input_is_named(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        person = world.customer(session, "own").id
        company = builders.company(session, "别家公司", owner_id=world.users["agent"].id).id
    agent = bearer(world.tokens["agent"])
    refused = client.post(_url(person), json=PERSON, headers=agent)
    assert refused.status_code == 422 and "person" in refused.json()["detail"]
    bad = client.post(_url(company), json=PERSON | {"phone": "not a phone"}, headers=agent)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_input")
    assert bad.json()["detail"][0]["where"] == "body.phone"
