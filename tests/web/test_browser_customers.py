"""The customer list's bulk actions and saved views in a real chromium (HTMX, select-all)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from patron.customers.models import CustomerTag
from patron.db import create_db_engine, session_factory
from tests.web.conftest import Server, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _tagged(server: Server, tag: str) -> int:
    engine = create_db_engine(server.db_url)
    try:
        with session_factory(engine).begin() as session:
            query = select(func.count()).select_from(CustomerTag).where(CustomerTag.tag == tag)
            return session.scalar(query) or 0
    finally:
        engine.dispose()


def test_an_agent_tags_a_whole_page_and_saves_a_view(browser: Browser, server: Server) -> None:
    page = signed_in(browser, server, "agent")
    page.goto("/customers?owner=me")
    rows = page.locator("#customers tbody input[name=ids]")
    shown = rows.count()
    assert shown > 0
    page.locator("#select-page").check()
    expect(rows.first).to_be_checked()
    page.locator("#bulk select[name=action]").select_option("tag")
    page.locator("#bulk input[name=tag]").fill("browser-vip")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("bulk-result")).to_have_text(f"{shown} done, 0 refused")
    assert _tagged(server, "browser-vip") == shown
    page.fill("#saved-views input[name=name]", "mine")
    page.get_by_role("button", name="Save view").click()
    expect(page).to_have_url(f"{server.base_url}/customers?owner=me")
    page.goto("/customers")
    page.locator("#saved-views").get_by_role("link", name="mine").click()
    expect(page).to_have_url(f"{server.base_url}/customers?owner=me")
