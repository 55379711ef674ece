"""/api/v1/rules: the active rulebook, checking a rulebook or one expression, a dry run and a
backtest of a proposed rulebook, and applying a new version (admins; audited).

Reading and trying rules needs `rules.read` (admins, managers, analysts); applying needs
`rules.write` (admins). Dry runs and backtests change nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from patron.analytics.pipeline import ModelChoice
from patron.api.access import Actor, Permission
from patron.api.deps import SessionDep, requires
from patron.api.errors import TooLarge, responses
from patron.audit.service import record
from patron.errors import InvalidInput, RuleError
from patron.rules import rulebook as rulebooks
from patron.rules import versions
from patron.rules.backtest import backtest
from patron.rules.dryrun import dry_run
from patron.rules.engine import check_rulebook
from patron.rules.language import check
from patron.rules.rulebook import Rulebook
from patron.wire import LocalDateTime

router = APIRouter(prefix="/rules", tags=["rules"], responses=responses(401, 403, 422))
RulesReader = Annotated[Actor, requires(Permission.rules_read)]
RulesWriter = Annotated[Actor, requires(Permission.rules_write)]
MAX_DOCUMENT = 1_000_000
SECTIONS = ("grades", "stages", "segments", "warnings", "care")
Document = Annotated[str, Field(min_length=1, max_length=MAX_DOCUMENT)]


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


class RulebookChecked(BaseModel):
    """Whether a rulebook passed; otherwise the problem found, naming where it is."""

    ok: bool
    errors: list[str]
    counts: dict[str, int]


class DryRunIn(BaseModel):
    """A proposed rulebook to compare with the active one on today's (or `as_of`'s) data."""

    document: Document
    as_of: date | LocalDateTime | None = None
    horizon_days: int = Field(default=90, ge=1, le=3650)
    model: ModelChoice = "auto"


class BacktestIn(BaseModel):
    """A rulebook (default: the active one) evaluated as of a date, measured until another."""

    document: Document | None = None
    as_of: date | LocalDateTime
    until: date | LocalDateTime
    model: ModelChoice = "auto"


class ApplyIn(BaseModel):
    """A rulebook to make the active version, and why."""

    document: Document
    note: str = Field(default="", max_length=500)


class Applied(BaseModel):
    """The version number the applied rulebook got."""

    version: int


async def yaml_document(request: Request) -> str:
    """The request body as rulebook text: raw YAML, or JSON `{"document": "..."}`."""
    body = await request.body()
    if len(body) > MAX_DOCUMENT:
        raise TooLarge(f"a rulebook may be at most {MAX_DOCUMENT:,} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the rulebook must be UTF-8 text") from exc
    if request.headers.get("content-type", "").startswith("application/json"):
        text = _json_document(text)
    if not text.strip():
        raise InvalidInput("send the rulebook YAML as the request body")
    return text


def _json_document(text: str) -> str:
    try:
        return ApplyIn.model_validate_json(text).document
    except ValueError as exc:
        raise InvalidInput('a JSON body must be {"document": "<rulebook YAML>"}') from exc


def checked_rulebook(text: str) -> Rulebook:
    """The rulebook parsed, with its structure and every expression checked."""
    rulebook = rulebooks.parse(text)
    check_rulebook(rulebook)
    return rulebook


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("", summary="The active rulebook")
def active_rulebook(session: SessionDep, actor: RulesReader) -> ActiveRulebook:
    """The active rulebook as stored (YAML) and parsed."""
    version, document = versions.active_text(session.connection())
    parsed = rulebooks.parse(document)
    return ActiveRulebook(
        version=version, document=document, rulebook=parsed.model_dump(mode="json")
    )


@router.post(
    "/check",
    summary="Check a rulebook",
    responses=responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": 'The rulebook YAML, or JSON `{"document": "<YAML>"}`.',
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": ApplyIn.model_json_schema()},
            },
        }
    },
)
def check_rulebook_document(
    actor: RulesReader, document: Annotated[str, Depends(yaml_document)]
) -> RulebookChecked:
    """Validate structure, ids and every expression; `errors` names the problem found."""
    try:
        rulebook = checked_rulebook(document)
    except RuleError as exc:
        return RulebookChecked(ok=False, errors=[exc.message], counts={})
    counts = {section: len(getattr(rulebook, section)) for section in SECTIONS}
    return RulebookChecked(ok=True, errors=[], counts=counts)


@router.post("/check-expr", summary="Check a rule expression")
def check_expression(actor: RulesReader, body: ExpressionIn) -> CheckedOut:
    """Validate an expression; 422 `invalid_rule` names the offending part."""
    checked = check(body.expression)
    return CheckedOut(ok=True, expression=checked.normalised, features=sorted(checked.features))


@router.post("/dry-run", summary="What a proposed rulebook would change")
def dry_run_rulebook(
    actor: RulesReader, body: DryRunIn, engine: Annotated[Engine, Depends(_engine)]
) -> dict[str, Any]:
    """Grades and stages from -> to, warnings fired and actions that would be taken against
    the active rulebook, as `patron rules dry-run --json` prints; changes nothing."""
    return dry_run(
        engine=engine,
        proposed=checked_rulebook(body.document),
        as_of=body.as_of,
        horizon_days=body.horizon_days,
        model=body.model,
    )


@router.post("/backtest", summary="Backtest a rulebook against what happened")
def backtest_rulebook(
    session: SessionDep,
    actor: RulesReader,
    body: BacktestIn,
    engine: Annotated[Engine, Depends(_engine)],
) -> dict[str, Any]:
    """`{"as_of", "until", "customers", "base_rate", "warnings", "grades"}` exactly as
    `patron rules backtest --json`; a warning's positives bought nothing in (as_of, until]."""
    if body.document is None:
        rulebook = versions.active(session.connection())[1]
    else:
        rulebook = checked_rulebook(body.document)
    return backtest(
        engine=engine, rulebook=rulebook, as_of=body.as_of, until=body.until, model=body.model
    )


@router.post("/apply", status_code=201, summary="Make a rulebook the active version")
def apply_rulebook(session: SessionDep, actor: RulesWriter, body: ApplyIn) -> Applied:
    """Check the rulebook and activate it as a new version (earlier ones are kept); audited."""
    checked_rulebook(body.document)
    version = versions.apply(
        session.connection(), body.document, note=body.note, user_id=actor.user_id
    )
    record(
        session=session,
        action="rules.apply",
        entity="rulebook",
        entity_id=version,
        user_id=actor.user_id,
        note=body.note,
    )
    return Applied(version=version)
