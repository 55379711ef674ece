"""The web-health checks: /healthz, /openapi.json and the one error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from patron.api.app import create_app
from patron.config import Settings


def test_healthz_answers_without_sign_in(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_reports_an_unreachable_database() -> None:
    settings = Settings(
        environment="test", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"


def test_openapi_describes_the_api_and_its_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    listing = spec["paths"]["/api/v1/customers"]["get"]
    assert {"200", "401", "403", "422"} <= set(listing["responses"])
    error = listing["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorOut")
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyCookie"} <= set(schemes)


def test_anonymous_customer_list_is_refused_with_the_json_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized"
    assert "sign in" in body["detail"]


def test_unknown_addresses_and_methods_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_invalid_input_names_where_the_problem_is(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["detail"][0]["where"] == "body.password"
