"""The rules REST API: checking a rulebook and an expression, a dry run and a backtest that
answer as the command line does, and applying a version (admins only, audited)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.engagement.models import Task
from patron.rules.api import MAX_DOCUMENT
from tests.api.conftest import World, app, bearer, client, world
from tests.rules.scenario import RULEBOOK, shop

__all__ = ["app", "client", "world"]

BROKEN = RULEBOOK.replace('"recency_days > 90"', '"recency_dayz > 90"')


def _as(world: World, role: str) -> dict[str, str]:
    return bearer(world.tokens[role])


def test_a_rulebook_is_checked_as_yaml_or_json(client: TestClient, world: World) -> None:
    yaml = {"Content-Type": "application/yaml"} | _as(world, "manager")
    good = client.post("/api/v1/rules/check", content=RULEBOOK.encode(), headers=yaml)
    assert good.status_code == 200, good.text
    assert good.json() == {
        "ok": True,
        "errors": [],
        "counts": {"grades": 2, "stages": 2, "segments": 1, "warnings": 1, "care": 0},
    }
    bad = client.post(
        "/api/v1/rules/check", json={"document": BROKEN}, headers=_as(world, "analyst")
    )
    assert bad.status_code == 200
    body = bad.json()
    assert body["ok"] is False and body["counts"] == {}
    assert "gone_quiet" in body["errors"][0] and "recency_dayz" in body["errors"][0]
    not_a_map = client.post("/api/v1/rules/check", content=b"- just\n- a list\n", headers=yaml)
    assert not_a_map.json()["ok"] is False
    empty = client.post("/api/v1/rules/check", content=b"  ", headers=yaml)
    assert empty.status_code == 422
    huge = client.post("/api/v1/rules/check", content=b"#" * (MAX_DOCUMENT + 1), headers=yaml)
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"


def test_expressions_are_checked(client: TestClient, world: World) -> None:
    good = client.post(
        "/api/v1/rules/check-expr",
        json={"expression": "recency_days>90 and frequency >= 2"},
        headers=_as(world, "analyst"),
    )
    assert good.status_code == 200
    assert good.json()["features"] == ["frequency", "recency_days"]
    bad = client.post(
        "/api/v1/rules/check-expr",
        json={"expression": "1; DROP TABLE x"},
        headers=_as(world, "admin"),
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_rule"


def test_dry_run_compares_and_changes_nothing(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    proposed = RULEBOOK.replace("orders_total >= 3", "orders_total >= 4")
    response = client.post(
        "/api/v1/rules/dry-run",
        json={"document": proposed, "as_of": "2025-02-04"},
        headers=_as(world, "manager"),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["customers"] == 3 and result["active_version"] == 1
    assert {"from": "A", "to": "C", "customers": 2} in result["grades"]["matrix"]
    assert result["warnings"] == [{"id": "gone_quiet", "active": 2, "proposed": 2}]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0
    refused = client.post(
        "/api/v1/rules/dry-run", json={"document": BROKEN}, headers=_as(world, "manager")
    )
    assert refused.status_code == 422 and "recency_dayz" in refused.json()["detail"]


def test_backtest_answers_as_the_contract_says(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    shop(sessions)
    response = client.post(
        "/api/v1/rules/backtest",
        json={"as_of": "2024-09-07", "until": "2025-02-04"},
        headers=_as(world, "analyst"),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "as_of": "2024-09-07",
        "until": "2025-02-04",
        "customers": 3,
        "base_rate": 0.6667,
        "warnings": [
            {"id": "gone_quiet", "flagged": 1, "precision": 1.0, "recall": 0.5, "lift": 1.5}
        ],
        "grades": [
            {"grade": "A", "customers": 1, "future_revenue_share": 0.0},
            {"grade": "C", "customers": 2, "future_revenue_share": 1.0},
        ],
    }
    backwards = client.post(
        "/api/v1/rules/backtest",
        json={"as_of": "2025-02-04", "until": "2024-09-07", "document": RULEBOOK},
        headers=_as(world, "analyst"),
    )
    assert backwards.status_code == 422


def test_only_admins_apply_and_each_apply_is_audited(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    body = {"document": RULEBOOK, "note": "stricter A"}
    assert (
        client.post("/api/v1/rules/apply", json=body, headers=_as(world, "manager")).status_code
        == 403
    )
    broken = client.post(
        "/api/v1/rules/apply", json={"document": BROKEN}, headers=_as(world, "admin")
    )
    assert broken.status_code == 422
    applied = client.post("/api/v1/rules/apply", json=body, headers=_as(world, "admin"))
    assert applied.status_code == 201, applied.text
    assert applied.json() == {"version": 1}
    active = client.get("/api/v1/rules", headers=_as(world, "analyst")).json()
    assert active["version"] == 1 and active["document"] == RULEBOOK
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "rules.apply"))
        audited = [(e.entity_id, e.user_id, e.detail) for e in entries]
    assert audited == [("1", world.users["admin"].id, {"note": "stricter A"})]
