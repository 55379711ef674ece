"""The public survey page a customer opens from an invitation: /s/{token}, no sign-in.

The signed, single-use token in the address is the authority: it names one invitation and
stops working once answered or expired (`patron.service.surveys`). The form also carries a
per-render key, signed and bound to that token, and a post another site makes is refused
(Sec-Fetch-Site / Origin): no cookie is needed, so in-app phone browsers that drop cookies
still work. Every answer page says no-referrer, so the token never leaks to another site.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from patron.api.deps import SessionDep, SettingsDep
from patron.config import Settings
from patron.customers.models import Customer
from patron.db import now
from patron.errors import InvalidInput
from patron.notify.settings import get_notify_settings
from patron.rules.refresh import request_refresh
from patron.service import surveys
from patron.service.models import Survey, SurveyInvitation, SurveyKind, Ticket
from patron.web.i18n import DEFAULT_LOCALE, html_lang, known, request_locale, translator
from patron.web.pages.base import PageRoute, context, environment

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FORM_SALT = "patron.survey-form"
FORM_MAX_AGE = 24 * 3600  # a page left open longer asks to send again, keeping the answers
MAX_TEXT = 2000
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
}


def _(text: str) -> str:
    """Marks a text for the catalogs; the template translates it when the page renders."""
    return text


# The stored standard questions are Chinese; shown translated in the visitor's language.
STANDARD_TEXT = {
    SurveyKind.csat: _("How satisfied are you with our service?"),
    SurveyKind.nps: _("How likely are you to recommend us to a friend or colleague?"),
}
GONE = {
    "survey_used": _("This survey has already been answered. Thank you!"),
    "survey_expired": _("This survey link has expired."),
}
Lang = Annotated[str, Query(max_length=8)]


def _locale(request: Request, lang: str) -> str:
    return known(lang) or request_locale(request)


def _page(
    request: Request, template: str, locale: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """A survey template in the visitor's language, without any signed-in navigation."""
    chosen = {"locale": locale, "lang": html_lang(locale), "_": translator(locale)}
    body = environment.get_template(template).render(context(request, None, **chosen, **values))
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _gone(request: Request, locale: str, exc: Exception) -> HTMLResponse:
    """The friendly page for a used or expired link (410) or one that is not ours (404)."""
    if isinstance(exc, surveys.SurveyTokenGone):
        return _page(request, "survey_gone.html", locale, 410, message=GONE[exc.code])
    message = _("This survey link is not valid. Please check that it was copied whole.")
    return _page(request, "survey_gone.html", locale, 404, message=message)


def _form_key(token: str, settings: Settings) -> str:
    """A key for one render of the form, signed and bound to this token."""
    signer = URLSafeTimedSerializer(settings.secret_key, salt=FORM_SALT)
    return str(signer.dumps(hashlib.sha256(token.encode()).hexdigest()[:32]))


def _form_key_valid(token: str, submitted: str, settings: Settings) -> bool:
    signer = URLSafeTimedSerializer(settings.secret_key, salt=FORM_SALT)
    try:
        bound = signer.loads(submitted, max_age=FORM_MAX_AGE)
    except BadSignature:
        return False
    return bool(bound == hashlib.sha256(token.encode()).hexdigest()[:32])


def _same_site(request: Request) -> bool:
    """Whether the post comes from this server's own page, not a form on another site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    ours = {request.headers.get("host", ""), urlsplit(get_notify_settings().public_url).netloc}
    return urlsplit(origin).netloc in ours


def _questions(survey: Survey, locale: str) -> list[dict[str, Any]]:
    """The questions as the form shows them, each with its field name.

    A CSAT or NPS score is the standard scale with the standard wording in the visitor's
    language, whatever shape the stored question has (older and demo surveys differ)."""
    shown = []
    for index, question in enumerate(survey.questions):
        tidy = {"type": "text", **question, "field": f"q{index}"}
        tidy["text"] = str(question.get("text") or question.get("id", ""))
        if survey.kind in STANDARD_TEXT and question.get("id") == "score":
            low, high = surveys.SCALES[survey.kind]
            text = translator(locale)(STANDARD_TEXT[survey.kind])
            tidy |= {"type": "scale", "min": low, "max": high, "required": True, "text": text}
        shown.append(tidy)
    return shown


def _show(
    request: Request, session: SessionDep, settings: Settings, token: str, locale: str,
    invitation: SurveyInvitation, survey: Survey, *, status: int = 200,
    values: dict[str, str] | None = None, problems: dict[str, str] | None = None,
    message: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """The survey form, with the visitor's earlier values and what to fix when re-shown."""
    customer = session.get(Customer, invitation.customer_id)
    ticket = session.get(Ticket, invitation.ticket_id) if invitation.ticket_id else None
    # A language picked with ?lang= stays picked for the answer's page.
    chosen = f"?lang={html_lang(locale)}" if request.query_params.get("lang") else ""
    return _page(
        request, "survey.html", locale, status, survey=survey, ticket=ticket,
        questions=_questions(survey, locale), customer_name=customer.name if customer else "",
        expires=invitation.expires_at, form_key=_form_key(token, settings),
        action=f"/s/{token}{chosen}", values=values or {}, problems=problems or {},
        message=message,
    )  # fmt: skip


@router.get("/s/{token}")
def survey_page(
    request: Request, session: SessionDep, settings: SettingsDep, token: str, lang: Lang = ""
) -> Response:
    """The survey a customer's link invites to, in their language; 410/404 pages otherwise."""
    locale = _locale(request, lang)
    try:
        invitation, survey = surveys.open_invitation(
            session=session, token=token, secret=settings.secret_key, moment=now()
        )
    except (surveys.SurveyTokenGone, surveys.SurveyTokenInvalid) as exc:
        return _gone(request, locale, exc)
    return _show(request, session, settings, token, locale, invitation, survey)


async def posted_form(request: Request) -> dict[str, str]:
    """The submitted form's text fields (read before the sync handler runs)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _read_answers(survey: Survey, form: dict[str, str]) -> tuple[surveys.Answer, dict[str, str]]:
    """The answer the form holds and, per field, what the visitor still has to fix."""
    problems: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for question in _questions(survey, DEFAULT_LOCALE):
        field = question["field"]
        raw = form.get(field, "").strip()
        if not raw:
            if question.get("required"):
                problems[field] = _("Please answer this question.")
            continue
        if question["type"] == "scale":
            try:
                answers[question["id"]] = int(raw)
            except ValueError:
                problems[field] = _("Please pick one of the numbers.")
        elif len(raw) > MAX_TEXT:
            problems[field] = _("Please keep the answer under 2000 characters.")
        else:
            answers[question["id"]] = raw
    comment = form.get("comment", "").strip()
    if len(comment) > MAX_TEXT:
        problems["comment"] = _("Please keep the answer under 2000 characters.")
    score = answers.pop("score", None) if survey.kind in surveys.SCALES else None
    return surveys.Answer(score=score, answers=answers, comment=comment), problems


@router.post("/s/{token}")
def answer_page(
    request: Request, session: SessionDep, settings: SettingsDep, token: str,
    form: Annotated[dict[str, str], Depends(posted_form)], lang: Lang = "",
) -> Response:  # fmt: skip
    """Store the answer once and thank the customer; a detractor raises its warning."""
    locale = _locale(request, lang)
    try:
        invitation, survey = surveys.open_invitation(
            session=session, token=token, secret=settings.secret_key, moment=now()
        )
    except (surveys.SurveyTokenGone, surveys.SurveyTokenInvalid) as exc:
        return _gone(request, locale, exc)
    shown = (request, session, settings, token, locale, invitation, survey)
    if not _same_site(request):
        message = _("Your answer was not saved: please send it from this page.")
        return _show(*shown, status=403, values=form, message=message)
    if not _form_key_valid(token, form.get("form_key", ""), settings):
        message = _("This page was open for a long time: please check your answers and send again.")
        return _show(*shown, status=400, values=form, message=message)
    reply, problems = _read_answers(survey, form)
    if problems:
        message = _("Please check the answers marked below.")
        return _show(*shown, status=422, values=form, problems=problems, message=message)
    try:
        response = surveys.answer(
            session=session, token=token, secret=settings.secret_key, reply=reply, moment=now()
        )
    except surveys.SurveyTokenGone as exc:  # answered in another tab a moment ago
        return _gone(request, locale, exc)
    except InvalidInput as exc:
        return _show(*shown, status=422, values=form, message=exc.message)
    # The worker re-evaluates the warnings after the commit (a detractor raises its warning).
    request_refresh(session, response.customer_id)
    return _page(request, "survey_thanks.html", locale, score=response.score, kind=survey.kind)
