"""The reports page through the app (no browser), per role, on SQLite and PostgreSQL: KPIs by
period, breakdowns and cohorts over the customers each role may see, and the XLSX export."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from tests import builders
from tests.api.conftest import World, bearer, build_world

QUERY = "unit=month&count=3&to=2026-03-15"


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    """The agent's customer bought in February and March (100 each), the west agent's in
    March (500), a pool customer in January (40)."""
    built = build_world(sessions)
    with sessions.begin() as session:
        own = built.customer(session, "own", "张三", grade="A")
        other = built.customer(session, "other", "赵敏", grade="B")
        pool = built.customer(session, "pool", "钱七", grade="C")
        builders.order(session, own, "100.00", datetime(2026, 2, 10, 10), channel="web")
        builders.order(session, own, "100.00", datetime(2026, 3, 5, 10), channel="web")
        builders.order(session, other, "500.00", datetime(2026, 3, 6, 10), channel="store")
        builders.order(session, pool, "40.00", datetime(2026, 1, 20, 10), channel="app")
    return built


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(
        app, base_url="http://testserver", follow_redirects=False, headers={"Accept-Language": "en"}
    )


def _cell(fragment: str, period: str, kpi: str) -> str:
    row = re.search(rf'data-period="{period}">(.*?)</tr>', fragment, re.S)
    assert row is not None, fragment
    value = re.search(rf'data-kpi="{kpi}">([^<]*)<', row.group(1))
    assert value is not None
    return value.group(1).strip()


@pytest.mark.parametrize(
    ("role", "active", "revenue", "owners"),
    [
        ("admin", "2", "600.00", {"agent", "other_agent"}),
        ("analyst", "2", "600.00", {"agent", "other_agent"}),
        ("manager", "1", "100.00", {"agent"}),
        ("agent", "1", "100.00", {"agent"}),
    ],
)
def test_each_role_sees_figures_over_its_own_customers(
    client: TestClient, world: World, role: str, active: str, revenue: str, owners: set[str]
) -> None:
    headers = bearer(world.tokens[role])
    page = client.get(f"/reports?{QUERY}", headers=headers)
    assert page.status_code == 200
    assert f"/reports/periods?{QUERY}" in html.unescape(page.text)
    periods = client.get(f"/reports/periods?{QUERY}", headers=headers).text
    assert re.findall(r'data-period="([^"]+)"', periods) == ["2026-01", "2026-02", "2026-03"]
    assert _cell(periods, "2026-03", "active_customers") == active
    assert _cell(periods, "2026-03", "revenue") == revenue
    by_owner = client.get(f"/reports/breakdown/owner?{QUERY}", headers=headers).text
    assert set(re.findall(r'data-key="([a-z_]+)"', by_owner)) == owners
    by_grade = client.get(f"/reports/breakdown/grade?{QUERY}", headers=headers).text
    assert ('data-key="B"' in by_grade) is (role in ("admin", "analyst"))


def test_period_over_period_change_and_quarters(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["admin"])
    periods = client.get(f"/reports/periods?{QUERY}", headers=headers).text
    march = re.search(r'data-period="2026-03">(.*?)</tr>', periods, re.S)
    assert march is not None and "+500.0" in march.group(1)  # revenue 100 -> 600
    quarters = client.get("/reports/periods?unit=quarter&count=2&to=2026-03-31", headers=headers)
    assert re.findall(r'data-period="([^"]+)"', quarters.text) == ["2025-Q4", "2026-Q1"]
    assert _cell(quarters.text, "2026-Q1", "revenue") == "740.00"


def test_cohorts_count_first_purchases_by_month(client: TestClient, world: World) -> None:
    admin = client.get("/reports/cohorts?to=2026-03-15", headers=bearer(world.tokens["admin"]))
    assert re.findall(r'data-cohort="([^"]+)"', admin.text) == ["2026-01", "2026-02", "2026-03"]
    agent = client.get("/reports/cohorts?to=2026-03-15", headers=bearer(world.tokens["agent"]))
    # The agent's own customer first bought in February and again in March; the pool's in January.
    assert re.findall(r'data-cohort="([^"]+)"', agent.text) == ["2026-01", "2026-02"]
    february = re.search(r'data-cohort="2026-02">(.*?)</tr>', agent.text, re.S)
    assert february is not None and re.findall(r">(\d+)%<", february.group(1)) == ["100", "100"]


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_the_export_reads_back_with_openpyxl(client: TestClient, world: World, role: str) -> None:
    answer = client.get(f"/reports/export.xlsx?{QUERY}", headers=bearer(world.tokens[role]))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    assert book.sheetnames == [
        "KPIs by period", "By grade", "By segment", "By channel", "By owner", "Cohorts",
    ]  # fmt: skip
    periods = list(book["KPIs by period"].iter_rows(values_only=True))
    assert periods[0][:3] == ("Period", "Active customers", "New customers")
    assert [row[0] for row in periods[1:]] == ["2026-01", "2026-02", "2026-03"]
    revenue = periods[0].index("Revenue")
    assert periods[3][revenue] == (600.0 if role == "admin" else 100.0)
    owners = {row[0] for row in list(book["By owner"].iter_rows(values_only=True))[1:]}
    assert owners == ({"agent", "other_agent"} if role == "admin" else {"agent"})


def test_bad_choices_are_refused_plainly(client: TestClient, world: World) -> None:
    headers = bearer(world.tokens["admin"])
    assert "not a report period" in client.get("/reports?unit=week", headers=headers).text
    assert "not a date" in client.get("/reports/periods?to=yesterday", headers=headers).text
    assert "cannot break KPIs down" in client.get("/reports/breakdown/city", headers=headers).text
    assert client.get("/reports?count=99", headers=headers).status_code == 422


def _heatmap(client: TestClient, token: str, language: str = "en") -> dict[str, Any]:
    answer = client.get(
        "/dashboard/cohorts?to=2026-03-15",
        headers={**bearer(token), "Accept-Language": language},
    )
    assert answer.status_code == 200
    found = re.search(
        r'<script type="application/json" id="cohort-data">(.*?)</script>', answer.text
    )
    assert found is not None, answer.text
    return dict(json.loads(html.unescape(found.group(1))))


def test_the_dashboard_heatmap_draws_the_cohort_table_per_role(
    client: TestClient, world: World
) -> None:
    admin = _heatmap(client, world.tokens["admin"])["heatmap"]
    assert admin["cohorts"] == ["2026-01", "2026-02", "2026-03"]
    assert admin["sizes"] == [1, 1, 1]
    # [months after, cohort row, percent]: the pool's January buyer never came back, the
    # agent's February buyer bought again in March.
    assert admin["cells"] == [[0, 0, 100.0], [1, 0, 0.0], [2, 0, 0.0], [0, 1, 100.0],
                              [1, 1, 100.0], [0, 2, 100.0]]  # fmt: skip
    agent = _heatmap(client, world.tokens["agent"], "zh-CN")
    assert agent["heatmap"]["cohorts"] == ["2026-01", "2026-02"]
    assert agent["labels"]["cohort"] == "首购月份"
    page = client.get("/?to=2026-03-15", headers=bearer(world.tokens["agent"]))
    assert "/dashboard/cohorts?to=2026-03-15" in page.text
