"""CSAT, NPS and custom surveys; invitations with signed single-use tokens; answers.

A token is the invitation's id and random nonce signed with the secret key; whether it is
used or expired is kept on the invitation row, so it works exactly once until it expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.errors import InvalidInput, NotFound, PatronError
from patron.service.models import (
    Survey,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
)

SALT = "patron.survey-invitation"
DEFAULT_VALID_DAYS = 14
SCALES = {SurveyKind.csat: (1, 5), SurveyKind.nps: (0, 10)}
QUESTION_TYPES = ("scale", "choice", "text")
STANDARD = {
    SurveyKind.csat: ("服务满意度", "您对本次服务满意吗？(1-5)"),
    SurveyKind.nps: ("推荐意愿 NPS", "您有多大可能向朋友推荐我们？(0-10)"),
}


class SurveyTokenInvalid(PatronError):
    code = "survey_token_invalid"
    status = 400


class SurveyTokenGone(PatronError):
    """A used or expired invitation: the link no longer works."""

    status = 410

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def token_for(invitation: SurveyInvitation, *, secret: str) -> str:
    """The signed token a customer answers with."""
    return str(_serializer(secret).dumps({"i": invitation.id, "n": invitation.nonce}))


def standard_questions(kind: SurveyKind) -> list[dict[str, Any]]:
    """The one score question of a CSAT or NPS survey."""
    low, high = SCALES[kind]
    return [{"id": "score", "type": "scale", "min": low, "max": high, "text": STANDARD[kind][1],
             "required": True}]  # fmt: skip


def check_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse a custom questionnaire whose questions are unusable; return them tidied."""
    if not questions:
        raise InvalidInput("a custom survey needs at least one question")
    ids = [q.get("id") for q in questions]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        raise InvalidInput("every question needs its own non-empty text id")
    for q in questions:
        kind = q.get("type")
        if kind not in QUESTION_TYPES:
            raise InvalidInput(f"question '{q['id']}': type must be one of {QUESTION_TYPES}")
        if kind == "scale" and not (isinstance(q.get("min"), int) and isinstance(q.get("max"), int)
                                    and q["min"] < q["max"]):  # fmt: skip
            raise InvalidInput(f"question '{q['id']}': a scale needs whole numbers min < max")
        if kind == "choice" and not q.get("options"):
            raise InvalidInput(f"question '{q['id']}': a choice needs a list of options")
    return questions


def create_survey(
    *, session: Session, kind: SurveyKind, name: str, questions: list[dict[str, Any]] | None
) -> Survey:
    """A survey: CSAT and NPS get their standard score question; custom ones bring theirs."""
    if kind is SurveyKind.custom:
        chosen = check_questions(questions or [])
    else:
        chosen = standard_questions(kind)
    survey = Survey(kind=kind, name=name, questions=chosen, active=True)
    session.add(survey)
    session.flush()
    return survey


def standard_survey(*, session: Session, kind: SurveyKind) -> Survey:
    """The first active survey of a kind, created with the standard question if none exists."""
    found = session.scalar(
        select(Survey).where(Survey.kind == kind, Survey.active).order_by(Survey.id).limit(1)
    )
    if found is not None:
        return found
    return create_survey(session=session, kind=kind, name=STANDARD[kind][0], questions=None)


def invite(
    *, session: Session, survey: Survey, customer_id: int, moment: datetime,
    valid_days: int = DEFAULT_VALID_DAYS, ticket_id: int | None = None, by: int | None = None,
) -> SurveyInvitation:  # fmt: skip
    """A new invitation for the customer, valid for `valid_days`."""
    if not survey.active:
        raise InvalidInput(f"survey {survey.id} is not active: no new invitations")
    if valid_days < 1:
        raise InvalidInput("an invitation must stay valid for at least one day")
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer with id {customer_id}")
    invitation = SurveyInvitation(
        survey_id=survey.id, customer_id=customer_id, ticket_id=ticket_id,
        nonce=secrets.token_hex(16), expires_at=moment + timedelta(days=valid_days),
        created_by_id=by,
    )  # fmt: skip
    session.add(invitation)
    session.flush()
    return invitation


def open_invitation(
    *, session: Session, token: str, secret: str, moment: datetime, lock: bool = False
) -> tuple[SurveyInvitation, Survey]:
    """The invitation and survey a token names; 400 if forged, 410 if used or expired."""
    try:
        payload = _serializer(secret).loads(token)
        invitation_id, nonce = int(payload["i"]), str(payload["n"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise SurveyTokenInvalid(
            "this survey link is not valid: check it was copied whole"
        ) from exc
    query = select(SurveyInvitation).where(
        SurveyInvitation.id == invitation_id, SurveyInvitation.nonce == nonce
    )
    invitation = session.scalar(query.with_for_update() if lock else query)
    if invitation is None:
        raise SurveyTokenInvalid("this survey link is not valid: check it was copied whole")
    if invitation.used_at is not None:
        raise SurveyTokenGone(
            "this survey has already been answered: thank you", code="survey_used"
        )
    if invitation.expires_at <= moment:
        raise SurveyTokenGone("this survey link has expired", code="survey_expired")
    survey = session.get(Survey, invitation.survey_id)
    assert survey is not None  # a foreign key guarantees it
    return invitation, survey


@dataclass(frozen=True)
class Answer:
    score: int | None
    answers: dict[str, Any]
    comment: str = ""


def _checked_score(survey: Survey, answer: Answer) -> int | None:
    if survey.kind in SCALES:
        low, high = SCALES[survey.kind]
        score = answer.score if answer.score is not None else answer.answers.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= high:
            raise InvalidInput(
                f"a {survey.kind.value.upper()} answer needs a whole score {low}-{high}"
            )
        return score
    return None


def _checked_answers(survey: Survey, answer: Answer) -> dict[str, Any]:
    known = {q["id"]: q for q in survey.questions}
    unknown = sorted(set(answer.answers) - set(known))
    if unknown:
        raise InvalidInput(f"this survey has no question {', '.join(unknown)}")
    for qid, q in known.items():
        value = answer.answers.get(qid)
        if value is None:
            if q.get("required") and not (qid == "score" and answer.score is not None):
                raise InvalidInput(f"question '{qid}' needs an answer")
            continue
        if q["type"] == "scale" and not (isinstance(value, int) and q["min"] <= value <= q["max"]):
            raise InvalidInput(f"question '{qid}' needs a whole number {q['min']}-{q['max']}")
        if q["type"] == "choice" and value not in q.get("options", []):
            raise InvalidInput(f"question '{qid}' needs one of {q.get('options')}")
        if q["type"] == "text" and not isinstance(value, str):
            raise InvalidInput(f"question '{qid}' needs a text answer")
    return dict(answer.answers)


def answer(
    *, session: Session, token: str, secret: str, reply: Answer, moment: datetime
) -> SurveyResponse:
    """Store an answer and use up the invitation; the token will not work again."""
    invitation, survey = open_invitation(
        session=session, token=token, secret=secret, moment=moment, lock=True
    )
    score = _checked_score(survey, reply)
    answers = _checked_answers(survey, reply)
    response = SurveyResponse(
        survey_id=survey.id, customer_id=invitation.customer_id, ticket_id=invitation.ticket_id,
        kind=survey.kind, score=score, answers=answers, comment=reply.comment.strip(),
        answered_at=moment,
    )  # fmt: skip
    session.add(response)
    session.flush()
    invitation.used_at = moment
    invitation.response_id = response.id
    session.flush()
    return response


def is_detractor(response: SurveyResponse) -> bool:
    """An NPS answer of 0-6."""
    return response.kind is SurveyKind.nps and response.score is not None and response.score <= 6
