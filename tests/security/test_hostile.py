"""Hostile input: SQL injection in filters, search and rule expressions; oversized, malformed and
bomb-shaped files; script in names; spreadsheet formulas in exports."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.errors import FileUnreadable
from patron.imports.service import import_file
from patron.orders.models import Order
from tests import builders
from tests.api.conftest import bearer, make_app, token_for
from tests.web.clients import browser_for

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE customers; --",
    "%' UNION SELECT password_hash, 1 FROM users --",
    "1) OR (1=1",
    '" OR ""="',
    "张三' --",
    "\\'; SELECT pg_sleep(5); --",
]


@pytest.fixture
def admin(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        user = builders.user(session, "root-admin", role=Role.admin)
        builders.customer(session, "张三", owner_id=user.id, city="上海")
        builders.customer(session, "李四", owner_id=user.id, city="北京")
        return token_for(session, user)


@pytest.fixture
def client(db: Engine) -> TestClient:
    return TestClient(make_app(db), base_url="https://testserver")


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Customer)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
        )


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_filters_and_search_is_plain_text(
    client: TestClient, admin: str, sessions: sessionmaker[Session], payload: str
) -> None:
    before = _counts(sessions)
    for params in (
        {"q": payload},
        {"city": payload},
        {"tags": payload},
        {"grade": payload},
        {"owner": payload},
        {"sort": payload},
        {"cursor": payload},
    ):
        response = client.get("/api/v1/customers", params=params, headers=bearer(admin))
        assert response.status_code in (200, 422), (params, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == [], params
        else:
            assert response.json()["error"]
        assert "argon2" not in response.text
    assert _counts(sessions) == before


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("recency_days > 1; DROP TABLE customers", "DROP"),
        ("(SELECT count(*) FROM users) > 0", "SELECT"),
        ("recency_days > 0 UNION SELECT 1", "UNION"),
        ("recency_days > 0 -- AND frequency > 1", "comment"),
        ("password_hash = 'x'", "password_hash"),
        ("read_csv('/etc/passwd') IS NULL", "read_csv"),
        ("pg_sleep(10) IS NULL", "pg_sleep"),
    ],
)
def test_hostile_rule_expressions_are_refused_by_name(
    client: TestClient, admin: str, expression: str, named: str
) -> None:
    response = client.post(
        "/api/v1/rules/check-expr", json={"expression": expression}, headers=bearer(admin)
    )
    assert response.status_code == 422, response.text
    assert named.lower() in str(response.json()["detail"]).lower()


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_100_mb_line_is_refused_and_the_good_rows_stay(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("order_id,customer_id,ordered_at,amount\n")
        handle.write("A1,C1,2024-01-02,10\n")
        handle.write("A2,C2,2024-01-03," + "9" * (100 * 1024 * 1024) + "\n")
        handle.write("A3,C3,2024-01-04,30\n")
    try:
        result = import_file(engine=db, kind="orders", path=path)
    except FileUnreadable as error:
        assert "line" in error.message or "field" in error.message
        with db.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Order)) == 0
        return
    assert result.counts.rejected >= 1
    with db.connect() as connection:
        stored = set(connection.scalars(select(Order.external_id)))
    assert {"A1", "A3"} <= stored and "A2" not in stored


def test_wrong_types_in_a_workbook_are_rejected_row_by_row(db: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["customer_id", "ordered_at", "amount"])
    sheet.append(["C1", "2024-01-02", 12.5])
    sheet.append(["C2", True, "=1/0"])
    sheet.append(["C3", "not a date", "abc"])
    sheet.append([None, None, None])
    sheet.append(["C4", "2024-02-02", 8])
    path = tmp_path / "orders.xlsx"
    book.save(path)
    result = import_file(engine=db, kind="orders", path=path, rejects_path=tmp_path / "r.csv")
    assert result.counts.inserted == 2
    assert result.counts.rejected == 2
    reasons = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "ordered_at" in reasons


def test_a_zip_bomb_workbook_is_refused_before_it_is_unpacked(db: Engine, tmp_path: Path) -> None:
    source = tmp_path / "small.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["customer_id", "ordered_at", "amount"])
    book.save(source)
    bomb = tmp_path / "bomb.xlsx"
    chunk = b"A" * (16 * 1024 * 1024)
    # After the sheet, a comment that inflates to 1 GiB from about a megabyte on disk.
    with (
        zipfile.ZipFile(source) as original,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in original.infolist():
            data = original.read(item)
            if item.filename != "xl/worksheets/sheet1.xml":
                target.writestr(item, data)
                continue
            with target.open(item.filename, "w", force_zip64=True) as member:
                member.write(data)
                member.write(b"<!--")
                for _ in range(64):
                    member.write(chunk)
                member.write(b"-->")
    assert bomb.stat().st_size < 10 * 1024 * 1024
    with pytest.raises(FileUnreadable, match="unpack"):
        import_file(engine=db, kind="orders", path=bomb)


def test_script_in_names_is_escaped_in_pages_and_forms_need_csrf(
    db: Engine, sessions: sessionmaker[Session], admin: str
) -> None:
    with sessions.begin() as session:
        owner = session.scalars(select(User).where(User.username == "root-admin")).one()
        hostile = builders.customer(session, "<img src=x onerror=alert(1)>王五", owner_id=owner.id)
    browser = browser_for(make_app(db), sessions, owner)
    for path in ("/customers", f"/customers/{hostile.id}", "/"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "<img src=x onerror" not in page.text, path
    for path in (f"/customers/{hostile.id}/follow-up", "/rules/check", "/logout"):
        refused = browser.post(path, {"document": "grades: []"}, csrf=False, htmx=False)
        assert refused.status_code == 403, path


def test_spreadsheet_formulas_in_names_are_defused_in_exports(
    client: TestClient, admin: str, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        builders.customer(session, '=HYPERLINK("http://x","点我")', owner_id=None)
        builders.customer(session, "+cmd|' /C calc'!A0", owner_id=None)
    response = client.get(
        "/api/v1/exports/customers", params={"format": "csv"}, headers=bearer(admin)
    )
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
