"""The pages in a real chromium: sign-in per role, record rules, masking, follow-ups from the
dashboard, the rulebook editor, the language switch, escaping, and screenshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from patron.customers.models import Customer
from patron.db import create_db_engine, now, session_factory
from patron.engagement.models import Task
from patron.service.models import TicketStatus
from tests import builders
from tests.web.conftest import (
    ROLES,
    SCRIPT_NAME,
    Server,
    new_page,
    screenshot,
    sign_in,
    signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "analyst"])
def test_each_role_signs_in_and_out(browser: Browser, server: Server, role: str) -> None:
    page = new_page(browser, server)
    page.goto("/customers")
    expect(page).to_have_url(f"{server.base_url}/login?next=/customers")
    sign_in(page, role)
    expect(page).to_have_url(f"{server.base_url}/customers")
    expect(page.get_by_test_id("who")).to_contain_text(ROLES[role])
    expect(page.locator("nav.nav a[href='/rules']")).to_have_count(0 if role == "agent" else 1)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.base_url}/login")
    page.goto("/")
    expect(page).to_have_url(f"{server.base_url}/login?next=/")


def test_wrong_password_is_refused(browser: Browser, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/login")
    page.fill("input[name=username]", ROLES["agent"])
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")


def test_an_agent_cannot_see_another_agents_customers(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "agent")
    page.goto(f"/customers?q={server.demo.other_agents_name}")
    expect(page.locator("#customers tbody")).to_contain_text("No customer matches")
    page.goto("/customers")
    owners = page.locator("#customers tbody td:last-child").all_inner_texts()
    assert owners and set(owners) <= {ROLES["agent"], "pool"}
    response = page.goto(f"/customers/{server.demo.other_agents_customer}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("no customer with id")
    response = page.goto(f"/customers/{server.demo.zhang_san}")
    assert response is not None and response.status == 200
    # Her own customer: the agent sees the phone in full.
    expect(page.locator("dd.phone")).to_have_text("+8613800138000")


def test_an_analyst_sees_masked_phones(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "analyst")
    page.goto("/customers")
    page.fill("input[name=q]", "zs")
    page.get_by_role("button", name="Filter").click()
    row = page.locator(f"#customers tr[data-customer='{server.demo.zhang_san}']")
    expect(row).to_contain_text("张三")
    expect(row.locator("td.phone")).to_have_text("138****8000")
    row.get_by_role("link", name="张三").click()
    expect(page.locator("dd.phone")).to_have_text("138****8000")
    expect(page.get_by_text("Personal data is masked for your role.")).to_be_visible()


def test_a_follow_up_is_created_from_a_dashboard_warning(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "agent")
    page.goto("/")
    row = page.locator(f"#at-risk tr[data-customer='{server.demo.script_customer}']")
    expect(row).to_contain_text("High churn risk")
    row.get_by_role("button", name="Create follow-up").click()
    expect(row.get_by_role("status")).to_contain_text("Follow-up created")
    engine = create_db_engine(server.db_url)
    with session_factory(engine)() as session:
        task = session.scalars(
            select(Task).where(Task.customer_id == server.demo.script_customer)
        ).one()
    engine.dispose()
    assert task.assignee_id == server.demo.user_ids["agent"]
    assert task.source_rule == "high_churn_risk"
    page.goto(f"/customers/{server.demo.script_customer}")
    expect(page.locator("#tasks")).to_contain_text("high_churn_risk")


def test_script_in_a_name_is_shown_as_text(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "agent")
    for path in ("/", "/customers?q=王小明", f"/customers/{server.demo.script_customer}"):
        page.goto(path)
        expect(page.get_by_text(SCRIPT_NAME).first).to_be_visible()
        assert page.evaluate("typeof window.__patron_xss") == "undefined"


def test_editing_a_rule_shows_its_dry_run_and_backtest(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "admin")
    page.goto("/rules")
    page.fill("#expression", "recency_days > 90 AND nonsense_feature < 2")
    expect(page.locator("#check-result")).to_contain_text("nonsense_feature")
    page.fill("#expression", "recency_days > 90")
    expect(page.locator("#check-result")).to_contain_text("Valid")
    document = page.input_value("#document")
    # Grade A for the top 60% by CLV instead of 20%: the dry-run must show B and C moving up.
    edited = document.replace(
        "quantile: {score: clv, top: 0.2}", "quantile: {score: clv, top: 0.6}"
    )
    assert edited != document, "the default rulebook's grade A rule changed shape"
    page.fill("#document", edited)
    page.get_by_role("button", name="Dry-run").click()
    result = page.get_by_test_id("dry-run")
    expect(result.locator("tr.changed").first).to_be_visible()
    expect(result).to_contain_text("would change")
    page.get_by_role("button", name="Backtest").click()
    backtest = page.get_by_test_id("backtest")
    expect(backtest).to_contain_text("precision")
    expect(backtest.locator("tbody tr").first).to_be_visible()
    screenshot(page, "rules")
    page.fill("input[name=note]", "grade A for every buyer")
    page.get_by_role("button", name="Apply as new version").click()
    expect(page.get_by_role("status")).to_contain_text("Applied as version 1")
    expect(page.get_by_test_id("version")).to_contain_text("1")
    expect(page.locator("#history")).to_contain_text("grade A for every buyer")


def test_a_manager_reads_the_rulebook_but_cannot_apply(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "manager")
    page.goto("/rules")
    expect(page.get_by_role("button", name="Dry-run")).to_be_visible()
    expect(page.get_by_role("button", name="Apply as new version")).to_have_count(0)


def test_switching_language_changes_the_page(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "admin", locale="en-US")
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.get_by_role("link", name="中文").click()
    expect(page.locator("h1")).to_have_text("仪表盘")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.goto("/customers")
    expect(page.locator("h1")).to_have_text("客户")
    page.get_by_role("link", name="EN").click()
    expect(page.locator("h1")).to_have_text("Customers")


def test_the_browser_language_is_the_default(browser: Browser, server: Server) -> None:
    page = new_page(browser, server, locale="zh-CN")
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("登录")


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "analyst"])
def test_the_trend_charts_render_for_each_role(browser: Browser, server: Server, role: str) -> None:
    page = signed_in(browser, server, role)
    page.goto("/")
    expect(page.locator("#chart-warnings svg")).to_be_visible()
    expect(page.locator("#chart-satisfaction svg")).to_be_visible()
    expect(page.locator("#chart-satisfaction svg")).to_contain_text("NPS")
    # Stacked by severity instead of by warning: the legend names the severities.
    page.select_option("#warnings-by", "severity")
    expect(page.locator("#chart-warnings svg")).to_contain_text("High")


def test_screenshots_of_every_main_page(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "admin")
    page.goto("/")
    expect(page.locator("#chart-rfm svg")).to_be_visible()
    expect(page.locator("#chart-warnings svg")).to_be_visible()
    expect(page.locator(".kpi")).to_have_count(6)
    screenshot(page, "dashboard")
    page.goto("/customers")
    screenshot(page, "customers")
    _open_ticket(server, server.demo.scored_customer, "茶叶受潮，申请换货")
    page.goto(f"/customers/{server.demo.scored_customer}")
    # Why: the rule behind the grade and stage, with the feature values it read.
    why = page.get_by_test_id("why")
    expect(why).to_contain_text("Grade ← rule")
    expect(why).to_contain_text("Stage ← rule")
    expect(why).to_contain_text("Warning")
    expect(page.locator("text=Main drivers")).to_be_visible()
    # The next best action, what to expect and offer, points, tickets and the timeline.
    expect(page.get_by_test_id("next-action")).to_contain_text("Follow up on the warnings")
    expect(page.locator("#next-purchase")).to_contain_text("Expected around")
    expect(page.locator("#offers .tag").first).to_be_visible()
    expect(page.get_by_test_id("balance")).to_contain_text("points")
    expect(page.locator("#tickets")).to_contain_text("茶叶受潮，申请换货")
    expect(page.locator("#tickets")).to_contain_text("Resolution due")
    entries = page.locator("#timeline article.item")
    expect(entries).to_have_count(10)
    page.locator("#timeline-more button").click()
    expect(entries.nth(10)).to_be_visible()
    screenshot(page, "customer-360")
    chinese = signed_in(browser, server, "admin", locale="zh-CN")
    chinese.goto(f"/customers/{server.demo.scored_customer}")
    expect(chinese.get_by_test_id("next-action")).to_contain_text("下一步最佳行动")
    screenshot(chinese, "customer-360-zh")
    phone = signed_in(browser, server, "agent", width=390)
    phone.goto("/")
    expect(phone.locator("#chart-grades svg")).to_be_visible()
    # Nothing wider than the phone's screen: the page does not scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "dashboard-phone")
    phone.goto("/login")
    screenshot(phone, "login-phone")


def _open_ticket(server: Server, customer_id: int, subject: str) -> None:
    """An open ticket of the customer, due for resolution in a day, in the server's database."""
    engine = create_db_engine(server.db_url)
    with session_factory(engine).begin() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        builders.ticket(
            session, customer, subject, status=TicketStatus.in_progress, opened_at=now(),
            first_response_at=now(), resolution_due_at=now() + timedelta(days=1),
        )  # fmt: skip
    engine.dispose()
