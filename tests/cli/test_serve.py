"""`patron serve`: the app on the database named by --db, handed to uvicorn."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from patron.auth.models import Role
from patron.cli.main import app as cli
from patron.db import session_factory
from patron.schema import migrate
from tests import builders
from tests.api.conftest import bearer, token_for
from tests.web.conftest import PATRON, _free_port, _wait_until_up


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


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_serve_with_workers_answers_from_several_processes(
    db: Engine, db_url: str, tmp_path: Path
) -> None:
    migrate(db)
    with session_factory(db).begin() as session:
        token = token_for(session, builders.user(session, "mei", role=Role.admin))
    port = _free_port()
    process = subprocess.Popen(
        [*PATRON, "--db", db_url, "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PATRON_SECRET_KEY": secrets.token_urlsafe(32)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        # uvicorn's supervisor forks the workers; each builds its own app and engine.
        workers = [pid for pid in _children(process.pid) if "spawn_main" in _command(pid)]
        assert len(workers) == 2, workers
        assert httpx.get(f"{base}/api/v1/customers").status_code == 401
        for _ in range(6):
            answer = httpx.get(f"{base}/api/v1/customers", headers=bearer(token))
            assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
