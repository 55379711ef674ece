"""The work pages in a real chromium: completing a task, moving a ticket (and a refused move),
claiming from the pool up to its limit, the survey charts, adjusting points; screenshots in
both languages and at phone width."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.db import create_db_engine, now, session_factory
from patron.engagement.models import Task, TaskStatus
from patron.loyalty.models import LoyaltyAccount
from patron.pool.models import OwnershipChange
from patron.rules import versions
from patron.service.models import Ticket, TicketKind, TicketStatus
from tests.web.conftest import Server, screenshot, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@contextmanager
def database(server: Server) -> Iterator[Session]:
    """A unit of work on the server's database, to arrange a case or check its outcome."""
    engine = create_db_engine(server.db_url)
    try:
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _late_task(server: Server, title: str) -> int:
    with database(server) as session:
        task = Task(
            customer_id=server.demo.zhang_san, assignee_id=server.demo.user_ids["agent"],
            kind="follow_up", title=title, status=TaskStatus.open,
            due_at=now() - timedelta(days=1),
        )  # fmt: skip
        session.add(task)
        session.flush()
        return task.id


def _new_ticket(server: Server, subject: str) -> int:
    moment = now()
    with database(server) as session:
        ticket = Ticket(
            customer_id=server.demo.zhang_san, kind=TicketKind.aftersale, subject=subject,
            opened_at=moment, status=TicketStatus.new,
            response_due_at=moment + timedelta(hours=2),
            resolution_due_at=moment + timedelta(hours=30),
        )  # fmt: skip
        session.add(ticket)
        session.flush()
        return ticket.id


def test_an_agent_completes_a_task_from_the_inbox(browser: Browser, server: Server) -> None:
    task_id = _late_task(server, "回访张三：确认退货")
    page = signed_in(browser, server, "agent")
    page.goto("/tasks")
    card = page.locator(f"#task-{task_id}")
    expect(page.locator("#overdue")).to_contain_text("回访张三：确认退货")
    card.get_by_text("Act on it").click()
    card.get_by_role("button", name="Complete").click()
    expect(card.get_by_role("alert")).to_contain_text("say what came of the task")
    card.get_by_text("Act on it").click()
    card.get_by_placeholder("What came of it?").fill("客户同意换货")
    card.get_by_label("Contact").select_option("wechat")
    card.get_by_role("button", name="Complete").click()
    expect(card.get_by_role("status")).to_contain_text("Completed")
    with database(server) as session:
        task = session.get(Task, task_id)
        assert task is not None and task.status is TaskStatus.done
        assert task.outcome == "客户同意换货"
    screenshot(page, "tasks")


def test_a_ticket_moves_on_the_board_and_a_wrong_move_is_refused(
    browser: Browser, server: Server
) -> None:
    ticket_id = _new_ticket(server, "耳机左声道无声")
    page = signed_in(browser, server, "agent")
    page.goto("/tickets")
    card = page.locator(f"#ticket-{ticket_id}")
    expect(page.locator(".lane[data-status='new']")).to_contain_text("耳机左声道无声")
    expect(card.locator(".sla")).to_contain_text("left")
    card.get_by_role("button", name="→ In progress").click()
    lane = page.locator(".lane[data-status='in_progress']")
    expect(lane.locator(f"#ticket-{ticket_id}").get_by_role("status")).to_contain_text(
        "Moved to In progress"
    )
    # Dragging it straight to Closed skips resolving it: the board says what it allows.
    # Picked up by its title: a drag cannot start on one of the card's buttons.
    lane.locator(f"#ticket-{ticket_id}").drag_to(
        page.locator(".lane[data-status='closed']"), source_position={"x": 12, "y": 12}
    )
    refused = page.locator(f"#ticket-{ticket_id}").get_by_role("alert")
    expect(refused).to_contain_text("a ticket cannot go from 'in_progress' to 'closed'")
    expect(refused).to_contain_text("it may go to: resolved, waiting_for_customer")
    with database(server) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.in_progress
    screenshot(page, "tickets")


def _claimable(server: Server, count: int) -> list[int]:
    """Pool customers the demo agent never owned (a former owner must wait to claim)."""
    agent = server.demo.user_ids["agent"]
    with database(server) as session:
        former = select(OwnershipChange.customer_id).where(OwnershipChange.from_owner_id == agent)
        ids = session.scalars(
            select(Customer.id)
            .where(Customer.owner_id.is_(None), Customer.id.not_in(former))
            .order_by(Customer.id)
            .limit(count)
        ).all()
        _, text = versions.active_text(session.connection())
        limited = text.replace("max_claims_per_day: 20", "max_claims_per_day: 1")
        assert limited != text, "the default rulebook's claim limit changed shape"
        versions.apply(session.connection(), limited, note="one claim a day, for the test")
    assert len(ids) == count
    return list(ids)


def test_claiming_from_the_pool_stops_at_the_daily_limit(browser: Browser, server: Server) -> None:
    first, second = _claimable(server, 2)
    page = signed_in(browser, server, "agent")
    page.goto("/pool")
    expect(page.get_by_test_id("standing")).to_contain_text("claimed today 0 / 1")
    page.locator(f"#pool-{first}").get_by_role("button", name="Claim").click()
    expect(page.locator(f"#pool-{first}").get_by_role("status")).to_contain_text(
        "this customer is now yours"
    )
    expect(page.get_by_test_id("standing")).to_contain_text("claimed today 1 / 1")
    page.locator(f"#pool-{second}").get_by_role("button", name="Claim").click()
    expect(page.locator(f"#pool-{second}").get_by_role("alert")).to_contain_text(
        "the most allowed (max_claims_per_day: 1); try again tomorrow"
    )
    with database(server) as session:
        assert session.get(Customer, first).owner_id == server.demo.user_ids["agent"]  # type: ignore[union-attr]
        assert session.get(Customer, second).owner_id is None  # type: ignore[union-attr]
    screenshot(page, "pool")


@pytest.mark.parametrize(("locale", "title"), [("en-US", "NPS by month"), ("zh-CN", "每月 NPS")])
def test_survey_results_draw_their_charts(
    browser: Browser, server: Server, locale: str, title: str
) -> None:
    page = signed_in(browser, server, "analyst", locale=locale)
    page.goto("/surveys")
    expect(page.get_by_text(title)).to_be_visible()
    expect(page.locator("#chart-nps svg")).to_be_visible()
    expect(page.locator("#chart-csat svg")).to_be_visible()
    expect(page.locator("#answers tbody tr").first).to_be_visible()
    assert page.locator("#survey-months tbody tr").count() == 12
    screenshot(page, f"surveys-{locale[:2]}")


def test_an_admin_adjusts_points_and_an_agent_may_not(browser: Browser, server: Server) -> None:
    customer_id = server.demo.zhang_san
    page = signed_in(browser, server, "admin")
    page.goto(f"/loyalty/{customer_id}")
    page.get_by_label("Points (negative to deduct)").fill("-5")
    page.get_by_label("Reason").fill("测试扣减")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_role("alert")).to_contain_text("would make it negative")
    page.get_by_label("Points (negative to deduct)").fill("120")
    page.get_by_label("Reason").fill("生日礼遇")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_role("status")).to_contain_text("Adjusted by +120")
    expect(page.get_by_test_id("balance")).to_contain_text("120")
    expect(page.locator("#ledger tbody tr").first).to_contain_text("生日礼遇")
    with database(server) as session:
        account = session.get(LoyaltyAccount, customer_id)
        assert account is not None and account.balance == 120
    screenshot(page, "loyalty-account")
    page.goto("/loyalty")
    expect(page.locator("#accounts tbody tr").first).to_be_visible()
    screenshot(page, "loyalty")
    agent = signed_in(browser, server, "agent")
    agent.goto(f"/loyalty/{customer_id}")
    expect(agent.get_by_test_id("balance")).to_contain_text("120")
    expect(agent.get_by_role("button", name="Adjust")).to_have_count(0)


def _fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_work_pages_in_chinese_and_at_phone_width(browser: Browser, server: Server) -> None:
    _late_task(server, "电话回访：新品推荐")
    chinese = signed_in(browser, server, "agent", locale="zh-CN")
    headings = {"tasks": "任务", "tickets": "工单", "pool": "公海", "loyalty": "会员积分账户"}
    for name, heading in headings.items():
        chinese.goto(f"/{name}")
        expect(chinese.locator("h1")).to_have_text(heading)
        screenshot(chinese, f"{name}-zh")
    phone = signed_in(browser, server, "agent", width=390)
    for path in ("/tasks", "/tickets", "/pool", "/surveys", "/loyalty"):
        phone.goto(path)
        expect(phone.locator("h1")).to_be_visible()
        _fits_the_phone(phone)
        screenshot(phone, f"{path.strip('/')}-phone")
