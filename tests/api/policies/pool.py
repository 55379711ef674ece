"""Access policies of the public pool routes.

`own` is the east agent's customer, `other` the west agent's, `pool` nobody's; a permitted
move that does not fit the record's state is refused with 409."""

from __future__ import annotations

from tests.api.policy import Policy, everyone, records

_CLAIM = {
    "anonymous": 401,
    "admin": records(409, 409, 200),
    "manager": records(409, 404, 200),
    "agent": records(409, 404, 200),
    "analyst": 403,
}
_RELEASE = {
    "anonymous": 401,
    "admin": records(200, 200, 409),
    "manager": records(200, 404, 409),
    "agent": records(200, 404, 403),
    "analyst": 403,
}
_OWNED_ONLY = {
    "anonymous": 401,
    "admin": records(200, 200, 409),
    "manager": records(200, 404, 409),
    "agent": 403,
    "analyst": 403,
}
_UNLOCK = {
    "anonymous": 401,
    "admin": 200,
    "manager": records(200, 404, 200),
    "agent": 403,
    "analyst": 403,
}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/pool"): Policy(everyone(200)),
    ("POST", "/api/v1/pool/{customer_id}/claim"): Policy(_CLAIM),
    ("POST", "/api/v1/pool/{customer_id}/release"): Policy(_RELEASE),
    ("POST", "/api/v1/pool/{customer_id}/transfer"): Policy(
        _OWNED_ONLY, body=lambda w, n: {"to_owner_id": w.users["manager"].id}
    ),
    ("POST", "/api/v1/pool/{customer_id}/lock"): Policy(_OWNED_ONLY),
    ("POST", "/api/v1/pool/{customer_id}/unlock"): Policy(_UNLOCK),
}
