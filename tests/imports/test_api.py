"""The imports REST API: upload, a background job with progress and summary, the rejects
download, size and type limits, who may import, and jobs whose server died."""

from __future__ import annotations

import csv
import io
import os
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.api.app import create_app
from patron.audit.models import AuditEntry
from patron.config import Settings
from patron.db import now
from patron.imports.models import ImportJob, JobStatus
from patron.orders.models import Order
from tests.api.conftest import World, bearer, world
from tests.imports.files import ORDER_HEADER, orders, write_csv, write_xlsx

__all__ = ["world"]


@pytest.fixture
def client(db: Engine, tmp_path: Path) -> Iterator[TestClient]:
    url = db.url.render_as_string(hide_password=False)
    settings = Settings(
        environment="test", database_url=url, import_dir=str(tmp_path / "uploads"),
        import_max_bytes=20_000, import_batch_size=7,
    )  # fmt: skip
    with TestClient(create_app(settings, engine=db), base_url="https://testserver") as client:
        yield client


def _upload(client: TestClient, world: World, role: str, path: Path, kind: str = "orders") -> Any:
    with path.open("rb") as handle:
        return client.post(
            f"/api/v1/imports/{kind}",
            files={"file": (path.name, handle)},
            headers=bearer(world.tokens[role]),
        )


def _finished(client: TestClient, world: World, role: str, job_id: int) -> dict[str, Any]:
    """Poll the job until it is done or failed (the import runs on its own thread)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/imports/{job_id}", headers=bearer(world.tokens[role])).json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"import job {job_id} did not finish: {job}")


def test_an_upload_imports_in_the_background_with_a_summary_and_rejects(
    client: TestClient, world: World, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    rows = [*orders(20), ["O999", "C1", "2024-13-01", "5", "paid", "web"]]
    path = write_csv(tmp_path / "june orders.csv", ORDER_HEADER, rows)
    started = _upload(client, world, "manager", path)
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running", "done")
    job = _finished(client, world, "manager", started.json()["id"])
    assert job["status"] == "done", job
    assert job["summary"] == {"inserted": 20, "updated": 0, "unchanged": 0, "rejected": 1}
    assert job["rows_done"] == 21 and job["percent"] == 100.0
    assert job["filename"] == "june orders.csv"
    rejects = client.get(job["rejects_url"], headers=bearer(world.tokens["manager"]))
    assert rejects.status_code == 200
    assert "june%20orders.rejects.csv" in rejects.headers["content-disposition"]
    refused = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert [(r["order_id"], r["row_number"]) for r in refused] == [("O999", "22")]
    assert "ordered_at" in refused[0]["column"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 20
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "import_job")
        )
        assert list(audited) == ["import.orders"]
    again = _finished(client, world, "admin", _upload(client, world, "admin", path).json()["id"])
    assert again["summary"] == {"inserted": 0, "updated": 0, "unchanged": 20, "rejected": 1}


def test_xlsx_uploads_and_jobs_are_their_uploaders(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "orders.xlsx", ORDER_HEADER, orders(5))
    job_id = _upload(client, world, "admin", path).json()["id"]
    job = _finished(client, world, "admin", job_id)
    assert job["status"] == "done" and job["summary"]["inserted"] == 5, job
    # Not the manager's job: it does not exist for them; nor are there rejects to fetch.
    manager = bearer(world.tokens["manager"])
    assert client.get(f"/api/v1/imports/{job_id}", headers=manager).status_code == 404
    admin = bearer(world.tokens["admin"])
    assert client.get(f"/api/v1/imports/{job_id}/rejects", headers=admin).status_code == 404


def test_agents_and_analysts_may_not_import(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(2))
    for role in ("agent", "analyst"):
        assert _upload(client, world, role, path).status_code == 403


def test_limits_and_bad_uploads(client: TestClient, world: World, tmp_path: Path) -> None:
    big = write_csv(tmp_path / "big.csv", ORDER_HEADER, orders(600))
    too_large = _upload(client, world, "admin", big)
    assert too_large.status_code == 413 and too_large.json()["error"] == "too_large"
    assert "MB" in too_large.json()["detail"]
    text = tmp_path / "orders.txt"
    text.write_text("order_id\n1\n")
    assert _upload(client, world, "admin", text).status_code == 422
    csv_file = write_csv(tmp_path / "o.csv", ORDER_HEADER, orders(2))
    assert _upload(client, world, "admin", csv_file, kind="invoices").status_code == 422
    no_file = client.post(
        "/api/v1/imports/orders", json={"file": "x"}, headers=bearer(world.tokens["admin"])
    )
    assert no_file.status_code == 422 and "multipart" in no_file.json()["detail"]
    uploads = list((tmp_path / "uploads").glob("*/*")) if (tmp_path / "uploads").exists() else []
    assert uploads == [], "refused uploads leave no file behind"


def test_a_file_that_cannot_be_read_fails_the_job_naming_the_problem(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ["order_id", "amount"], [["O1", "5"]])
    job = _finished(client, world, "admin", _upload(client, world, "admin", path).json()["id"])
    assert job["status"] == "failed" and job["summary"] is None
    assert "customer_id" in job["error"]


def _stuck_job(sessions: sessionmaker[Session], world: World, runner: str, beat_ago: int) -> int:
    with sessions.begin() as session:
        job = ImportJob(
            kind="orders", filename="orders.csv", upload_path="/nowhere/upload.csv",
            user_id=world.users["admin"].id, status=JobStatus.running, runner=runner,
            heartbeat_at=now() - timedelta(seconds=beat_ago),
        )  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


def test_a_job_whose_server_died_is_marked_failed(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    # A process on this host that no longer exists (pid beyond the kernel's limit).
    host = socket.gethostname()
    gone = _stuck_job(sessions, world, f"{host}:4194305:0123456789ab", 0)
    # This process's id under another boot id: the server before a restart.
    restarted = _stuck_job(sessions, world, f"{host}:{os.getpid()}:0123456789ab", 0)
    silent = _stuck_job(sessions, world, "elsewhere:1:0123456789ab", 3600)
    alive = _stuck_job(sessions, world, "elsewhere:1:0123456789ab", 0)
    admin = bearer(world.tokens["admin"])
    for job_id in (gone, restarted, silent):
        job = client.get(f"/api/v1/imports/{job_id}", headers=admin).json()
        assert job["status"] == "failed" and "upload the file again" in job["error"], job
    assert client.get(f"/api/v1/imports/{alive}", headers=admin).json()["status"] == "running"
