"""GET /api/v1/exports/{kind} and `patron export --user`: only the records the user may see,
personal data masked as the API masks it, headers in the user's language, each export audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.customers.models import Customer
from patron.exports.api import ExportKind
from patron.exports.service import EXPORTS
from tests import builders
from tests.api.conftest import World, app, bearer, client, world
from tests.cli.test_transfer import patron

__all__ = ["app", "client", "world"]

PHONE = "13800138000"


@dataclass(frozen=True)
class Shop:
    """External ids of the agent's, the west agent's and the pool's customer."""

    own: str
    other: str
    pool: str


def _shop(sessions: sessionmaker[Session], world: World) -> Shop:
    users = world.users
    with sessions.begin() as session:
        run = builders.scoring_run(session, finished_at=datetime(2024, 6, 1, 11))
        made = {}
        for record, assignee in (("own", "agent"), ("other", "other_agent"), ("pool", None)):
            customer = world.customer(
                session, record, f"客户{record}", phone=PHONE, email="zhang.san@example.com",
                birthday=date(1990, 6, 15), address="浙江省杭州市西湖区文三路1号",
            )  # fmt: skip
            builders.order(session, customer, "88.00", datetime(2024, 5, 1))
            builders.snapshot(session, run, customer, grade="A", features={"recency_days": 3})
            assignee_id = users[assignee].id if assignee else None
            builders.task(session, customer, f"task {record}", assignee_id=assignee_id)
            builders.ticket(session, customer, f"ticket {record}", assignee_id=assignee_id)
            made[record] = customer.external_id
    return Shop(**made)


def _csv(client: TestClient, world: World, role: str, kind: str, **params: str) -> list[dict]:
    response = client.get(
        f"/api/v1/exports/{kind}", params=params, headers=bearer(world.tokens[role])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_every_export_kind_has_a_route() -> None:
    assert {kind.value for kind in ExportKind} == set(EXPORTS)


def test_an_agent_exports_own_and_pool_customers_masked_but_their_own(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    shop = _shop(sessions, world)
    rows = {
        row["customer_id"]: row for row in _csv(client, world, "agent", "customers", locale="en")
    }
    assert set(rows) == {shop.own, shop.pool}
    assert rows[shop.own]["phone"] == "+8613800138000"
    assert rows[shop.pool]["phone"] == "138****8000"
    assert rows[shop.pool]["email"] == "z***@example.com"
    assert rows[shop.pool]["birthday"] == "****-06-**"
    assert "文三路" not in rows[shop.pool]["address"]


def test_each_kind_holds_only_visible_records(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    shop = _shop(sessions, world)
    ids = lambda role, kind, column: {  # noqa: E731
        row[column] for row in _csv(client, world, role, kind, locale="en")
    }
    assert ids("agent", "orders", "customer_id") == {shop.own, shop.pool}
    assert ids("agent", "scores", "customer_id") == {shop.own, shop.pool}
    assert ids("agent", "tasks", "title") == {"task own"}
    assert ids("other_agent", "tickets", "subject") == {"ticket other"}
    assert ids("manager", "tasks", "title") == {"task own", "task pool"}
    assert ids("analyst", "orders", "customer_id") == {shop.own, shop.other, shop.pool}
    assert ids("admin", "tickets", "subject") == {"ticket own", "ticket other", "ticket pool"}


def test_managers_unmask_on_purpose_and_analysts_cannot(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions, world)
    masked = _csv(client, world, "manager", "customers", locale="en")
    assert {row["phone"] for row in masked} == {"138****8000"}
    plain = _csv(client, world, "manager", "customers", locale="en", unmasked="true")
    assert {row["phone"] for row in plain} == {"+8613800138000"}
    refused = client.get(
        "/api/v1/exports/customers",
        params={"unmasked": "true"},
        headers=bearer(world.tokens["analyst"]),
    )
    assert refused.status_code == 403
    with sessions() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "export.customers")
            .order_by(AuditEntry.id)
        ).all()
    assert [(e.user_id, e.detail["masked"]) for e in entries] == [
        (world.users["manager"].id, True),
        (world.users["manager"].id, False),
    ]


def test_xlsx_in_the_users_language(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    _shop(sessions, world)
    client.cookies.set("patron_lang", "zh_CN")
    response = client.get(
        "/api/v1/exports/orders", params={"format": "xlsx"}, headers=bearer(world.tokens["admin"])
    )
    client.cookies.clear()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("订单号", "客户编号", "下单时间", "金额")
    assert len(rows) == 4
    english = client.get(
        "/api/v1/exports/orders",
        headers=bearer(world.tokens["admin"]) | {"Accept-Language": "en-US,en;q=0.9"},
    )
    assert english.content.decode("utf-8-sig").startswith("order_id,customer_id")


def test_scores_before_any_run_and_unknown_kinds(client: TestClient, world: World) -> None:
    admin = bearer(world.tokens["admin"])
    none_yet = client.get("/api/v1/exports/scores", headers=admin)
    assert none_yet.status_code == 404 and "patron score" in none_yet.json()["detail"]
    assert client.get("/api/v1/exports/invoices", headers=admin).status_code == 422


def test_the_command_line_exports_as_a_user(
    db_url: str, tmp_path: Path, world: World, sessions: sessionmaker[Session]
) -> None:
    shop = _shop(sessions, world)
    out = tmp_path / "mine.csv"
    done = patron(
        "--db", db_url, "export", "customers", str(out), "--user", "agent", "--locale", "en"
    )
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["customer_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {shop.own, shop.pool}
    assert rows[shop.pool]["phone"] == "138****8000"
    everything = patron("--db", db_url, "export", "customers", str(out), "--json")
    assert everything.returncode == 0 and '"rows": 3' in everything.stdout
    unknown = patron("--db", db_url, "export", "customers", str(out), "--user", "nobody")
    assert unknown.returncode == 1 and "no active user named 'nobody'" in unknown.stderr
    with sessions() as session:
        audited = session.scalars(
            select(AuditEntry.user_id).where(AuditEntry.action == "export.customers")
        ).all()
    assert audited == [world.users["agent"].id, None]


def test_score_filters_narrow_an_export_of_customers(
    client: TestClient, world: World, sessions: sessionmaker[Session]
) -> None:
    """The export joins the customers' score rows and the filters read each customer's own
    score: both in one query (the fuzzer's `clv_min=0&churn_max=0` once failed to build)."""
    shop = _shop(sessions, world)
    with sessions.begin() as session:
        own = session.scalars(select(Customer).where(Customer.external_id == shop.own)).one()
        own.set_scores(clv=Decimal("500.00"), churn_risk=0.2)
    rows = _csv(client, world, "admin", "customers", locale="en", clv_min="100", churn_max="0.5")
    assert [row["customer_id"] for row in rows] == [shop.own]
    assert _csv(client, world, "admin", "customers", locale="en", clv_min="0", churn_max="0") == []
