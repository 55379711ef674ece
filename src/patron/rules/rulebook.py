"""The rulebook document: its sections as typed data, read from and written to YAML.

Every expression is checked against the feature catalogue when the document is loaded, and
each section may also use what earlier sections decided (grades before stages, and so on).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from patron.errors import RuleError

Labels = dict[Literal["zh_CN", "en"], str]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskAction(Strict):
    """Create a task: for the owner (or a role's users, or a named user), due in N days."""

    assignee: Literal["owner", "manager", "agent"] | str = "owner"
    due_days: int = Field(default=3, ge=0, le=365)
    title: Labels
    kind: str = "follow_up"


class Action(Strict):
    """Exactly one of the action kinds a rule can take."""

    task: TaskAction | None = None
    alert: bool | None = None
    set_tag: str | None = None
    clear_tag: str | None = None
    move_to_pool: bool | None = None
    award_points: int | None = None
    deduct_points: int | None = None
    notify: Literal["owner", "customer"] | None = None
    channel: Literal["in_app", "email", "sms", "wechat", "webhook"] = "in_app"
    message: Labels | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        kinds = [
            name
            for name in (
                "task",
                "alert",
                "set_tag",
                "clear_tag",
                "move_to_pool",
                "award_points",
                "deduct_points",
                "notify",
            )
            if getattr(self, name) not in (None, False)
        ]
        if len(kinds) != 1:
            raise ValueError(f"an action does exactly one thing; this one has {kinds or 'none'}")
        if self.notify and not self.message:
            raise ValueError("a notify action needs a message")
        return self

    @property
    def kind(self) -> str:
        return next(
            name
            for name in (
                "task",
                "alert",
                "set_tag",
                "clear_tag",
                "move_to_pool",
                "award_points",
                "deduct_points",
                "notify",
            )
            if getattr(self, name) not in (None, False)
        )


class Quantile(Strict):
    """`top` share of customers (with a value) ranked by `score`, highest first."""

    score: Identifier
    top: float = Field(gt=0, le=1)


class Grade(Strict):
    id: Identifier
    label: Labels
    when: str | None = None
    quantile: Quantile | None = None


class Stage(Strict):
    id: Identifier
    label: Labels
    when: str


class Segment(Strict):
    """A named expression whose customers carry `tag`; the tag is cleared when it stops holding."""

    id: Identifier
    label: Labels
    tag: str
    when: str


class Recycle(Strict):
    """Owned customers of these grades go back to the pool after so many quiet days."""

    grades: list[str] = Field(default_factory=list)
    no_follow_up_days: int = Field(ge=1)
    no_purchase_days: int = Field(ge=1)


class Pool(Strict):
    recycle: list[Recycle] = Field(default_factory=list)
    warn_days_before: int = Field(default=7, ge=0)
    exempt_grades: list[str] = Field(default_factory=list)
    exempt_locked: bool = True
    max_customers_per_owner: int | None = Field(default=None, ge=1)
    count_won_customers: bool = False
    max_claims_per_day: int | None = Field(default=None, ge=1)
    former_owner_wait_days: int = Field(default=0, ge=0)


class WarningRule(Strict):
    id: Identifier
    label: Labels
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    when: str
    cooldown_days: int = Field(default=30, ge=0)
    actions: list[Action] = Field(default_factory=list)


class Care(Strict):
    """A greeting or call ahead of a birthday, an anniversary or a festival."""

    id: Identifier
    label: Labels
    occasion: Literal["birthday", "anniversary", "festival"]
    festivals: list[str] = Field(default_factory=list)
    days_ahead: int = Field(default=3, ge=0, le=60)
    when: str | None = None
    actions: list[Action] = Field(default_factory=list)


class Tier(Strict):
    id: Identifier
    label: Labels
    min_spend_12m: float = Field(default=0, ge=0)
    min_points: int | None = Field(default=None, ge=0)
    benefits: Labels | None = None


class Loyalty(Strict):
    points_per_unit: float = Field(default=1.0, ge=0)
    grade_multipliers: dict[str, float] = Field(default_factory=dict)
    bonus: list[dict[str, Any]] = Field(default_factory=list)
    tier_basis: Literal["spend_12m", "points"] = "spend_12m"
    tiers: list[Tier] = Field(default_factory=list)
    downgrade: Literal["period_end", "immediate"] = "period_end"
    points_expire_months: int | None = Field(default=24, ge=1)
    # The period-end tier review closes periods of this many months, aligned to the year.
    review_every_months: Literal[1, 2, 3, 4, 6, 12] = 12


class FollowUp(Strict):
    """A recurring follow-up (回访) for every owned customer of a grade, every N months."""

    grade: str
    every_months: int = Field(ge=1, le=12)
    due_days: int = Field(default=7, ge=0, le=90)
    title: Labels


DEFAULT_FOLLOW_UPS = (
    FollowUp(grade="A", every_months=1, title={"zh_CN": "月度回访", "en": "Monthly follow-up"}),
    FollowUp(grade="B", every_months=3, title={"zh_CN": "季度回访", "en": "Quarterly follow-up"}),
)


class SlaTarget(Strict):
    priority: Literal["low", "normal", "high", "urgent"]
    response_hours: float = Field(gt=0)
    resolution_hours: float = Field(gt=0)


class Service(Strict):
    targets: list[SlaTarget] = Field(default_factory=list)
    grade_factors: dict[str, float] = Field(default_factory=dict)
    business_hours: tuple[int, int] = (9, 18)
    business_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    escalate_to: Literal["manager", "admin"] = "manager"


class Rulebook(Strict):
    """The whole document. Section order is evaluation order."""

    name: str = "Patron rulebook"
    grades: list[Grade]
    stages: list[Stage]
    segments: list[Segment] = Field(default_factory=list)
    pool: Pool = Field(default_factory=Pool)
    warnings: list[WarningRule] = Field(default_factory=list)
    care: list[Care] = Field(default_factory=list)
    follow_ups: list[FollowUp] = Field(default_factory=lambda: list(DEFAULT_FOLLOW_UPS))
    loyalty: Loyalty = Field(default_factory=Loyalty)
    service: Service = Field(default_factory=Service)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rulebook:
        for section in ("grades", "stages", "segments", "warnings", "care"):
            ids = [item.id for item in getattr(self, section)]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{section}: the id {', '.join(repeated)} is used twice")
        if not self.grades or not self.stages:
            raise ValueError("a rulebook needs at least one grade and one stage")
        return self


def _where(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "the document"


@lru_cache(maxsize=32)
def parse(text: str) -> Rulebook:
    """Read a rulebook from YAML, refusing any structural error with its location."""
    try:
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        raise RuleError(f"the rulebook is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleError(
            "the rulebook must be a YAML mapping with sections such as grades and stages"
        )
    try:
        return Rulebook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise RuleError(f"rulebook {_where(first['loc'])}: {message}") from exc


def dump(rulebook: Rulebook) -> str:
    """The rulebook as YAML, keys in document order, Chinese kept readable."""
    data = rulebook.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def default_text() -> str:
    """The built-in default rulebook, as shipped."""
    return resources.files("patron.rules").joinpath("default.yaml").read_text(encoding="utf-8")


def default() -> Rulebook:
    """The built-in default rulebook, parsed."""
    return parse(default_text())
