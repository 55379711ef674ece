"""The access-policy vocabulary: who gets which status on a route, and the request to send.

Each domain declares its routes' policies in tests/api/policies/<domain>.py as a `POLICIES`
dict; tests/api/test_authorisation.py checks every route of the app against them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.api.conftest import World

ROLES = ("anonymous", "admin", "manager", "agent", "analyst")
RECORDS = ("own", "other", "pool")
CUSTOMER_RECORD = "{customer_id}"
Expect = dict[str, int | dict[str, int]]


def everyone(ok: int) -> Expect:
    return {"anonymous": 401, "admin": ok, "manager": ok, "agent": ok, "analyst": ok}


def only(ok: int, *roles: str) -> Expect:
    return {role: ok if role in roles else 403 for role in ROLES} | {"anonymous": 401}


def records(own: int, other: int, pool: int) -> dict[str, int]:
    return {"own": own, "other": other, "pool": pool}


def customer_read(ok: int) -> Expect:
    team = records(ok, 404, ok)
    return {"anonymous": 401, "admin": ok, "manager": team, "agent": team, "analyst": ok}


def customer_write(ok: int, *, agent: bool) -> Expect:
    return {
        "anonymous": 401,
        "admin": ok,
        "manager": records(ok, 404, ok),
        "agent": records(ok, 404, 403) if agent else 403,
        "analyst": 403,
    }


@dataclass(frozen=True)
class Policy:
    """Who gets which status on a route, and the request to send."""

    expect: Expect
    body: Callable[[World, int], dict[str, Any]] | None = None
    path_params: dict[str, Callable[[World], Any]] = field(default_factory=dict)


names = itertools.count()
USER = {"user_id": lambda w: w.users["agent"].id}
