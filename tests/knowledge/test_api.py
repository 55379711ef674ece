"""The knowledge REST API: who writes, who reads, drafts, search and ticket links."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests import builders
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]
ARTICLES = "/api/v1/knowledge/articles"


def _post(client: TestClient, world: World, role: str, **body: object) -> dict[str, object]:
    response = client.post(ARTICLES, json=body, headers=bearer(world.tokens[role]))
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_managers_write_and_agents_read(client: TestClient, world: World) -> None:
    article = _post(
        client,
        world,
        "manager",
        title="如何申请退款",
        body="七天内可申请退款",
        category="售后",
        tags=["退款"],
    )
    assert article["category"] == "售后" and article["tags"] == ["退款"]
    agent = bearer(world.tokens["agent"])
    assert (
        client.get(f"{ARTICLES}/{article['id']}", headers=agent).json()["title"] == "如何申请退款"
    )
    refused = client.patch(f"{ARTICLES}/{article['id']}", json={"title": "x"}, headers=agent)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    changed = client.patch(
        f"{ARTICLES}/{article['id']}",
        json={"tags": ["售后", "退款"]},
        headers=bearer(world.tokens["admin"]),
    )
    assert changed.json()["tags"] == ["售后", "退款"]
    hits = client.get("/api/v1/knowledge/search", params={"q": "退款"}, headers=agent).json()
    assert [hit["title"] for hit in hits] == ["如何申请退款"]
    assert (
        client.delete(
            f"{ARTICLES}/{article['id']}", headers=bearer(world.tokens["manager"])
        ).status_code
        == 204
    )
    assert client.get(f"{ARTICLES}/{article['id']}", headers=agent).status_code == 404


def test_drafts_are_hidden_from_readers(client: TestClient, world: World) -> None:
    draft = _post(client, world, "admin", title="发票抬头草稿", status="draft")
    analyst = bearer(world.tokens["analyst"])
    assert client.get(f"{ARTICLES}/{draft['id']}", headers=analyst).status_code == 404
    assert client.get(ARTICLES, headers=analyst).json()["items"] == []
    assert (
        client.get("/api/v1/knowledge/search", params={"q": "发票抬头"}, headers=analyst).json()
        == []
    )
    manager = bearer(world.tokens["manager"])
    assert [a["id"] for a in client.get(ARTICLES, headers=manager).json()["items"]] == [draft["id"]]


def test_listing_filters_and_pages(client: TestClient, world: World) -> None:
    for n in range(3):
        _post(
            client,
            world,
            "manager",
            title=f"退款{n}",
            category="售后" if n else "财务",
            tags=["t"] if n == 2 else [],
        )
    agent = bearer(world.tokens["agent"])
    first = client.get(ARTICLES, params={"limit": 2, "sort": "title"}, headers=agent).json()
    second = client.get(
        ARTICLES,
        params={"limit": 2, "sort": "title", "cursor": first["next_cursor"]},
        headers=agent,
    ).json()
    assert [a["title"] for a in first["items"] + second["items"]] == ["退款0", "退款1", "退款2"]
    assert [
        a["title"]
        for a in client.get(
            ARTICLES, params={"category": "售后", "tag": "t"}, headers=agent
        ).json()["items"]
    ] == ["退款2"]
    categories = client.get("/api/v1/knowledge/categories", headers=agent).json()
    assert {c["name"]: c["articles"] for c in categories} == {"售后": 2, "财务": 1}


def test_bad_input_is_refused(client: TestClient, world: World) -> None:
    admin = bearer(world.tokens["admin"])
    assert client.post(ARTICLES, json={"title": ""}, headers=admin).status_code == 422
    blank = client.get("/api/v1/knowledge/search", params={"q": "   "}, headers=admin)
    assert blank.status_code == 422 and blank.json()["error"] == "invalid_input"


def test_agents_link_articles_to_their_tickets(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    article = _post(client, world, "manager", title="修改收货地址")
    with sessions.begin() as session:
        mine = builders.ticket(
            session, world.customer(session, "own"), assignee_id=world.users["agent"].id
        ).id
        theirs = builders.ticket(
            session, world.customer(session, "other"), assignee_id=world.users["other_agent"].id
        ).id
    agent = bearer(world.tokens["agent"])
    url = f"/api/v1/tickets/{mine}/articles"
    assert client.post(url, json={"article_id": article["id"]}, headers=agent).status_code == 201
    again = client.post(url, json={"article_id": article["id"]}, headers=agent)
    assert again.status_code == 200 and [a["id"] for a in again.json()] == [article["id"]]
    assert [a["id"] for a in client.get(url, headers=agent).json()] == [article["id"]]
    hidden = client.post(
        f"/api/v1/tickets/{theirs}/articles", json={"article_id": article["id"]}, headers=agent
    )
    assert hidden.status_code == 404
    missing = client.post(url, json={"article_id": 999_999}, headers=agent)
    assert missing.status_code == 404
    assert client.delete(f"{url}/{article['id']}", headers=agent).status_code == 204
    assert client.get(url, headers=agent).json() == []
