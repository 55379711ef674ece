"""/api/v1/rules: the active rulebook and checking a rule expression (read-only for now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.rules import rulebook as rulebooks
from patron.rules.language import check
from patron.rules.versions import active_text

router = APIRouter(prefix="/rules", tags=["rules"], responses=responses(401, 403))
RulesReader = Annotated[Actor, requires(Permission.rules_read)]


class ActiveRulebook(BaseModel):
    """The rulebook in force: its version (null: the built-in default), text and structure."""

    version: int | None
    document: str
    rulebook: dict[str, Any]


class ExpressionIn(BaseModel):
    """A rule expression to check."""

    expression: str = Field(max_length=10_000)


class CheckedOut(BaseModel):
    """An expression that passed: its canonical form and the features it reads."""

    ok: bool
    expression: str
    features: list[str]


@router.get("", summary="The active rulebook")
def active_rulebook(session: SessionDep, actor: RulesReader) -> ActiveRulebook:
    """The active rulebook as stored (YAML) and parsed."""
    version, document = active_text(session.connection())
    parsed = rulebooks.parse(document)
    return ActiveRulebook(
        version=version, document=document, rulebook=parsed.model_dump(mode="json")
    )


@router.post("/check", summary="Check a rule expression", responses=responses(422))
def check_expression(actor: RulesReader, body: ExpressionIn) -> CheckedOut:
    """Validate an expression; 422 `invalid_rule` names the offending part."""
    checked = check(body.expression)
    return CheckedOut(ok=True, expression=checked.normalised, features=sorted(checked.features))
