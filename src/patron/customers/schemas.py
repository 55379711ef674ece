"""What a customer looks like coming in (validated, normalised) and going out, and the
duplicate policy that decides what happens to a customer that looks like an existing one."""

from __future__ import annotations

import enum
import re
from datetime import date
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from patron.customers import normalise
from patron.customers.models import CustomerKind
from patron.errors import InvalidInput
from patron.wire import LocalDateTime

_SPACES = re.compile(r"\s+")

# The fields that decide whether two customers are the same one.
KEY_FIELDS = frozenset({"kind", "name", "city", "phone", "email", "company", "credit_code"})


def credit_code(raw: str) -> str:
    """A unified social credit code (统一社会信用代码) upper-cased without spaces."""
    code = _SPACES.sub("", raw).upper()
    if not code.isalnum():
        raise InvalidInput(f"'{raw}' is not a credit code (letters and digits only)")
    return code


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _as_value_error(call: Any, value: str) -> str:
    # Pydantic collects ValueErrors into one report; Patron's InvalidInput would stop at the first.
    try:
        result: str = call(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc
    return result


class _CustomerFields(BaseModel):
    """The validators shared by a new customer and a change to one."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    @field_validator(
        "phone",
        "email",
        "gender",
        "lunar_birthday",
        "province",
        "city",
        "address",
        "industry",
        "company",
        "credit_code",
        "source",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _empty_is_missing(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        folded = normalise.name(value)
        if not folded:
            raise ValueError("a customer needs a name")
        return folded

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else _as_value_error(normalise.phone, value)

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else _as_value_error(normalise.email, value)

    @field_validator("credit_code", check_fields=False)
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        return None if value is None else _as_value_error(credit_code, value)

    @field_validator("city", "province", "company", check_fields=False)
    @classmethod
    def _folded(cls, value: str | None) -> str | None:
        return None if value is None else normalise.name(value)

    @field_validator("tags", check_fields=False)
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return sorted({tag.strip() for tag in value if tag.strip()})

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        """Validate a mapping, turning every problem into one plain InvalidInput message."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(describe(exc), detail=exc.errors(include_url=False)) from exc


def describe(exc: ValidationError) -> str:
    """One readable line for all of a validation's problems."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class CustomerIn(_CustomerFields):
    """A new customer; phones become E.164, emails lower-case, credit codes upper-case."""

    external_id: str | None = Field(default=None, max_length=64)
    kind: CustomerKind = CustomerKind.person
    name: str = Field(max_length=200)
    phone: str | None = None
    email: str | None = Field(default=None, max_length=254)
    gender: str | None = Field(default=None, max_length=8)
    birthday: date | None = None
    lunar_birthday: str | None = Field(default=None, max_length=16)
    province: str | None = Field(default=None, max_length=64)
    city: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=400)
    industry: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=200)
    credit_code: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=64)
    owner_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CustomerPatch(_CustomerFields):
    """A change to a customer: only the fields given are changed."""

    kind: CustomerKind | None = None
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = None
    email: str | None = Field(default=None, max_length=254)
    gender: str | None = Field(default=None, max_length=8)
    birthday: date | None = None
    lunar_birthday: str | None = Field(default=None, max_length=16)
    province: str | None = Field(default=None, max_length=64)
    city: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=400)
    industry: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=200)
    credit_code: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=64)
    tags: list[str] | None = None
    custom_fields: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the caller set, with their validated values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class CustomerOut(BaseModel):
    """A customer as the API and the command line show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    kind: CustomerKind
    name: str
    phone: str | None
    email: str | None
    city: str | None
    company: str | None
    credit_code: str | None
    owner_id: int | None
    grade: str | None
    stage: str | None
    clv: Decimal | None
    merged_into_id: int | None
    deleted_at: LocalDateTime | None
    created_at: LocalDateTime


class MatchKey(enum.StrEnum):
    """A way two customers can be the same one."""

    credit_code = "credit_code"
    company = "company"
    phone = "phone"
    email = "email"
    name_city = "name_city"


class Action(enum.StrEnum):
    """What a decisive duplicate does at an entry point."""

    block = "block"
    warn = "warn"
    merge = "merge"


class EntryPoint(enum.StrEnum):
    """Where a customer comes in."""

    create = "create"
    update = "update"
    import_ = "import"
    api = "api"


DEFAULT_KEYS = (
    MatchKey.credit_code,
    MatchKey.company,
    MatchKey.phone,
    MatchKey.email,
    MatchKey.name_city,
)
DEFAULT_ACTIONS = {
    EntryPoint.create: Action.block,
    EntryPoint.update: Action.block,
    EntryPoint.import_: Action.merge,
    EntryPoint.api: Action.warn,
}
DEFAULT_DECISIVE = frozenset(
    {MatchKey.credit_code, MatchKey.company, MatchKey.phone, MatchKey.email}
)


class DedupePolicy(BaseModel):
    """Which keys to try in which order, how alike names must be, and what each entry point does.

    Only a decisive match (a key in `decisive_keys` matching exactly) blocks or merges; the
    others, fuzzy name matches above all, are reported as warnings, since two real people may
    share a name and a city.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[MatchKey, ...] = DEFAULT_KEYS
    threshold: float = Field(default=90.0, gt=0, le=100)
    actions: dict[EntryPoint, Action] = Field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    decisive_keys: frozenset[MatchKey] = DEFAULT_DECISIVE

    @field_validator("keys")
    @classmethod
    def _keys_once(cls, value: tuple[MatchKey, ...]) -> tuple[MatchKey, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("name each key once, and at least one")
        return value

    @field_validator("actions")
    @classmethod
    def _every_entry_point(cls, value: dict[EntryPoint, Action]) -> dict[EntryPoint, Action]:
        # Entry points left out keep their default action.
        return {**DEFAULT_ACTIONS, **value}

    @classmethod
    def parse(cls, data: dict[str, Any]) -> DedupePolicy:
        """A policy from settings or YAML, with one plain InvalidInput message on any problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(f"invalid duplicate policy: {describe(exc)}") from exc

    def action(self, entry_point: EntryPoint | str) -> Action:
        """What to do with a decisive match at this entry point."""
        try:
            return self.actions[EntryPoint(entry_point)]
        except ValueError as exc:
            points = ", ".join(point.value for point in EntryPoint)
            raise InvalidInput(f"unknown entry point '{entry_point}' (one of {points})") from exc

    def is_decisive(self, key: MatchKey, score: float) -> bool:
        """Whether a match on `key` with `score` is certain enough to block or merge on."""
        return key in self.decisive_keys and score >= 100
