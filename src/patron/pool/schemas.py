"""What the pool endpoints take and give."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from patron.wire import LocalDateTime


class ReleaseIn(BaseModel):
    """Why the customer goes back to the pool (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=300)


class TransferIn(BaseModel):
    """The user who takes the customer over."""

    model_config = ConfigDict(extra="forbid")

    to_owner_id: int
    note: str = Field(default="", max_length=300)


class OwnershipOut(BaseModel):
    """A customer's owner after a move (null: the public pool) and whether it is locked."""

    customer_id: int
    owner_id: int | None
    owner_name: str | None
    owned_since: LocalDateTime | None
    locked: bool


class PoolCustomerOut(BaseModel):
    """A customer in the pool, and when, from whom and by whom it was last released (null for
    one never owned; `released_by_id` is null when the scoring run recycled it)."""

    id: int
    external_id: str
    name: str
    city: str | None
    grade: str | None
    stage: str | None
    created_at: LocalDateTime
    released_at: LocalDateTime | None
    released_from_id: int | None
    released_from_name: str | None
    released_by_id: int | None
    released_by_name: str | None
    release_reason: str | None
