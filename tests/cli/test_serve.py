"""`patron serve`: the app on the database named by --db, handed to uvicorn."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from patron.cli.main import app as cli


def test_serve_runs_the_app_on_the_given_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    def run(app: FastAPI, **options: Any) -> None:
        started.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", run)  # `serve` imports uvicorn when it runs
    done = CliRunner().invoke(cli, ["--db", db_url, "serve", "--host", "0.0.0.0", "--port", "8123"])
    assert done.exit_code == 0, done.output
    assert (started["host"], started["port"]) == ("0.0.0.0", 8123)
    app = started["app"]
    assert app.state.settings.database_url == db_url
    with TestClient(app) as client:
        health = client.get("/healthz").json()
    assert health["database"] == app.state.engine.dialect.name
