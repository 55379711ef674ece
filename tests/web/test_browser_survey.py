"""The public survey page in a real chromium at phone width: a customer answers an NPS survey
without signing in, the answer is stored once, and a detractor's owner gets the follow-up."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from patron.db import create_db_engine, now, session_factory
from patron.engagement.models import Task
from patron.rules.refresh import run_queued
from patron.service import surveys
from patron.service.models import SurveyKind, SurveyResponse
from tests.web.conftest import Server, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PHONE = 390


def _invitation(server: Server) -> str:
    """The token of a fresh NPS invitation for the demo customer 张三, owned by an agent."""
    engine = create_db_engine(server.db_url)
    try:
        with session_factory(engine).begin() as session:
            survey = surveys.standard_survey(session=session, kind=SurveyKind.nps)
            invitation = surveys.invite(
                session=session, survey=survey, customer_id=server.demo.zhang_san, moment=now()
            )
            return surveys.token_for(invitation, secret=server.secret_key)
    finally:
        engine.dispose()


def test_a_customer_answers_an_nps_survey_on_a_phone(browser: Browser, server: Server) -> None:
    token = _invitation(server)
    page = new_page(browser, server, locale="zh-CN", width=PHONE)
    page.goto(f"/s/{token}")
    expect(page.locator("legend").first).to_contain_text("您有多大可能向朋友或同事推荐我们")
    expect(page.get_by_test_id("greeting")).to_contain_text("张三")
    expect(page.locator(".scale label")).to_have_count(11)
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the survey page scrolls sideways at phone width"
    page.locator("label[for=q0-4]").click()
    page.fill("textarea[name=comment]", "送货太慢了")
    screenshot(page, "public-survey-nps-phone-zh")
    page.get_by_role("button", name="提交回答").click()
    expect(page.get_by_test_id("survey-thanks")).to_contain_text("感谢您的回答")
    screenshot(page, "public-survey-thanks-phone-zh")
    page.goto(f"/s/{token}?lang=en")
    expect(page.get_by_test_id("survey-gone")).to_contain_text("already been answered")
    stored, follow_ups = _outcome(server)
    assert [(r.score, r.comment) for r in stored] == [(4, "送货太慢了")]
    assert follow_ups == 1


def _outcome(server: Server) -> tuple[list[SurveyResponse], int]:
    """张三's stored answers and detractor follow-ups once the worker's warnings job has run
    the refresh the answer asked for."""
    engine = create_db_engine(server.db_url)
    try:
        assert run_queued(engine, worker="tests").done == 1
        with session_factory(engine)() as session:
            customer = server.demo.zhang_san
            stored = list(
                session.scalars(
                    select(SurveyResponse).where(SurveyResponse.customer_id == customer)
                )
            )
            follow_ups = session.scalars(
                select(Task).where(Task.customer_id == customer, Task.source_rule == "detractor")
            ).all()
        return stored, len(follow_ups)
    finally:
        engine.dispose()
