"""The imports page through the app (no browser), per role, on SQLite and PostgreSQL: upload,
column-mapping preview, the import in the background, the summary and the rejects file."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from tests.api.conftest import World, bearer, build_world

GBK_CUSTOMERS = (
    "客户编号,客户名称,手机,城市,会员来源\n"
    "C001,张三,13800138000,上海,展会\n"
    "C002,李四,13900139000,北京,官网\n"
    "C003,,13700137000,杭州,展会\n"
    "C004,王五,13600136000,广州,\n"
).encode("gbk")


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return build_world(sessions)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(
        app, base_url="http://testserver", follow_redirects=False, headers={"Accept-Language": "en"}
    )


def _upload(client: TestClient, token: str, body: bytes, name: str = "客户.csv") -> str:
    answer = client.post(
        "/imports/preview", headers=bearer(token), data={"kind": "customers"},
        files={"file": (name, body, "text/csv")},
    )  # fmt: skip
    assert answer.status_code == 200
    return answer.text


def _found(pattern: str, fragment: str) -> str:
    found = re.search(pattern, fragment)
    assert found is not None, fragment
    return found.group(1)


def _upload_id(fragment: str) -> str:
    return _found(r'data-upload="([^"]+)"', fragment)


def _run(client: TestClient, token: str, upload_id: str) -> str:
    """Confirm the upload; the job's id from the progress fragment."""
    answer = client.post(f"/imports/uploads/{upload_id}/run", headers=bearer(token))
    assert answer.status_code == 200
    return _found(r'data-job="(\d+)"', answer.text)


def _wait_finished(client: TestClient, token: str, job_id: str) -> str:
    for _ in range(300):
        page = client.get(f"/imports/jobs/{job_id}/progress", headers=bearer(token)).text
        if 'data-status="done"' in page or 'data-status="failed"' in page:
            return page
        time.sleep(0.1)
    pytest.fail("the import did not finish within 30 s")


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_importers_preview_run_and_download_rejects(
    client: TestClient, world: World, sessions: sessionmaker[Session], role: str
) -> None:
    token = world.tokens[role]
    assert "/imports/preview" in client.get("/imports", headers=bearer(token)).text
    preview = _upload(client, token, GBK_CUSTOMERS)
    assert "gb18030" in preview
    assert re.search(
        r'data-header="客户编号">\s*<td>客户编号</td>\s*<td><code>customer_id', preview
    )
    assert re.search(r'data-header="会员来源">.*?custom field', preview, re.S)
    assert re.search(r'data-row="4">.*?客户名称: is empty', preview, re.S)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0  # nothing yet
    upload_id = _upload_id(preview)
    job_id = _run(client, token, upload_id)
    summary = _wait_finished(client, token, job_id)
    assert re.search(r'data-count="inserted">3<', summary)
    assert re.search(r'data-count="rejected">1<', summary)
    # A second click on "Run import" does not import the file twice.
    assert _run(client, token, upload_id) == job_id
    assert f'data-job="{job_id}"' in client.get("/imports", headers=bearer(token)).text
    rejects = client.get(f"/imports/jobs/{job_id}/rejects", headers=bearer(token))
    assert rejects.status_code == 200
    rows = list(csv.reader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert rows[0][-3:] == ["row_number", "column", "reason"]
    assert rows[1][0] == "C003" and rows[1][-3] == "4" and rows[1][-1] == "is empty"
    with sessions() as session:
        names = session.scalars(select(Customer.name).order_by(Customer.external_id)).all()
        assert names == ["张三", "李四", "王五"]
        custom = session.scalar(select(Customer.custom_fields).where(Customer.name == "张三"))
        assert custom == {"会员来源": "展会"}


@pytest.mark.parametrize("role", ["agent", "analyst"])
def test_other_roles_may_not_import(client: TestClient, world: World, role: str) -> None:
    token = world.tokens[role]
    assert client.get("/imports", headers=bearer(token)).status_code == 403
    answer = client.post(
        "/imports/preview", headers=bearer(token), data={"kind": "customers"},
        files={"file": ("c.csv", GBK_CUSTOMERS, "text/csv")},
    )  # fmt: skip
    assert answer.status_code == 403
    assert 'href="/imports"' not in client.get("/customers", headers=bearer(token)).text


def test_uploads_and_jobs_belong_to_whoever_uploaded_them(client: TestClient, world: World) -> None:
    token = world.tokens["manager"]
    upload_id = _upload_id(_upload(client, token, GBK_CUSTOMERS))
    other = bearer(world.tokens["admin"])
    assert client.post(f"/imports/uploads/{upload_id}/run", headers=other).status_code == 404
    job_id = _run(client, token, upload_id)
    _wait_finished(client, token, job_id)
    # An admin follows any job, as on the API; an agent none.
    assert client.get(f"/imports/jobs/{job_id}/progress", headers=other).status_code == 200
    agent = bearer(world.tokens["agent"])
    assert client.get(f"/imports/jobs/{job_id}/progress", headers=agent).status_code == 403


def test_a_file_missing_a_required_column_is_refused_before_running(
    client: TestClient, world: World
) -> None:
    token = world.tokens["admin"]
    preview = _upload(client, token, "name,city\n张三,上海\n".encode())
    assert "has no customer_id" in preview
    assert "/run" not in preview
    answer = client.post(f"/imports/uploads/{_upload_id(preview)}/run", headers=bearer(token))
    assert "cannot be imported" in answer.text


def test_not_a_spreadsheet_is_refused_with_a_reason(client: TestClient, world: World) -> None:
    answer = client.post(
        "/imports/preview", headers=bearer(world.tokens["admin"]), data={"kind": "customers"},
        files={"file": ("photo.png", b"\x89PNG....", "image/png")},
    )  # fmt: skip
    assert answer.status_code == 422
    assert "not a CSV or XLSX file" in answer.text
