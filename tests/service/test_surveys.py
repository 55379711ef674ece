"""Surveys on both databases: signed single-use tokens, expiry, answers by kind."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.errors import InvalidInput
from patron.service import surveys
from patron.service.models import SurveyInvitation, SurveyKind, SurveyResponse
from patron.service.surveys import Answer, SurveyTokenGone, SurveyTokenInvalid
from tests import builders

SECRET = "a-test-secret-that-is-long-enough-for-signing"
NOW = datetime(2026, 11, 23, 10, 0)


def _invited(session: Session, kind: SurveyKind = SurveyKind.nps, **fields: object) -> str:
    customer = builders.customer(session)
    survey = surveys.standard_survey(session=session, kind=kind)
    invitation = surveys.invite(
        session=session, survey=survey, customer_id=customer.id, moment=NOW, **fields
    )  # type: ignore[arg-type]
    return surveys.token_for(invitation, secret=SECRET)


def test_a_token_works_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        token = _invited(session)
        _, survey = surveys.open_invitation(session=session, token=token, secret=SECRET, moment=NOW)
        assert survey.questions[0]["max"] == 10
        stored = surveys.answer(
            session=session,
            token=token,
            secret=SECRET,
            moment=NOW,
            reply=Answer(score=3, answers={}, comment=" slow "),
        )
        assert stored.score == 3 and stored.comment == "slow" and surveys.is_detractor(stored)
    with sessions.begin() as session:
        with pytest.raises(SurveyTokenGone, match="already been answered") as gone:
            surveys.answer(
                session=session,
                token=token,
                secret=SECRET,
                moment=NOW,
                reply=Answer(score=9, answers={}),
            )
        assert gone.value.status == 410 and gone.value.code == "survey_used"
        assert len(session.scalars(select(SurveyResponse)).all()) == 1
        used = session.scalars(select(SurveyInvitation)).one()
        assert used.used_at == NOW and used.response_id == stored.id


def test_an_expired_token_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        token = _invited(session, valid_days=2)
        surveys.open_invitation(
            session=session, token=token, secret=SECRET, moment=NOW + timedelta(days=1)
        )
        with pytest.raises(SurveyTokenGone, match="expired") as gone:
            surveys.open_invitation(
                session=session, token=token, secret=SECRET, moment=NOW + timedelta(days=2)
            )
        assert gone.value.code == "survey_expired"


def test_forged_or_foreign_tokens_are_invalid(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        token = _invited(session)
        for bad, secret in ((token[:-2] + "xx", SECRET), (token, "another-secret"), ("x", SECRET)):
            with pytest.raises(SurveyTokenInvalid, match="not valid") as refused:
                surveys.open_invitation(session=session, token=bad, secret=secret, moment=NOW)
            assert refused.value.status == 400


def test_scores_are_checked_by_kind(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        csat = _invited(session, SurveyKind.csat)
        for score in (0, 6, None):
            with pytest.raises(InvalidInput, match="CSAT answer needs a whole score 1-5"):
                surveys.answer(
                    session=session,
                    token=csat,
                    secret=SECRET,
                    moment=NOW,
                    reply=Answer(score=score, answers={}),
                )
        stored = surveys.answer(
            session=session,
            token=csat,
            secret=SECRET,
            moment=NOW,
            reply=Answer(score=5, answers={}),
        )
        assert stored.kind is SurveyKind.csat and not surveys.is_detractor(stored)


def test_custom_questionnaires(sessions: sessionmaker[Session]) -> None:
    questions = [
        {"id": "speed", "type": "scale", "min": 1, "max": 3, "text": "快吗", "required": True},
        {"id": "channel", "type": "choice", "options": ["phone", "web"], "text": "渠道"},
        {"id": "note", "type": "text", "text": "建议"},
    ]
    with sessions() as session:
        customer = builders.customer(session)
        survey = surveys.create_survey(
            session=session, kind=SurveyKind.custom, name="体验", questions=questions
        )
        invitation = surveys.invite(
            session=session, survey=survey, customer_id=customer.id, moment=NOW
        )
        token = surveys.token_for(invitation, secret=SECRET)
        for answers, problem in (
            ({}, "'speed' needs an answer"),
            ({"speed": 4}, "whole number 1-3"),
            ({"speed": 2, "channel": "fax"}, "one of"),
            ({"speed": 2, "colour": "red"}, "no question colour"),
        ):
            with pytest.raises(InvalidInput, match=problem):
                surveys.answer(
                    session=session,
                    token=token,
                    secret=SECRET,
                    moment=NOW,
                    reply=Answer(score=None, answers=answers),
                )
        stored = surveys.answer(
            session=session,
            token=token,
            secret=SECRET,
            moment=NOW,
            reply=Answer(score=None, answers={"speed": 3, "note": "好"}),
        )
        assert stored.answers == {"speed": 3, "note": "好"} and stored.score is None
        with pytest.raises(InvalidInput, match="at least one question"):
            surveys.create_survey(session=session, kind=SurveyKind.custom, name="x", questions=[])
        with pytest.raises(InvalidInput, match="type must be one of"):
            surveys.create_survey(
                session=session,
                kind=SurveyKind.custom,
                name="x",
                questions=[{"id": "a", "type": "essay"}],
            )
