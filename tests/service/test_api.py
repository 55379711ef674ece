"""The ticket and survey REST API: record rules, transitions, public survey links, and the
detractor warning an NPS answer raises."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.db import now
from patron.engagement.models import Task
from patron.rules.refresh import run_queued
from patron.service.models import SurveyInvitation
from tests.api.conftest import World, app, bearer, client, world

__all__ = ["app", "client", "world"]


def _open(client: TestClient, world: World, role: str, customer_id: int, **body: object) -> dict:
    body = {"kind": "complaint", "subject": "late delivery"} | body
    response = client.post(
        f"/api/v1/customers/{customer_id}/tickets", json=body, headers=bearer(world.tokens[role])
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _ids(client: TestClient, world: World, role: str, **params: object) -> set[int]:
    response = client.get("/api/v1/tickets", params=params, headers=bearer(world.tokens[role]))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_tickets_follow_the_record_rules(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
        other = world.customer(session, "other").id
    mine = _open(client, world, "agent", own)["id"]
    theirs = _open(client, world, "other_agent", other)["id"]
    assert _ids(client, world, "agent") == {mine}
    assert _ids(client, world, "other_agent") == {theirs}
    assert _ids(client, world, "manager") == {mine}
    assert _ids(client, world, "admin") == _ids(client, world, "analyst") == {mine, theirs}
    agent = bearer(world.tokens["agent"])
    assert client.get(f"/api/v1/tickets/{theirs}", headers=agent).status_code == 404
    refused = client.post(
        f"/api/v1/tickets/{mine}/transitions",
        json={"to": "in_progress"},
        headers=bearer(world.tokens["analyst"]),
    )
    assert refused.status_code == 403


def test_transitions_through_the_api(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own", grade="A").id
    agent = bearer(world.tokens["agent"])
    ticket = _open(client, world, "agent", own, priority="urgent", root_causes=["物流", " 物流"])
    assert ticket["status"] == "new" and ticket["root_causes"] == ["物流"]
    assert ticket["response_due_at"] is not None and ticket["allowed_transitions"] == [
        "assigned", "closed", "in_progress",
    ]  # fmt: skip
    url = f"/api/v1/tickets/{ticket['id']}"
    refused = client.post(f"{url}/transitions", json={"to": "resolved"}, headers=agent)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "invalid_transition"
    assert body["detail"]["from"] == "new" and body["detail"]["to"] == "resolved"
    assert body["detail"]["allowed"] == ["assigned", "closed", "in_progress"]
    assigned = client.post(
        f"{url}/assign", json={"assignee_id": world.users["agent"].id}, headers=agent
    )
    assert assigned.json()["status"] == "assigned"
    working = client.post(f"{url}/transitions", json={"to": "in_progress"}, headers=agent).json()
    assert working["first_response_at"] is not None
    classified = client.patch(
        url, json={"category": "物流", "root_causes": ["承运商"]}, headers=agent
    )
    assert classified.json()["category"] == "物流" and classified.json()["root_causes"] == [
        "承运商"
    ]
    resolved = client.post(f"{url}/transitions", json={"to": "resolved"}, headers=agent).json()
    assert resolved["resolved_at"] is not None
    invitations = client.get(f"/api/v1/customers/{own}/survey-invitations", headers=agent).json()
    assert [i["ticket_id"] for i in invitations] == [ticket["id"]]
    survey = client.get(f"/api/v1/public/surveys/{invitations[0]['token']}").json()
    assert survey["kind"] == "csat"


def test_agents_cannot_hand_tickets_to_others(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
    ticket = _open(client, world, "agent", own)
    refused = client.post(
        f"/api/v1/tickets/{ticket['id']}/assign",
        json={"assignee_id": world.users["other_agent"].id},
        headers=bearer(world.tokens["agent"]),
    )
    assert refused.status_code == 403


def test_public_answer_is_single_use_and_expires(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
    agent = bearer(world.tokens["agent"])
    made = client.post(
        f"/api/v1/customers/{own}/survey-invitations", json={"kind": "csat"}, headers=agent
    )
    assert made.status_code == 201, made.text
    link = f"/api/v1/public/surveys/{made.json()['token']}"
    assert client.post(link, json={"score": 9}).status_code == 422
    assert client.post(link, json={"score": 4, "comment": "ok"}).status_code == 201
    again = client.post(link, json={"score": 5})
    assert again.status_code == 410 and again.json()["error"] == "survey_used"
    assert client.get(link).status_code == 410
    late = client.post(
        f"/api/v1/customers/{own}/survey-invitations", json={"kind": "nps"}, headers=agent
    ).json()
    with sessions.begin() as session:
        session.execute(
            update(SurveyInvitation)
            .where(SurveyInvitation.id == late["id"])
            .values(expires_at=now() - timedelta(minutes=1))
        )
    expired = client.get(f"/api/v1/public/surveys/{late['token']}")
    assert expired.status_code == 410 and expired.json()["error"] == "survey_expired"
    forged = client.get("/api/v1/public/surveys/" + late["token"][:-3] + "abc")
    assert forged.status_code == 400 and forged.json()["error"] == "survey_token_invalid"


def test_a_detractor_answer_raises_the_detractor_warning(
    client: TestClient, world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
    made = client.post(
        f"/api/v1/customers/{own}/survey-invitations",
        json={"kind": "nps"},
        headers=bearer(world.tokens["agent"]),
    ).json()
    answered = client.post(f"/api/v1/public/surveys/{made['token']}", json={"score": 2})
    assert answered.status_code == 201, answered.text
    assert run_queued(db, worker="tests").done == 1  # the worker's warnings job
    with sessions() as session:
        warning_tasks = session.scalars(
            select(Task).where(Task.customer_id == own, Task.source_rule == "detractor")
        ).all()
    assert [t.assignee_id for t in warning_tasks] == [world.users["agent"].id]


def test_a_promoter_answer_raises_no_detractor_warning(
    client: TestClient, world: World, db: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        own = world.customer(session, "own").id
    made = client.post(
        f"/api/v1/customers/{own}/survey-invitations",
        json={"kind": "nps"},
        headers=bearer(world.tokens["agent"]),
    ).json()
    assert client.post(f"/api/v1/public/surveys/{made['token']}", json={"score": 10}).is_success
    assert run_queued(db, worker="tests").done == 1
    with sessions() as session:
        assert session.scalars(select(Task).where(Task.source_rule == "detractor")).all() == []


def test_only_admins_and_managers_define_surveys(client: TestClient, world: World) -> None:
    custom = {
        "kind": "custom",
        "name": "到店体验",
        "questions": [{"id": "q1", "type": "choice", "options": ["好", "差"], "text": "环境"}],
    }
    made = client.post("/api/v1/surveys", json=custom, headers=bearer(world.tokens["manager"]))
    assert made.status_code == 201 and made.json()["questions"][0]["id"] == "q1"
    broken = custom | {"questions": [{"id": "q1", "type": "choice", "text": "环境"}]}
    refused = client.post("/api/v1/surveys", json=broken, headers=bearer(world.tokens["admin"]))
    assert refused.status_code == 422 and "options" in refused.json()["detail"]
    agent = client.post("/api/v1/surveys", json=custom, headers=bearer(world.tokens["agent"]))
    assert agent.status_code == 403
