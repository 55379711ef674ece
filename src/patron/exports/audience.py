"""Whom an export is for: which rows they may see and whether personal data is masked.

An export through the API (or `patron export --user NAME`) holds exactly the records the user
may see in the API, with phone, email, address and birthdays masked as the API masks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from patron.api.access import (
    Actor,
    customer_scope,
    sees_every_customer,
    visible_tasks,
    visible_tickets,
)
from patron.api.masking import MASKS, STARS
from patron.auth.models import Role


@dataclass(frozen=True)
class Audience:
    """Row filters (None: every row) and masking for one export."""

    customers: ColumnElement[bool] | None = None
    tasks: ColumnElement[bool] | None = None
    tickets: ColumnElement[bool] | None = None
    masked: bool = False
    plain_owner_id: int | None = None

    def hides(self, owner_id: int | None) -> bool:
        """Whether a customer's personal data is masked: always when masking, except on the
        agent's own customers (as `patron.api.access.sees_personal_data` decides)."""
        return self.masked and (self.plain_owner_id is None or owner_id != self.plain_owner_id)


EVERYTHING = Audience()


def only(condition: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    """The condition as `where(*...)` arguments: none when every row counts."""
    return [] if condition is None else [condition]


def audience_of(actor: Actor, *, unmasked: bool = False) -> Audience:
    """What `actor` may export; `unmasked` (a permission the caller checks) keeps personal data."""
    every = sees_every_customer(actor)
    return Audience(
        customers=customer_scope(actor),
        tasks=None if every else visible_tasks(actor),
        tickets=None if every else visible_tickets(actor),
        masked=not unmasked,
        plain_owner_id=actor.user_id if actor.role is Role.agent else None,
    )


def mask_row(row: list[Any], keys: Sequence[str]) -> list[Any]:
    """The row with its personal columns masked; a lunar birthday is hidden whole."""
    masked = list(row)
    for index, key in enumerate(keys):
        if key in MASKS:
            masked[index] = MASKS[key](masked[index])
        elif key == "lunar_birthday" and masked[index]:
            masked[index] = STARS
    return masked
