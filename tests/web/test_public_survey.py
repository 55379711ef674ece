"""The public survey page /s/{token}: answered once without sign-in, in zh-CN or en, friendly
pages for used, expired and forged links, the form's own checks, and the detractor warning."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role
from patron.db import now
from patron.engagement.models import Task
from patron.rules.refresh import run_queued
from patron.service import csat, surveys
from patron.service.models import SurveyInvitation, SurveyKind, SurveyResponse
from tests import builders

EN = {"Accept-Language": "en-US,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
SCRIPT_NAME = "<script>window.__patron_xss=1</script>王小明"


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _invite(
    app: FastAPI, sessions: sessionmaker[Session], kind: SurveyKind = SurveyKind.nps,
    *, name: str = "李四", questions: list[dict[str, object]] | None = None,
) -> tuple[str, int]:  # fmt: skip
    """A live invitation for a customer owned by an agent: its token and the customer's id."""
    with sessions.begin() as session:
        agent = builders.user(session, role=Role.agent, team="east")
        customer = builders.customer(session, name, owner_id=agent.id)
        if kind is SurveyKind.custom:
            survey = surveys.create_survey(
                session=session, kind=kind, name="Store visit", questions=questions
            )
        else:
            survey = surveys.standard_survey(session=session, kind=kind)
        invitation = surveys.invite(
            session=session, survey=survey, customer_id=customer.id, moment=now()
        )
        token = surveys.token_for(invitation, secret=app.state.settings.secret_key)
        return token, customer.id


def _answer(client: TestClient, token: str, fields: dict[str, str], **headers: str) -> Response:
    """Open the page as a phone would, then post the form with the key it was rendered with."""
    page = client.get(f"/s/{token}", headers=EN)
    assert page.status_code == 200, page.text
    found = FORM_KEY.search(page.text)
    assert found is not None
    data = {"form_key": html.unescape(found.group(1)), **fields}
    return client.post(f"/s/{token}", data=data, headers=EN | headers)


def _responses(sessions: sessionmaker[Session]) -> list[SurveyResponse]:
    with sessions() as session:
        return list(session.scalars(select(SurveyResponse).order_by(SurveyResponse.id)))


def test_an_nps_answer_is_stored_once_and_a_detractor_raises_the_warning(
    client: TestClient, app: FastAPI, db: Engine, sessions: sessionmaker[Session]
) -> None:
    token, customer_id = _invite(app, sessions)
    page = client.get(f"/s/{token}", headers=EN)
    assert page.status_code == 200
    assert "How likely are you to recommend us" in page.text
    assert len(re.findall(r'type="radio" id="q0-\d+"', page.text)) == 11
    assert 'href="/customers"' not in page.text and "Sign out" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    thanks = _answer(client, token, {"q0": "3", "comment": "slow delivery"})
    assert thanks.status_code == 200 and "Thank you for your answer!" in thanks.text
    [stored] = _responses(sessions)
    assert (stored.customer_id, stored.kind, stored.score) == (customer_id, SurveyKind.nps, 3)
    assert stored.comment == "slow delivery"
    assert run_queued(db, worker="tests").done == 1  # the worker's warnings job
    with sessions() as session:
        tasks = session.scalars(
            select(Task).where(Task.customer_id == customer_id, Task.source_rule == "detractor")
        ).all()
    assert len(tasks) == 1
    again = client.post(f"/s/{token}", data={"q0": "10"}, headers=EN)
    assert again.status_code == 410 and "already been answered" in again.text
    assert client.get(f"/s/{token}", headers=EN).status_code == 410
    assert len(_responses(sessions)) == 1


def test_a_promoter_raises_no_warning_and_csat_stars_store_their_score(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions)
    assert _answer(client, token, {"q0": "10"}).status_code == 200
    star_token, _ = _invite(app, sessions, SurveyKind.csat)
    page = client.get(f"/s/{star_token}", headers=EN)
    assert "How satisfied are you with our service?" in page.text and 'class="stars"' in page.text
    assert _answer(client, star_token, {"q0": "4"}).status_code == 200
    assert [(r.kind, r.score) for r in _responses(sessions)] == [
        (SurveyKind.nps, 10), (SurveyKind.csat, 4),
    ]  # fmt: skip
    with sessions() as session:
        assert session.scalars(select(Task).where(Task.source_rule == "detractor")).all() == []


def test_the_page_speaks_chinese_or_english(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions)
    chinese = client.get(f"/s/{token}", headers=ZH)
    assert '<html lang="zh-CN">' in chinese.text
    assert "您有多大可能向朋友或同事推荐我们？" in chinese.text and "提交" in chinese.text
    english = client.get(f"/s/{token}", headers=EN)
    assert '<html lang="en">' in english.text and "Send my answer" in english.text
    chosen = client.get(f"/s/{token}?lang=en", headers=ZH)
    assert "Send my answer" in chosen.text and f'action="/s/{token}?lang=en"' in chosen.text
    found = FORM_KEY.search(chosen.text)
    assert found is not None
    thanks = client.post(
        f"/s/{token}?lang=zh-CN", data={"q0": "9", "form_key": found.group(1)}, headers=EN
    )
    assert thanks.status_code == 200 and "感谢您的回答" in thanks.text


def test_expired_and_forged_links_show_friendly_pages_in_both_languages(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions)
    with sessions.begin() as session:
        session.execute(update(SurveyInvitation).values(expires_at=now() - timedelta(minutes=1)))
    expired = client.get(f"/s/{token}", headers=EN)
    assert expired.status_code == 410 and "This survey link has expired." in expired.text
    assert 'name="form_key"' not in expired.text
    chinese = client.get(f"/s/{token}", headers=ZH)
    assert chinese.status_code == 410 and "此问卷链接已过期" in chinese.text
    forged = client.get(f"/s/{token[:-3]}abc", headers=EN)
    assert forged.status_code == 404 and "not valid" in forged.text
    assert client.get("/s/not-a-token", headers=ZH).status_code == 404
    assert "链接无效" in client.get("/s/not-a-token", headers=ZH).text
    posted = client.post(f"/s/{token[:-3]}abc", data={"q0": "9"}, headers=EN)
    assert posted.status_code == 404 and _responses(sessions) == []


def test_a_script_in_the_customer_name_is_shown_as_text(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions, name=SCRIPT_NAME)
    page = client.get(f"/s/{token}", headers=EN)
    assert "<script>window.__patron_xss" not in page.text
    assert "&lt;script&gt;window.__patron_xss=1&lt;/script&gt;王小明" in page.text


def test_a_missing_score_shows_the_form_again_with_the_comment_kept(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions)
    refused = _answer(client, token, {"comment": "<b>kept</b>"})
    assert refused.status_code == 422 and "Please answer this question." in refused.text
    assert "&lt;b&gt;kept&lt;/b&gt;" in refused.text and _responses(sessions) == []
    out_of_range = _answer(client, token, {"q0": "11"})
    assert out_of_range.status_code == 422 and _responses(sessions) == []
    assert _answer(client, token, {"q0": "8"}).status_code == 200


def test_posts_from_another_site_or_without_the_rendered_key_are_refused(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    token, _ = _invite(app, sessions)
    cross = _answer(client, token, {"q0": "1"}, **{"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "send it from this page" in cross.text
    other = _answer(client, token, {"q0": "1"}, Origin="https://evil.example")
    assert other.status_code == 403
    keyless = client.post(f"/s/{token}", data={"q0": "1"}, headers=EN)
    assert keyless.status_code == 400 and 'name="form_key"' in keyless.text
    other_token, _ = _invite(app, sessions)
    found = FORM_KEY.search(client.get(f"/s/{other_token}", headers=EN).text)
    assert found is not None
    borrowed = client.post(f"/s/{token}", data={"q0": "1", "form_key": found.group(1)}, headers=EN)
    assert borrowed.status_code == 400 and _responses(sessions) == []
    own = _answer(client, token, {"q0": "1"}, Origin="http://testserver")
    assert own.status_code == 200 and len(_responses(sessions)) == 1


def test_a_custom_questionnaire_is_answered_through_the_page(
    client: TestClient, app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    questions: list[dict[str, object]] = [
        {"id": "staff", "type": "scale", "min": 1, "max": 3, "text": "店员态度", "required": True},
        {"id": "found", "type": "choice", "options": ["是", "否"], "text": "找到想要的商品了吗？"},
        {"id": "idea", "type": "text", "text": "<i>建议</i>"},
    ]
    token, _ = _invite(app, sessions, SurveyKind.custom, questions=questions)
    page = client.get(f"/s/{token}", headers=ZH)
    assert "店员态度" in page.text and "&lt;i&gt;建议&lt;/i&gt;" in page.text
    assert _answer(client, token, {"q0": "2", "q1": "否", "q2": "更多尺码"}).status_code == 200
    [stored] = _responses(sessions)
    assert stored.score is None
    assert stored.answers == {"staff": 2, "found": "否", "idea": "更多尺码"}


def test_the_invitation_email_links_to_the_page(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        customer = builders.customer(session, "王五")
        survey = surveys.standard_survey(session=session, kind=SurveyKind.csat)
        invitation = surveys.invite(
            session=session, survey=survey, customer_id=customer.id, moment=now()
        )
        link = csat.survey_link(invitation)
    assert re.fullmatch(r"https?://[^/]+/s/[\w.-]+", link)
